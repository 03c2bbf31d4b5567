"""The audit's checks: one module per rule family, registered here (checkov's shape).

Each module exposes RULE_IDS (the catalogue IDs it may report, eniplan/findings.py) and
`check(context) -> Iterable[Finding]`. A new rule family is a new module added to
REGISTRY; a rule ID keeps its meaning forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from eniplan.checks import drift, policy_routing, source_dest
from eniplan.checks.base import Check, InstanceContext


@dataclass(frozen=True)
class RegisteredCheck:
    name: str
    rule_ids: tuple[str, ...]
    run: Check


REGISTRY: tuple[RegisteredCheck, ...] = tuple(
    RegisteredCheck(module.__name__.rsplit(".", 1)[-1], module.RULE_IDS, module.check)
    for module in (policy_routing, source_dest, drift)
)

RULE_IDS: tuple[str, ...] = tuple(rule for check in REGISTRY for rule in check.rule_ids)

__all__ = ["REGISTRY", "RULE_IDS", "InstanceContext", "RegisteredCheck"]
