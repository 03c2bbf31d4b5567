"""A routing plan as a person reads it: the `ip` commands it amounts to, per ENI."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from eniplan.plan import MANAGED, EniPlan, InstancePlan, Route, name_hint, network_text
from eniplan.terminal import visible


def route_command(route: Route, device: str) -> str:
    if route.via_ra:
        return (
            f"ip -6 route replace default via <router from RA on {device}> dev {device} "
            f"table {route.table}"
        )
    family = "-6 " if route.family == 6 else ""
    destination = "default" if route.is_default else str(route.destination)
    via = f" via {route.gateway}" if route.gateway else ""
    source = f" src {route.source}" if route.source else ""
    return f"ip {family}route replace {destination}{via} dev {device}{source} table {route.table}"


def eni_commands(eni: EniPlan) -> list[str]:
    device = name_hint(eni)
    lines = [f"ip addr replace {address} dev {device}" for address in eni.ipv4_addresses]
    lines += [f"ip -6 addr replace {address} dev {device}" for address in eni.ipv6_addresses]
    lines += [route_command(route, device) for route in eni.routes]
    lines += [
        f"ip {'-6 ' if rule.family == 6 else ''}rule add from {network_text(rule.source)} "
        f"lookup {rule.table} priority {rule.priority}"
        for rule in eni.rules
    ]
    return lines


def print_plans(console: Console, plans: list[InstancePlan]) -> None:
    for plan in plans:
        heading = Text()
        heading.append(visible(plan.name or plan.instance_id), style="bold")
        if plan.name:
            heading.append(f" {plan.instance_id}")
        style = "green" if plan.status == MANAGED else "dim"
        heading.append(f"  {plan.status}: {visible(plan.reason)}", style=style)
        console.print(heading)
        console.print(Text(visible(f"  OS: {plan.os.family} ({plan.os.evidence})"), style="dim"))
        for skipped in plan.skipped:
            console.print(
                Text(visible(f"  left alone: {skipped.eni_id} {skipped.mac}: {skipped.reason}"))
            )
        if plan.status == MANAGED:
            if plan.guard:
                console.print(
                    f"  guard: ip link set dev <each ENI> group {plan.guard.group}; "
                    f"ip rule add lookup main suppress_ifgroup {plan.guard.group} "
                    f"priority {plan.guard.priority}"
                )
            for eni in plan.enis:
                role = (
                    "primary"
                    if eni.is_primary
                    else f"card {eni.network_card_index} device {eni.device_index}"
                )
                console.print(
                    Text(
                        f"  {name_hint(eni)} = MAC {eni.mac}  {eni.eni_id} ({role})  "
                        f"table {eni.table}",
                        style="bold",
                    )
                )
                for line in eni_commands(eni):
                    console.print(Text(f"    {line}"), soft_wrap=True)
            for note in plan.notes:
                console.print(Text(f"  note: {visible(note)}", style="yellow"))
            console.print(Text(f"  plan sha256:{plan.digest()[:16]}…", style="dim"))
        console.print()
    managed = sum(1 for p in plans if p.status == MANAGED)
    alone = len(plans) - managed
    console.print(f"{len(plans)} instance(s): {managed} to manage, {alone} left alone")
