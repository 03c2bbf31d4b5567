"""ENI005: the policy routing of a planned multi-ENI instance cannot be verified.

Its user data can be read only after apply (a reference, a template, a file whose text
the plan does not hold), so nothing shows that it installs per-ENI policy routing. Only a
plan has such user data: the audit reads the user data of running instances, and says
when it could not collect it (ENI001/ENI002, never taken as safe).
"""

from __future__ import annotations

from collections.abc import Iterator

from eniplan.checks.base import Target
from eniplan.checks.policy_routing import compare_subnets
from eniplan.findings import Finding

RULE_IDS = ("ENI005",)


def check(target: Target) -> Iterator[Finding]:
    ports = target.managed_ports
    if not ports or target.handled_by or not target.user_data_pending:
        return
    yield target.finding(
        "ENI005",
        f"{target.label}: {len(ports)} ENIs and policy routing cannot be verified: "
        f"{target.user_data_pending}",
        target.pending_fix(),
        eni_ids=tuple(port.eni_id for port in ports),
        details={
            "os": target.os.family,
            "os_evidence": target.os.evidence,
            "user_data": target.user_data_pending,
            "subnets": compare_subnets(ports),
        },
    )
