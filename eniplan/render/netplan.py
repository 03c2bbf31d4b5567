"""netplan target: `/etc/netplan/60-eniplan.yaml`, plus networkd drop-ins for what netplan
cannot say.

One `ethernets` entry per managed ENI, under the ID `0-eniplan-<table>`, matched by MAC:
DHCPv4 for the ENI's primary IPv4, the other addresses, `routing-policy` (from each
address or prefix, table T, priority T) and `routes` in table T (default via the subnet
router, the subnet's link route with the primary IP as source, the IPv6 subnet routes).

Choices (also written as comments into the files and returned as notes):

- **Two definitions of one device.** cloud-init's `50-cloud-init.yaml` already defines the
  primary ENI (and, on some releases, the others) under an ID that is the interface name
  (`eth0`, `ens5`, `enX0`), with `match: {macaddress: ...}`. netplan merges definitions only
  when they share an ID; two IDs that match one MAC are not merged, each becomes its own
  `/run/systemd/network/10-netplan-<ID>.network`, and networkd applies the first of them in
  lexical order. Reusing cloud-init's ID would need the interface name, which a static
  plan does not know (and names differ by image and instance type). So eniplan defines
  every managed ENI completely, DHCPv4 included, under an ID that sorts before any
  interface name (`0-eniplan-<table>`: a digit sorts before every letter), and cloud-init's
  definition of the same MAC goes unused: the primary keeps DHCPv4, as cloud-init had it.
- **No second default route in main.** Secondary ENIs: `dhcp4-overrides: {use-routes:
  false}` rather than `route-metric`: a metric keeps a backup default in main that takes
  over when the primary's lease is lost and then sends the primary's traffic out of a
  secondary ENI, where the source/dest check drops it. `use-hostname: false`: the primary's
  lease names the host.
- **What netplan cannot say** (netplan 0.106, Debian 12): a netdev group, a
  `suppress_ifgroup` rule, and the route table of router-advertisement routes (netplan
  maps [IPv6AcceptRA] options only from its later `ra-overrides`, canonical/netplan PR
  #461 of June 2024). They go into one networkd drop-in
  per ENI next to the file netplan generates for it,
  `/etc/systemd/network/10-netplan-0-eniplan-<T>.network.d/60-eniplan.conf`:
  `[Link] Group=G`, the guard's `[RoutingPolicyRule] SuppressInterfaceGroup=G` (in the
  primary's), and `[IPv6AcceptRA] RouteTable=T` (secondary ENIs with IPv6). That is smaller
  than a udev rule plus a systemd unit, it is read at boot and by `netplan apply` (which runs
  `networkctl reload` and `reconfigure`) alike, it needs no ordering against networkd, and
  networkd owns the rule like every other one (a rule added by a script is "foreign" to it,
  and ManageForeignRoutingPolicyRules=yes allows networkd to remove it). The entries say
  `renderer: networkd` so that the drop-ins apply.
- **IPv6 default.** netplan cannot name "the RA router". `RouteTable=T` moves a link's RA
  routes into table T: right for a secondary ENI, wrong for the primary (main would lose
  its IPv6 default). The primary keeps its RA default in main; traffic from its IPv6
  addresses finds no default in its table, falls through to main and leaves by the same
  RA default. Secondary ENIs without IPv6 get `accept-ra: false`.
- **IPv6 subnet routes** need `scope: link` in netplan (a route without `via`); networkd
  ignores `Scope=` on IPv6 routes and logs a warning, which is harmless.
- **The guard** only where the OS is known to ship systemd >= 250 (see networkd.py: an
  older networkd would ignore SuppressInterfaceGroup= and install a plain `lookup main`).

The YAML is built as a Python structure of str, int, bool, list and dict and written by
PyYAML's safe dumper; every string in it is the text of an ipaddress object, a checked MAC
or a fixed keyword.
"""

from __future__ import annotations

from typing import Any

import yaml

from eniplan.plan import EniPlan, InstancePlan, Route
from eniplan.render import networkd
from eniplan.render.base import RenderedFile, Rendering, RenderOptions, marker

TARGET = "netplan"
NETPLAN_PATH = "/etc/netplan/60-eniplan.yaml"
NETPLAN_MODE = 0o600  # netplan warns about configuration that others can read
DROPIN_NAME = "60-eniplan.conf"
ID_PREFIX = "0-eniplan-"

_HEADER = (
    "Per-ENI policy routing: one routing table T per ENI; rules from each of its addresses",
    "and prefixes to T at priority T; in T the default via the subnet router and the",
    "subnet's link route. Devices are matched by MAC, never by name.",
    "",
    "IDs 0-eniplan-<T>: netplan does not merge two IDs that match one MAC (cloud-init's ID",
    "for the primary ENI is its interface name); each becomes its own",
    "/run/systemd/network/10-netplan-<ID>.network and networkd applies the first in",
    "lexical order. '0-eniplan-' sorts before every interface name, so these definitions",
    "win and keep DHCPv4 for the primary ENI; cloud-init's definition goes unused.",
    "",
    "Secondary ENIs: dhcp4 with use-routes false, so main has no second default route.",
    "",
    "Not expressible in netplan, so in networkd drop-ins next to the generated files",
    "(/etc/systemd/network/10-netplan-0-eniplan-<T>.network.d/60-eniplan.conf), hence",
    "renderer networkd: the netdev group and the suppress_ifgroup rule of the main-table",
    "guard, and the table of the IPv6 default learned from router advertisements.",
    "IPv6 routes without a gateway need 'scope: link' here; networkd ignores it for IPv6.",
)


def netdef_id(eni: EniPlan) -> str:
    return f"{ID_PREFIX}{eni.table}"


def generated_network_name(eni: EniPlan) -> str:
    """The file `netplan generate` writes for the entry, in /run/systemd/network."""
    return f"10-netplan-{netdef_id(eni)}.network"


def dropin_path(eni: EniPlan) -> str:
    return f"{networkd.NETWORK_DIR}/{generated_network_name(eni)}.d/{DROPIN_NAME}"


def _text(value: networkd.Value) -> str:
    """The text of a typed value, with the networkd target's checks."""
    return networkd.format_value(value)


def route_entry(route: Route) -> dict[str, Any]:
    entry: dict[str, Any] = {"to": _text(route.destination)}
    if route.gateway is not None:
        entry["via"] = _text(route.gateway)
        entry["on-link"] = True  # the VPC router is on the link; no wait for a route to it
    else:
        entry["scope"] = "link"
    if route.source is not None:
        entry["from"] = _text(route.source)
    entry["table"] = route.table
    return entry


def ethernet(eni: EniPlan) -> dict[str, Any]:
    """The netplan definition of one ENI."""
    entry: dict[str, Any] = {
        "renderer": "networkd",
        "match": {"macaddress": _text(networkd.Mac(eni.mac))},
        "dhcp4": networkd.uses_dhcp4(eni),
    }
    if networkd.uses_dhcp4(eni) and not eni.is_primary:
        entry["dhcp4-overrides"] = {"use-routes": False, "use-hostname": False}
    ra = networkd.accept_ra(eni)
    if ra is not None:
        entry["accept-ra"] = ra
    addresses = [_text(address) for address in networkd.static_addresses(eni)]
    if addresses:
        entry["addresses"] = addresses
    routes = [route_entry(route) for route in networkd.static_routes(eni)]
    if routes:
        entry["routes"] = routes
    if eni.rules:
        entry["routing-policy"] = [
            {"from": _text(rule.source), "table": rule.table, "priority": rule.priority}
            for rule in eni.rules
        ]
    return entry


def document(plan: InstancePlan) -> dict[str, Any]:
    """The YAML document, as the structure that yaml.safe_load gives back."""
    enis = sorted(plan.enis, key=lambda eni: eni.table)
    return {"network": {"version": 2, "ethernets": {netdef_id(eni): ethernet(eni) for eni in enis}}}


def netplan_file(plan: InstancePlan) -> RenderedFile:
    header = [marker(plan)] + [f"# {line}".rstrip() for line in _HEADER]
    body = yaml.safe_dump(document(plan), sort_keys=False, default_flow_style=False, width=100)
    return RenderedFile(NETPLAN_PATH, "\n".join(header) + "\n" + body, NETPLAN_MODE)


def dropin_sections(plan: InstancePlan, eni: EniPlan) -> list[networkd.Section]:
    sections: list[networkd.Section] = []
    guard = plan.guard if networkd.guard_written(plan) else None
    if guard is not None:
        sections.append(
            networkd.Section(
                "Link", (("Group", guard.group),), comment="netdev group of the main-table guard"
            )
        )
    table = networkd.ra_route_table(eni)
    if table is not None:
        sections.append(
            networkd.Section(
                "IPv6AcceptRA",
                (("RouteTable", table),),
                comment="the IPv6 default via the RA router (learned at run time) in table T",
            )
        )
    if guard is not None and eni is networkd.guard_eni(plan):
        sections.append(networkd.guard_rule_section(plan, guard))
    return sections


def dropin_file(plan: InstancePlan, eni: EniPlan) -> RenderedFile | None:
    sections = dropin_sections(plan, eni)
    if not sections:
        return None
    comments = [
        f"Drop-in for {generated_network_name(eni)}, which netplan generates from {NETPLAN_PATH}",
        f"(entry {netdef_id(eni)}): what netplan cannot express.",
    ]
    return RenderedFile(
        dropin_path(eni), networkd.write_unit(marker(plan), comments, sections), 0o644
    )


NETPLAN_APPLY_NOTE = (
    "`netplan apply` reconfigures every link networkd manages: measured with lab --boot "
    "(Debian 12, netplan 0.106, --persist script), the primary ENI's DHCP address and "
    "every routing rule were gone for 147 ms (median of 6 applies, 116-170 ms) until "
    "networkd and eniplan put them back; traffic through the ENIs fails meanwhile"
)


def notes(plan: InstancePlan) -> tuple[str, ...]:
    result = [
        "each ENI is defined under its own ID 0-eniplan-<table>, matched by MAC; netplan does "
        "not merge it with cloud-init's definition of the same device (another ID), and "
        "networkd applies the first generated file, 10-netplan-0-eniplan-<table>.network, so "
        "cloud-init's definition of these MACs goes unused; the primary ENI keeps DHCPv4.",
        "secondary ENIs: dhcp4-overrides use-routes false (no second default route in main).",
    ]
    extra = []
    if networkd.guard_written(plan):
        extra.append("the guard's netdev group and suppress_ifgroup rule")
    if any(networkd.ra_route_table(eni) is not None for eni in plan.enis):
        extra.append("the table of the IPv6 default learned from router advertisements")
    if extra:
        result.append(
            "netplan cannot express "
            + " nor ".join(extra)
            + ": networkd drop-ins next to the generated files carry them "
            "(/etc/systemd/network/10-netplan-0-eniplan-<table>.network.d/60-eniplan.conf), "
            "so the entries pin renderer: networkd."
        )
    if any(eni.is_primary and networkd.has_ipv6(eni) for eni in plan.enis):
        result.append(
            "the primary ENI's IPv6 default stays in main (RouteTable= would move it out of "
            "main); traffic from its IPv6 addresses falls through its table to main and "
            "leaves by the same RA default."
        )
    result.append(NETPLAN_APPLY_NOTE)
    result.extend(networkd.guard_notes(plan))
    return tuple(result)


def render(plan: InstancePlan, options: RenderOptions) -> Rendering:
    networkd.check_options(options, TARGET)
    networkd.check_plan(plan)
    dropins = [dropin_file(plan, eni) for eni in sorted(plan.enis, key=lambda eni: eni.table)]
    files = (netplan_file(plan), *(file for file in dropins if file is not None))
    return Rendering(
        target=TARGET,
        instance_id=plan.instance_id,
        files=files,
        notes=notes(plan),
        activate=("netplan apply",),
    )
