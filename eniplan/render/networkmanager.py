"""NetworkManager keyfiles: one connection profile per managed ENI, matched by MAC.

    /etc/NetworkManager/system-connections/eniplan-<table>.nmconnection   (0600)
    /etc/udev/rules.d/61-eniplan-netdev-group.rules                        (guard)
    /etc/NetworkManager/dispatcher.d/60-eniplan-guard                      (guard, 0755)

Design (checked against nm-settings-nmcli(5) of NetworkManager 1.42 and `nmcli --offline`):

- IPv4: `method=auto` keeps DHCP for the ENI's primary address; secondary addresses are
  static `addressN` next to it (NetworkManager allows both). The per-ENI table is filled by
  explicit routes with `routeN_options=table=T`, NOT by `ipv4.route-table=T`: route-table
  moves every route of the profile (the DHCP default route and the subnet's prefix route
  too) out of the main table, which would leave the primary ENI without a default route in
  main and change how unbound traffic is routed. Non-primary ENIs get `never-default=true`
  (no second default route in main); a static /0 route in `ipv4.routes` is not affected by
  never-default ("An alternative is to configure the default route explicitly with a
  manual route and /0 as prefix length", nm-settings-nmcli(5), ipv4.gateway).
- IPv6: the default router is learned from router advertisements at run time, so the
  table's default route can only come from NetworkManager itself: non-primary ENIs set
  `ipv6.route-table=T`, which puts the RA default route (and the on-link prefix) into T; an
  explicit `table=254` route keeps the subnet's on-link route in main. On the primary ENI
  route-table would take the instance's IPv6 default route out of main, so it is not set:
  table T gets the on-link prefix only and replies from the primary's IPv6 addresses fall
  through to main, whose default route leaves through the primary anyway.
- The table's subnet route has no `src=` (the plan's preferred source, the ENI's primary
  address): DHCP assigns that address after NetworkManager installs the profile's routes,
  the kernel refuses a route whose source is not yet on the interface (EINVAL), and
  NetworkManager 1.42 does not retry it ("route-sync: failure to add IPv4 route", seen in
  `eniplan lab --boot`: the table had no subnet route, replies to same-subnet peers went
  via the router). The table is only reached through `from ADDR` rules, whose packets have
  their source already, so the preferred source changes nothing there.
- Metrics: `route-metric` (IPv4 and IPv6) is set, 100 x (device index + 1) + network card
  (cloud-init's EC2 convention, primary 100): left unset, NetworkManager 1.42 gives every
  activation of a profile a new metric (measured in `eniplan lab --boot`: 104/105, then
  106/107), so re-activating the profiles changed every route of the main table and of
  the ENIs' tables, and the metrics differed from one boot to the next.
- Rules: `routing-ruleN=priority T from ADDR table T` (IPv4 and IPv6).
- The guard cannot be expressed: a profile cannot set a netdev group, and routing-rules
  have no `suppress_ifgroup` (nmcli rejects it; the keyfile reader silently drops such a
  rule). Two small extra files supply it: a udev rule that sets `netdev_group` by MAC, and
  a dispatcher script (POSIX sh, `ip` only) that adds the suppress_ifgroup rule, IPv4 and
  IPv6, when an eniplan profile comes up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace

from eniplan import values
from eniplan.plan import EniPlan, InstancePlan, Route, Rule
from eniplan.render.base import RenderedFile, Rendering, RenderOptions, marker
from eniplan.render.common import (
    UDEV_RULE_PATH,
    check_renderable,
    mac,
    rule_source,
    text,
    udev_activate,
    udev_netdev_group_rule,
)

TARGET = "networkmanager"
CONNECTIONS_DIR = "/etc/NetworkManager/system-connections"
DISPATCHER_PATH = "/etc/NetworkManager/dispatcher.d/60-eniplan-guard"
# Higher than cloud-init's profiles (120), ifcfg-rh's "System ethX" (0) and NetworkManager's
# automatic "Wired connection N" (-999): at autoconnect, eniplan's profile wins. Max is 999.
AUTOCONNECT_PRIORITY = 200
# uuid5 namespace of eniplan's connection profiles: uuid = uuid5(NS, "<instance>/<eni>").
PROFILE_UUID_NAMESPACE = uuid.UUID("f60ae71e-1f49-4dff-97ec-d2810dff60dd")
MAIN_TABLE = 254

Section = list[tuple[str, str]]


def render(plan: InstancePlan, options: RenderOptions) -> Rendering:
    check_renderable(plan, options, TARGET)
    files = [RenderedFile(profile_path(eni), _keyfile(plan, eni), mode=0o600) for eni in plan.enis]
    if plan.guard is not None:
        files.append(udev_netdev_group_rule(plan))
        files.append(RenderedFile(DISPATCHER_PATH, _dispatcher(plan), mode=0o755))
    return Rendering(
        target=TARGET,
        instance_id=plan.instance_id,
        files=tuple(files),
        notes=tuple(_notes(plan)),
        activate=tuple(_activate(plan)),
    )


# --- keyfiles ----------------------------------------------------------------------------


def profile_id(eni: EniPlan) -> str:
    return f"eniplan-{int(eni.table)}"


def profile_path(eni: EniPlan) -> str:
    return f"{CONNECTIONS_DIR}/{profile_id(eni)}.nmconnection"


def profile_uuid(plan: InstancePlan, eni: EniPlan) -> str:
    instance = values.resource_id("i", plan.instance_id)
    eni_id = values.resource_id("eni", eni.eni_id)
    return str(uuid.uuid5(PROFILE_UUID_NAMESPACE, f"{instance}/{eni_id}"))


def _keyfile(plan: InstancePlan, eni: EniPlan) -> str:
    table = int(eni.table)
    role = "the primary ENI" if eni.is_primary else "a secondary ENI"
    header = [
        marker(plan),
        f"# eniplan: {role}, {text(eni.eni_id)} (network card {int(eni.network_card_index)}, "
        f"device {int(eni.device_index)}), routing table {table}.",
        "# Matched by MAC, never by interface name. autoconnect-priority "
        f"{AUTOCONNECT_PRIORITY} wins over the",
        "# cloud-init (120) and distribution (0) profiles of the same interface.",
    ]
    sections: list[tuple[str, Section]] = [
        (
            "connection",
            [
                ("id", profile_id(eni)),
                ("uuid", profile_uuid(plan, eni)),
                ("type", "ethernet"),
                ("autoconnect-priority", str(AUTOCONNECT_PRIORITY)),
            ],
        ),
        ("ethernet", [("mac-address", mac(eni).upper())]),
        ("ipv4", _ipv4(eni)),
        ("ipv6", _ipv6(eni)),
    ]
    lines = list(header)
    for name, keys in sections:
        lines.append("")
        lines.append(f"[{name}]")
        lines += [f"{key}={text(value)}" for key, value in keys]
    return "\n".join(lines) + "\n"


def _ipv4(eni: EniPlan) -> Section:
    table = int(eni.table)
    routes = [route for route in eni.routes if route.family == 4]
    rules = [rule for rule in eni.rules if rule.family == 4]
    secondaries = [a for a in eni.ipv4_addresses if a.ip != eni.primary_ipv4]
    keys: Section = [(f"address{n}", text(a)) for n, a in enumerate(secondaries, 1)]
    # DHCP owns the ENI's primary address; an IPv6-only subnet has no IPv4 to ask for
    keys.append(("method", "auto" if eni.primary_ipv4 is not None else "disabled"))
    if not eni.is_primary:
        keys.append(("never-default", "true"))
    keys.append(("route-metric", str(route_metric(eni))))
    # no src= for the DHCP-assigned primary address (see the module's docstring)
    unsourced = [replace(r, source=None) if _dhcp_sourced(eni, r) else r for r in routes]
    keys += _routes([(route, table) for route in unsourced])
    keys += _rules(rules)
    return keys


def route_metric(eni: EniPlan) -> int:
    """The profile's metric: cloud-init's for EC2 (100 x (device index + 1)), plus the
    network card so that two ENIs never share one."""
    return 100 * (int(eni.device_index) + 1) + int(eni.network_card_index)


def _dhcp_sourced(eni: EniPlan, route: Route) -> bool:
    """A route whose preferred source is the address DHCP assigns."""
    return route.source is not None and route.source == eni.primary_ipv4


def _ipv6(eni: EniPlan) -> Section:
    table = int(eni.table)
    keys: Section = [(f"address{n}", text(a)) for n, a in enumerate(eni.ipv6_addresses, 1)]
    keys.append(("method", "auto"))  # router advertisements (and DHCPv6 if they say so)
    keys.append(("route-metric", str(route_metric(eni))))
    if not eni.is_primary:
        # The RA default route (router learned at run time) and the on-link prefix go to T;
        # no second IPv6 default route in main.
        keys.append(("route-table", str(table)))
    static = [r for r in eni.routes if r.family == 6 and not r.via_ra]
    placed = [(route, table) for route in static]
    if not eni.is_primary:
        # route-table moved the prefix route out of main: keep a copy there
        placed += [(Route(net, MAIN_TABLE), MAIN_TABLE) for net in eni.ipv6_subnets]
    keys += _routes(placed)
    keys += _rules([rule for rule in eni.rules if rule.family == 6])
    return keys


def _routes(placed: Iterable[tuple[Route, int]]) -> Section:
    keys: Section = []
    for n, (route, table) in enumerate(placed, 1):
        value = text(route.destination)
        if route.gateway is not None:
            value += f",{text(route.gateway)}"
        keys.append((f"route{n}", value))
        options = [f"src={text(route.source)}"] if route.source else []
        options.append(f"table={int(table)}")
        keys.append((f"route{n}_options", ",".join(options)))
    return keys


def _rules(rules: Iterable[Rule]) -> Section:
    return [
        (
            f"routing-rule{n}",
            f"priority {int(rule.priority)} from {rule_source(rule)} table {int(rule.table)}",
        )
        for n, rule in enumerate(rules, 1)
    ]


# --- the guard's dispatcher script ------------------------------------------------------


def _dispatcher(plan: InstancePlan) -> str:
    assert plan.guard is not None
    group = int(plan.guard.group)
    priority = int(plan.guard.priority)
    uuids = " | ".join(profile_uuid(plan, eni) for eni in plan.enis)
    return f"""#!/bin/sh
{marker(plan)}
# eniplan's main-table guard for NetworkManager (NetworkManager runs this script as
# '60-eniplan-guard INTERFACE ACTION'). Connection profiles cannot express the guard: they
# cannot set a netdev group, and their routing rules have no suppress_ifgroup. When one of
# eniplan's profiles comes up, this puts the interface in netdev group {group} (the udev rule
# 61-eniplan-netdev-group.rules does the same at boot) and adds, for IPv4 and IPv6,
#     ip rule add lookup main suppress_ifgroup {group} priority {priority}
# unless it is there already. POSIX sh and ip only.
set -u

GROUP={group}
PRIORITY={priority}

[ "${{2:-}}" = up ] || exit 0
case "${{CONNECTION_UUID:-}}" in
    {uuids}) ;;
    *) exit 0 ;;
esac

has_guard() {{
    rules=$(ip "$1" rule show) || return 1
    while IFS= read -r line; do
        case $line in
            "$PRIORITY:"*" suppress_ifgroup $GROUP" | "$PRIORITY:"*" suppress_ifgroup $GROUP "*)
                return 0 ;;
        esac
    done <<EOF
$rules
EOF
    return 1
}}

status=0
ip link set dev "$1" group "$GROUP" || status=1
for family in -4 -6; do
    if [ "$family" = -6 ] && [ ! -d /proc/sys/net/ipv6 ]; then
        continue
    fi
    has_guard "$family" ||
        ip "$family" rule add lookup main suppress_ifgroup "$GROUP" priority "$PRIORITY" ||
        status=1
done
exit "$status"
"""


# --- notes and activation ---------------------------------------------------------------


def _notes(plan: InstancePlan) -> list[str]:
    notes = [
        "needs NetworkManager 1.18 or newer (routing rules in profiles); profiles match each "
        "ENI by MAC (ethernet.mac-address) and take over from the cloud-init or distribution "
        f"profile through autoconnect-priority {AUTOCONNECT_PRIORITY}; that profile stays on "
        "disk, unused",
        "per-ENI tables are filled by explicit routes with table=T, not ipv4.route-table, "
        "which would move the DHCP default route and the subnet route out of the main table",
    ]
    notes.append(
        "route metrics are set (100 x (device index + 1) + network card, as cloud-init's "
        "EC2 network config): NetworkManager would otherwise give each activation new ones"
    )
    notes.append(
        "install the keyfiles after the instance's first boot (config management, or "
        "--target cloud-init --persist networkmanager, whose runcmd activates them): "
        "keyfiles baked into an image before it are overridden by cloud-init's first-boot "
        "activation of its own profile for the primary ENI until the next reboot (measured "
        "with lab --boot: the primary ENI's address failed proofs 1-4 after the first boot, "
        "held after the reboot)"
    )
    if any(_dhcp_sourced(eni, route) for eni in plan.enis for route in eni.routes):
        notes.append(
            "the tables' subnet routes have no preferred source (src=): NetworkManager adds "
            "a profile's routes before DHCP assigns the primary address and does not retry "
            "one the kernel refused for want of that address; the tables are reached only "
            "by 'from' rules, so the source is chosen already"
        )
    if plan.guard is not None:
        notes.append(
            "the main-table guard cannot be expressed in a NetworkManager profile (no netdev "
            "group setting; routing rules have no suppress_ifgroup): added "
            f"{UDEV_RULE_PATH} (netdev_group {plan.guard.group} by MAC) and "
            f"{DISPATCHER_PATH} (adds 'lookup main suppress_ifgroup {plan.guard.group} "
            f"priority {plan.guard.priority}', IPv4 and IPv6, when an eniplan profile comes up)"
        )
    if any(eni.ipv6_addresses and not eni.is_primary for eni in plan.enis):
        notes.append(
            "IPv6 on secondary ENIs: ipv6.route-table=T puts the default route learned from "
            "router advertisements into table T (no second IPv6 default route in main); an "
            "explicit table=254 route keeps the subnet's on-link route in main"
        )
    for eni in plan.enis:
        if eni.is_primary and eni.ipv6_addresses:
            notes.append(
                f"IPv6 on the primary ENI {eni.eni_id}: its router-advertised default route "
                f"stays in main (ipv6.route-table would take it out), so table {eni.table} has "
                "no IPv6 default route; replies from its IPv6 addresses fall through to main, "
                "which sends them out of the primary ENI"
            )
    if any(eni.is_primary for eni in plan.enis):
        notes.append(
            "activating the primary ENI's profile (nmcli connection up, run last) repeats "
            "DHCP on it: connectivity pauses for a second or two and established SSH sessions "
            "normally survive; run it from the serial console or reboot instead if in doubt"
        )
    return notes


def _activate(plan: InstancePlan) -> list[str]:
    commands = udev_activate(plan)
    commands.append("nmcli connection reload")
    # secondary ENIs first: the primary's reactivation is the only one that pauses traffic
    ordered = sorted(plan.enis, key=lambda eni: eni.is_primary)
    commands += [f"nmcli connection up {profile_id(eni)}" for eni in ordered]
    return commands
