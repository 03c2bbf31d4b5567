"""ENI003: the source/destination check is disabled on an ENI that no VPC route targets.

A NAT instance, router or firewall has routes pointing at its ENI (or at the instance):
for it a disabled check is the point. Anywhere else it is most likely the wrong "fix" for
asymmetric routing. When none of the VPC's route tables was collected, the finding says
that it could not tell.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from eniplan import agents
from eniplan.checks.base import InstanceContext
from eniplan.findings import Finding
from eniplan.model import route_targets
from eniplan.plan import MANAGED

RULE_IDS = ("ENI003",)


def check(context: InstanceContext) -> Iterator[Finding]:
    instance = context.instance
    for eni in instance.enis:
        disabled = not eni.source_dest_check or (eni.is_primary and not instance.source_dest_check)
        if not disabled or agents.eni_owner(eni):
            continue
        if route_targets(context.routed_targets, instance.instance_id, eni.eni_id):
            continue  # it forwards traffic on purpose
        address = eni.primary_ipv4 or (eni.ipv6_addresses[0] if eni.ipv6_addresses else "")
        known = eni.vpc_id in context.vpcs_with_routes
        where = (
            "and no route table targets it or the instance"
            if known
            else f"and the route tables of {eni.vpc_id} were not collected (cannot tell if "
            "it is a NAT, router or firewall)"
        )
        enable_argv = [
            "aws",
            "ec2",
            "modify-network-interface-attribute",
            "--region",
            instance.region,
            "--network-interface-id",
            eni.eni_id,
            "--source-dest-check",
        ]
        enable = shlex.join(enable_argv)
        commands = [enable_argv]
        if context.triage.status == MANAGED and not context.handled_by:
            commands.insert(0, list(context.render_command("auto")))
            remediation = (
                f"Install per-ENI policy routing (`{context.fix_command()}`), then turn the "
                f"check back on: `{enable}`."
            )
        else:
            remediation = f"Turn the check back on: `{enable}` (or route to it, if it forwards)."
        yield context.finding(
            "ENI003",
            f"{context.label}: source/dest check disabled on {eni.eni_id} ({address}) {where}",
            remediation,
            eni_ids=(eni.eni_id,),
            details={"route_tables_collected": known, "commands": commands},
        )
