"""`eniplan audit` as one request: read the inventory, audit it, apply the baseline, point
SARIF at the snapshot lines; the command line only prints the result (cli.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from eniplan import values
from eniplan.audit import AuditOptions, SourceArgs, audit
from eniplan.baseline import BaselineFiles, with_baseline
from eniplan.findings import with_locations
from eniplan.inventory import DEFAULT_SCENARIO, InventoryRequest
from eniplan.model import Inventory
from eniplan.plan import PlanOptions
from eniplan.report import Checked, Outputs


@dataclass(frozen=True)
class AuditRequest:
    inventory: InventoryRequest
    plan: PlanOptions
    outputs: Outputs
    baseline: BaselineFiles


def source_args(request: InventoryRequest) -> SourceArgs:
    """How the `eniplan render` commands in findings name the audited inventory."""
    if request.sandbox is not None:
        sandbox = ["--sandbox"] if request.sandbox == DEFAULT_SCENARIO else []
        return SourceArgs(tuple(sandbox or ["--sandbox", request.sandbox]))
    if request.inventory_paths:
        return SourceArgs(
            tuple(arg for path in request.inventory_paths for arg in ("--inventory", path))
        )
    common: list[str] = []
    if request.aws.profile:
        common += ["--profile", request.aws.profile]
    if request.aws.endpoint_url:
        common += ["--endpoint-url", request.aws.endpoint_url]
    roles = {values.account_of_role_arn(arn): arn for arn in request.aws.role_arns}
    return SourceArgs(tuple(common), aws=True, role_by_account=roles, org_role=request.aws.org_role)


def run(
    request: AuditRequest,
    load: Callable[[InventoryRequest], Inventory],
    today: dt.date | None = None,
) -> Checked:
    """The audit of the inventory `load` reads, with the baseline applied (and written)."""
    options = AuditOptions(
        plan=request.plan, source=source_args(request.inventory), fail_on=request.outputs.fail_on
    )
    report = audit(load(request.inventory), options)
    report, written = with_baseline(report, request.baseline, today or dt.date.today())
    paths = request.inventory.inventory_paths
    if paths and any(name == "sarif" for name, _ in request.outputs.pairs):
        from eniplan.sources.files import instance_locations

        local = [path for path in paths if not path.startswith("s3://")]
        report = with_locations(report, instance_locations(local))
    return Checked(report, report.warnings, written)
