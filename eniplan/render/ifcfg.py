"""RHEL/CentOS network-scripts (initscripts): route-/rule- files per ENI, ifcfg for the others.

For every managed ENI, named by plan.name_hint (eth0, eth1, ...), in
/etc/sysconfig/network-scripts/:

    route-<dev>, route6-<dev>   one `ip route add` argument list per line
    rule-<dev>, rule6-<dev>     one `ip rule add` argument list per line
    ifcfg-<dev>                 secondary ENIs only: DEVICE + HWADDR, DHCP, DEFROUTE=no
    ifcfg-<dev>:<n>             alias files, one per secondary private IPv4 address

ifup-post runs ifup-aliases and then ifup-routes, which passes every line that is not a
comment to `ip [-6] route add` / `ip [-6] rule add` (ifdown-routes to `ip rule del`).

- The primary ENI's ifcfg-eth0 belongs to the image and is not rewritten; its secondary
  IPv4 addresses come as alias files, which both initscripts (ifup-aliases) and
  NetworkManager's ifcfg-rh plugin merge into the parent. Alias files are used for secondary
  ENIs too: ifup-eth ignores IPADDRn when BOOTPROTO=dhcp (only ifcfg-rh reads them).
- An ifcfg file is tied to a name, the MAC check comes from HWADDR: initscripts' udev
  helper (rename_device) names the interface with that MAC after DEVICE, and ifup-eth
  refuses to configure an interface whose MAC differs.
- The guard: `lookup main suppress_ifgroup G priority P` in rule-/rule6- of the primary ENI
  (of the first managed ENI if the primary is not managed); the netdev group comes from a
  udev rule by MAC, because ifcfg has no setting for it.
- Not expressible: the IPv6 default route of a per-ENI table. Its router is learned from
  router advertisements at run time and route6- lines are static `ip -6 route add`
  arguments. Table T gets the on-link IPv6 prefix only; replies from an ENI's IPv6
  addresses fall through to the main table.
"""

from __future__ import annotations

from collections.abc import Iterable

from eniplan.plan import EniPlan, InstancePlan, Route, Rule, name_hint
from eniplan.render.base import RenderedFile, Rendering, RenderOptions, marker
from eniplan.render.common import (
    check_renderable,
    mac,
    rule_source,
    text,
    udev_activate,
    udev_netdev_group_rule,
)

TARGET = "ifcfg"
SCRIPTS_DIR = "/etc/sysconfig/network-scripts"


def render(plan: InstancePlan, options: RenderOptions) -> Rendering:
    check_renderable(plan, options, TARGET)
    guard_eni = guard_owner(plan)
    files: list[RenderedFile] = []
    for eni in plan.enis:
        if not eni.is_primary:
            files.append(_file(f"ifcfg-{device(eni)}", _ifcfg(plan, eni)))
        files += [
            _file(f"ifcfg-{device(eni)}:{n}", _alias(plan, eni, n, address))
            for n, address in enumerate(secondary_ipv4(eni), 1)
        ]
        for family in (4, 6):
            suffix = "" if family == 4 else "6"
            routes = [r for r in eni.routes if r.family == family and not r.via_ra]
            if routes or any(r.family == family for r in eni.routes):
                files.append(
                    _file(f"route{suffix}-{device(eni)}", _route_file(plan, eni, family, routes))
                )
            rules = [r for r in eni.rules if r.family == family]
            guard = plan.guard is not None and eni is guard_eni
            if rules or guard:
                files.append(
                    _file(f"rule{suffix}-{device(eni)}", _rule_file(plan, eni, rules, guard))
                )
    if plan.guard is not None:
        files.append(udev_netdev_group_rule(plan))
    return Rendering(
        target=TARGET,
        instance_id=plan.instance_id,
        files=tuple(files),
        notes=tuple(_notes(plan)),
        activate=tuple(_activate(plan)),
    )


def device(eni: EniPlan) -> str:
    return text(name_hint(eni))


def guard_owner(plan: InstancePlan) -> EniPlan:
    """The ENI whose rule files carry the guard: the primary, else the first managed ENI."""
    return next((eni for eni in plan.enis if eni.is_primary), plan.enis[0])


def secondary_ipv4(eni: EniPlan) -> list[str]:
    """Static IPv4 addresses besides the one DHCP gives, as ADDRESS/PREFIX."""
    return [text(a) for a in eni.ipv4_addresses if a.ip != eni.primary_ipv4]


def _file(name: str, content: str) -> RenderedFile:
    return RenderedFile(f"{SCRIPTS_DIR}/{name}", content, mode=0o644)


def _describe(eni: EniPlan) -> str:
    role = "primary ENI" if eni.is_primary else "ENI"
    return (
        f"{role} {text(eni.eni_id)} (network card {int(eni.network_card_index)}, device "
        f"{int(eni.device_index)}), routing table {int(eni.table)}"
    )


def _ifcfg(plan: InstancePlan, eni: EniPlan) -> str:
    lines = [
        marker(plan),
        f"# eniplan: {_describe(eni)}.",
        "# HWADDR ties this file to the ENI: initscripts' udev helper names the interface with",
        f"# this MAC {device(eni)}, and ifup refuses an interface whose MAC differs.",
        f"DEVICE={device(eni)}",
        f"HWADDR={mac(eni)}",
        "TYPE=Ethernet",
        "ONBOOT=yes",
    ]
    if eni.primary_ipv4 is not None:
        lines += [
            "# DHCP gives the ENI's primary private address; DEFROUTE=no: no second default",
            "# route in the main table (table "
            f"{int(eni.table)} has this ENI's default route, see route-{device(eni)})",
            "BOOTPROTO=dhcp",
            "DEFROUTE=no",
        ]
    else:
        lines += ["# an IPv6-only subnet: no IPv4 address", "BOOTPROTO=none"]
    if eni.ipv6_addresses:
        first, *others = (text(a) for a in eni.ipv6_addresses)
        lines += [
            "# IPv6: static addresses; the default route comes from router advertisements",
            "# and stays in the main table (route6- files cannot name a router learned at run",
            "# time)",
            "IPV6INIT=yes",
            f"IPV6ADDR={first}",
        ]
        if others:
            lines.append(f'IPV6ADDR_SECONDARIES="{" ".join(others)}"')
    else:
        lines.append("IPV6INIT=no")
    return "\n".join(lines) + "\n"


def _alias(plan: InstancePlan, eni: EniPlan, n: int, address: str) -> str:
    ip, prefix = address.split("/")
    return (
        "\n".join(
            [
                marker(plan),
                f"# eniplan: secondary private IPv4 address {n} of the {_describe(eni)}.",
                "# An alias file because ifup-eth ignores IPADDRn when BOOTPROTO=dhcp;",
                "# ifup-aliases (and NetworkManager's ifcfg-rh plugin) add it to the parent.",
                "# NO_ALIASROUTING: no routes or default gateway for the alias; ARPCHECK=no: EC2",
                "# assigned the address to this ENI, no duplicate-address probe at boot.",
                f"DEVICE={device(eni)}:{int(n)}",
                f"IPADDR={ip}",
                f"PREFIX={int(prefix)}",
                "ONPARENT=yes",
                "NO_ALIASROUTING=yes",
                "ARPCHECK=no",
            ]
        )
        + "\n"
    )


def route_line(eni: EniPlan, route: Route) -> str:
    destination = "default" if route.is_default else text(route.destination)
    words = [destination]
    if route.gateway is not None:
        words += ["via", text(route.gateway)]
    words += ["dev", device(eni)]
    if route.source is not None:
        words += ["src", text(route.source)]
    words += ["table", str(int(route.table))]
    return " ".join(words)


def rule_line(rule: Rule) -> str:
    return f"from {rule_source(rule)} lookup {int(rule.table)} priority {int(rule.priority)}"


def guard_line(plan: InstancePlan) -> str:
    assert plan.guard is not None
    return (
        f"lookup main suppress_ifgroup {int(plan.guard.group)} priority {int(plan.guard.priority)}"
    )


def _route_file(plan: InstancePlan, eni: EniPlan, family: int, routes: Iterable[Route]) -> str:
    command = "ip route add" if family == 4 else "ip -6 route add"
    lines = [
        marker(plan),
        f"# eniplan: routes of the {_describe(eni)}.",
        f"# ifup-routes runs '{command} <line>' for every line.",
    ]
    if any(r.via_ra for r in eni.routes if r.family == family):
        lines += [
            f"# Not here: the IPv6 default route of table {int(eni.table)}. Its router is learned",
            "# from router advertisements at run time; replies from this ENI's IPv6 addresses",
            "# fall through to the main table.",
        ]
    lines += [route_line(eni, route) for route in routes]
    return "\n".join(lines) + "\n"


def _rule_file(plan: InstancePlan, eni: EniPlan, rules: Iterable[Rule], guard: bool) -> str:
    lines = [
        marker(plan),
        f"# eniplan: rules of the {_describe(eni)}.",
        "# ifup-routes runs 'ip rule add <line>' for every line, ifdown-routes 'ip rule del'.",
    ]
    if guard:
        lines += [
            "# The main-table guard: main-table answers count only when they do not leave",
            "# through an ENI (the ENIs are in this netdev group by the udev rule",
            "# 61-eniplan-netdev-group.rules).",
            guard_line(plan),
        ]
    lines += [rule_line(rule) for rule in rules]
    return "\n".join(lines) + "\n"


def _notes(plan: InstancePlan) -> list[str]:
    notes = [
        "RHEL/CentOS network-scripts: the files name the interfaces "
        + ", ".join(f"{device(eni)} ({mac(eni)})" for eni in plan.enis)
        + "; secondary ENIs are found by HWADDR, the primary must be named "
        + ", ".join(device(eni) for eni in plan.enis if eni.is_primary)
        + " as on EC2 RHEL/CentOS images (net.ifnames=0); its ifcfg file is left alone",
        "RHEL 8 and later run NetworkManager: its ifcfg-rh plugin reads ifcfg and alias "
        "files, but with rule-/rule6- files present it ignores route- and rule- files and "
        "leaves them to a dispatcher script (package NetworkManager-dispatcher-routing-rules, "
        "which runs network-scripts' ifup-routes); prefer --target networkmanager there",
        "secondary private IPv4 addresses are alias files (ifcfg-<dev>:<n>): ifup-eth ignores "
        "IPADDRn when BOOTPROTO=dhcp",
        "ifup-routes adds rules with 'ip rule add': running ifup again without ifdown adds "
        "duplicate rules on old kernels (newer ones refuse them); ifdown removes them",
    ]
    if plan.guard is not None:
        notes.append(
            f"the guard 'lookup main suppress_ifgroup {plan.guard.group} priority "
            f"{plan.guard.priority}' is in rule-{device(guard_owner(plan))} and "
            f"rule6-{device(guard_owner(plan))}; ifcfg cannot set a netdev group: added "
            "/etc/udev/rules.d/61-eniplan-netdev-group.rules (netdev_group by MAC)"
        )
    ipv6_enis = [eni for eni in plan.enis if any(r.via_ra for r in eni.routes)]
    if ipv6_enis:
        notes.append(
            "cannot be expressed: the IPv6 default route of table(s) "
            + ", ".join(str(eni.table) for eni in ipv6_enis)
            + " (its router is learned from router advertisements at run time; route6- "
            "lines are static). Replies from those ENIs' IPv6 addresses fall through to the "
            "main table, which is right while a single ENI has an IPv6 default route there"
        )
    if len(ipv6_enis) > 1:
        notes.append(
            "several ENIs have IPv6: the main table has a router-advertised default route "
            "through each, so IPv6 replies may leave through the wrong ENI and be dropped "
            "by the source/destination check; use --target networkmanager, networkd or "
            "iproute2 for IPv6 on several ENIs"
        )
    for eni in plan.enis:
        if eni.is_primary and eni.ipv6_addresses:
            notes.append(
                f"the primary ENI's IPv6 addresses are not configured here (that needs "
                f"ifcfg-{device(eni)}, which the image owns): "
                + ", ".join(text(a) for a in eni.ipv6_addresses)
            )
    return notes


def _activate(plan: InstancePlan) -> list[str]:
    commands = udev_activate(plan)
    for eni in sorted(plan.enis, key=lambda e: not e.is_primary):
        if eni.is_primary:
            # adds the files' addresses, routes and rules without touching the link
            if secondary_ipv4(eni):
                commands.append(f"{SCRIPTS_DIR}/ifup-aliases {device(eni)}")
            commands.append(f"{SCRIPTS_DIR}/ifup-routes {device(eni)}")
        else:
            commands.append(f"ifup {device(eni)}")
    return commands
