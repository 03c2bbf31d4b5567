"""`eniplan check-plan` as one request: the user data digests, the inventory that adds
context, the plans, the baseline; the command line only prints the result (cli.py)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from eniplan.baseline import BaselineFiles, with_baseline
from eniplan.checkplan import check_plans, digests_of_files
from eniplan.checkplan.tfplan import read_plan, read_user_data_files
from eniplan.model import Inventory
from eniplan.report import Checked, Outputs


@dataclass(frozen=True)
class CheckPlanRequest:
    plan_files: tuple[str, ...]
    outputs: Outputs
    user_data_paths: tuple[str, ...] = ()
    inventory_paths: tuple[str, ...] = ()
    baseline: BaselineFiles = field(default_factory=BaselineFiles)


def run(
    request: CheckPlanRequest,
    load: Callable[[tuple[str, ...]], Inventory],
    today: dt.date | None = None,
) -> Checked:
    """The findings of every plan; `load` reads the --inventory files (when given)."""
    digests = digests_of_files(read_user_data_files(request.user_data_paths))
    inventory = load(request.inventory_paths) if request.inventory_paths else None
    plans = (read_plan(path) for path in _once(request.plan_files))
    result = check_plans(plans, request.outputs.fail_on, digests, inventory)
    report, written = with_baseline(result.report, request.baseline, today or dt.date.today())
    warnings = (*result.warnings, *report.warnings[len(result.report.warnings) :])
    return Checked(report, warnings, written)


def _once(paths: tuple[str, ...]) -> list[str]:
    """Each plan file once, as --inventory reads each file once: one given twice (`plan.json
    ./plan.json`, or `- -`) would report every finding twice."""
    seen: set[str] = set()
    unique = []
    for path in paths:
        key = path if path == "-" else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique
