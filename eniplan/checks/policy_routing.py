"""ENI001 and ENI002: a multi-ENI instance that needs per-ENI policy routing and has none.

Decided from the planner (status MANAGED: the OS must route two or more ENIs and no agent
known from the AMI does it) and from who else handles the instance (eniplan's own user
data, an agent the user data installs). An unknown or deregistered AMI, or user data that
was not collected, is said so in the message and never taken as safe.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from eniplan.checks.base import InstanceContext
from eniplan.findings import Finding
from eniplan.model import Eni
from eniplan.plan import MANAGED

RULE_IDS = ("ENI001", "ENI002")


def check(context: InstanceContext) -> Iterator[Finding]:
    if context.triage.status != MANAGED or context.handled_by:
        return
    enis = context.managed_enis()
    by_subnet: dict[str, list[Eni]] = defaultdict(list)
    for eni in enis:
        by_subnet[eni.subnet_id].append(eni)
    why = _why_unhandled(context)
    details = {
        "os": context.triage.os.family,
        "os_evidence": context.triage.os.evidence,
        "user_data": context.user_data.describe(),
        "commands": [list(context.render_command("auto"))],
    }
    remediation = _remediation(context)
    for subnet_id, members in by_subnet.items():
        if len(members) < 2:
            continue
        cidr = context.inventory.subnets[subnet_id].cidr
        yield context.finding(
            "ENI001",
            f"{context.label}: {len(members)} ENIs in subnet {subnet_id} "
            f"({cidr or 'IPv6-only'}) without policy routing: {why}",
            remediation,
            eni_ids=tuple(eni.eni_id for eni in members),
            details={**details, "subnet_id": subnet_id},
        )
    if len(by_subnet) >= 2:
        yield context.finding(
            "ENI002",
            f"{context.label}: ENIs in {len(by_subnet)} subnets "
            f"({', '.join(by_subnet)}) without policy routing: {why}",
            remediation,
            eni_ids=tuple(eni.eni_id for eni in enis),
            details={**details, "subnet_ids": list(by_subnet)},
        )


def _why_unhandled(context: InstanceContext) -> str:
    os_guess = context.triage.os
    if os_guess.known:
        version = f", version {os_guess.version}" if os_guess.version else ""
        os_text = f"no agent installs it on this OS ({os_guess.family}{version})"
    else:
        os_text = f"OS unknown ({os_guess.evidence})"
    return f"{os_text}; {context.user_data.describe()}"


def _remediation(context: InstanceContext) -> str:
    return (
        f"`{context.fix_command()}`, then launch with "
        f"out/{context.instance.instance_id}/user-data; to apply it now on the running "
        f"instance, {context.apply_now_hint()}."
    )
