"""ENI003: the source/destination check is disabled on an ENI that no VPC route targets.

A NAT instance, router or firewall has routes pointing at its ENI (or at the instance):
for it a disabled check is the point. Anywhere else it is most likely the wrong "fix" for
asymmetric routing. When none of the VPC's route tables was collected, the finding says
that it could not tell.
"""

from __future__ import annotations

from collections.abc import Iterator

from eniplan.checks.base import Target
from eniplan.findings import Finding

RULE_IDS = ("ENI003",)


def check(target: Target) -> Iterator[Finding]:
    with_routing = bool(target.managed_ports) and not target.handled_by
    for port in target.ports:
        if not port.source_dest_check_off or port.owner or port.routed:
            continue
        address = f" ({port.address})" if port.address else ""
        where = (
            f"and no route table{target.route_scope} targets it or the instance"
            if port.route_tables_known
            else f"and the route tables of {port.vpc_id} were not collected (cannot tell if "
            "it is a NAT, router or firewall)"
        )
        remediation, commands = target.check_fix(port, with_routing)
        yield target.finding(
            "ENI003",
            f"{target.label}: source/dest check disabled on {port.eni_id}{address} {where}",
            remediation,
            eni_ids=(port.eni_id,),
            details={"route_tables_collected": port.route_tables_known, "commands": commands},
            port=port,
        )
