"""ENI001 and ENI002: a multi-ENI instance that needs per-ENI policy routing and has none.

Decided from the ENIs its OS must route (two or more, and no agent known from the AMI
routes them: the planner's triage in audit, the plan's ENIs and AMI in check-plan) and
from who else handles it (eniplan's own user data, an agent the user data installs,
persistent network configuration it writes). An unknown AMI, or user data that was not
collected, is said so in the message and never taken as safe. User data that can be read
only after apply is ENI005 (checks/unverified.py), not a finding here.

ENIs are grouped by subnet: ENI001 for each subnet holding two or more of them, ENI002
when they are in two or more subnets. Where a plan cannot tell the subnets apart before
apply and none surely holds two, ENI002 says so: either way they need policy routing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from eniplan.checks.base import Port, Target, why_unrouted
from eniplan.findings import Finding

RULE_IDS = ("ENI001", "ENI002")
SAME, DIFFERENT, UNDETERMINED = "same", "different", "undetermined"


def compare_subnets(ports: Sequence[Port]) -> str:
    """SAME if two ENIs surely share a subnet, DIFFERENT if all surely differ, else
    UNDETERMINED."""
    keys = [port.subnet.key for port in ports if port.subnet.key is not None]
    if len(set(keys)) < len(keys):
        return SAME
    return DIFFERENT if all(port.subnet.certain for port in ports) else UNDETERMINED


def check(target: Target) -> Iterator[Finding]:
    ports = target.managed_ports
    if not ports or target.handled_by or target.user_data_pending:
        return
    by_subnet: dict[str, list[Port]] = {}
    for port in ports:
        if port.subnet.key is not None:
            by_subnet.setdefault(port.subnet.key, []).append(port)
    relation = compare_subnets(ports)
    why = why_unrouted(target)
    details = {
        "os": target.os.family,
        "os_evidence": target.os.evidence,
        "user_data": target.user_data_text,
        "subnets": relation,
    }
    for members in by_subnet.values():
        if len(members) < 2:
            continue
        subnet = members[0].subnet
        remediation, commands = target.routing_fix("ENI001")
        yield target.finding(
            "ENI001",
            f"{target.label}: {len(members)} ENIs in subnet {subnet.text} without policy "
            f"routing: {why}",
            remediation,
            eni_ids=tuple(port.eni_id for port in members),
            details={**details, "commands": commands, "subnet_id": subnet.name},
        )
    names = list(dict.fromkeys(port.subnet.name for port in ports))
    if all(port.subnet.certain for port in ports) and len(by_subnet) >= 2:
        where = f"ENIs in {len(by_subnet)} subnets ({', '.join(names)})"
    elif relation == UNDETERMINED:
        where = f"{len(ports)} ENIs in subnets not known before apply ({', '.join(names)})"
    else:
        return
    remediation, commands = target.routing_fix("ENI002")
    yield target.finding(
        "ENI002",
        f"{target.label}: {where} without policy routing: {why}",
        remediation,
        eni_ids=tuple(port.eni_id for port in ports),
        details={**details, "commands": commands, "subnet_ids": names},
    )
