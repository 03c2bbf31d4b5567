"""The checks: one module per rule family, registered here (checkov's shape).

Each module exposes RULE_IDS (the catalogue IDs it may report, eniplan/findings.py) and
`check(target) -> Iterable[Finding]`, where the target is what the rule applies to
(checks/base.py: an inventory instance in `audit`, a planned one in `check-plan`). One
rule body decides both; a family that only one command can meet says so in `applies_to`.
A new rule family is a new module added to REGISTRY; a rule ID keeps its meaning forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from eniplan.checks import drift, policy_routing, source_dest, unverified
from eniplan.checks.base import (
    Check,
    Drift,
    InstanceContext,
    InventoryView,
    Port,
    SubnetRef,
    Target,
)

INSTANCE, PLANNED = "instance", "planned"  # what a check applies to


@dataclass(frozen=True)
class RegisteredCheck:
    name: str
    rule_ids: tuple[str, ...]
    run: Check
    applies_to: frozenset[str] = frozenset((INSTANCE, PLANNED))


REGISTRY: tuple[RegisteredCheck, ...] = (
    *(
        RegisteredCheck(module.__name__.rsplit(".", 1)[-1], module.RULE_IDS, module.check)
        for module in (policy_routing, source_dest, drift)
    ),
    # user data that can be read only after apply exists only in a plan
    RegisteredCheck("unverified", unverified.RULE_IDS, unverified.check, frozenset((PLANNED,))),
)


def checks_for(kind: str) -> tuple[RegisteredCheck, ...]:
    """The checks that apply to an INSTANCE of an inventory or a PLANNED one."""
    return tuple(check for check in REGISTRY if kind in check.applies_to)


AUDIT_CHECKS = checks_for(INSTANCE)
PLAN_CHECKS = checks_for(PLANNED)
# the rule IDs audit may report
RULE_IDS: tuple[str, ...] = tuple(rule for check in AUDIT_CHECKS for rule in check.rule_ids)

__all__ = [
    "AUDIT_CHECKS",
    "INSTANCE",
    "PLANNED",
    "PLAN_CHECKS",
    "REGISTRY",
    "RULE_IDS",
    "Drift",
    "InstanceContext",
    "InventoryView",
    "Port",
    "RegisteredCheck",
    "SubnetRef",
    "Target",
    "checks_for",
]
