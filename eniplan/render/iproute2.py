"""The `iproute2` target: one self-contained POSIX sh script that applies one instance's plan.

The script needs nothing but `ip` (iproute2) and sh builtins (`sleep` only while it waits
for an IPv6 router advertisement). It

- finds every ENI's link by MAC, never by name: the MACs come with the links' flags from
  `ip -br link`, in the same `ip` call that lists the addresses, rules and routes (reading
  /sys/class/net/*/address with `read` cost more than that whole call);
- reads the state with two `ip` calls (ip -6 alone lists IPv6 rules) and streams only what
  is missing into one `ip -batch` (and one `ip -6 -batch` for IPv6 rules): no `ip` call per
  address, so 15 ENIs x 50 addresses cost little more than the batch itself;
- is idempotent without a delete-and-re-add window: a rule or address that is there stays
  as it is, routes are set with `replace` (atomic); a second run changes nothing;
- marks every rule and route it installs with protocol PROTOCOL (247) and deletes the
  protocol-247 rules and routes that the plan no longer has (ENIs gone); nothing else is
  touched, whoever installed it;
- applies what is present when an ENI's MAC is absent, reports the missing ENI on stderr
  and exits 1 at the end, so the primary's routing never waits for a missing secondary.

Every value written into the script comes from the plan's typed values (ipaddress objects,
ints, MACs and IDs, checked again here); no free text (names, tags) reaches it. The text
has no tab and no trailing blank, so cloud-init's YAML keeps it a readable literal block.
`script(plan)` returns the text; the cloud-init renderer embeds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)

from eniplan import agents, values
from eniplan.plan import MANAGED, EniPlan, InstancePlan, Route, Rule
from eniplan.plancore import PROTOCOL as PROTOCOL
from eniplan.plancore import inet6_ntop as inet6_ntop
from eniplan.render.base import RenderedFile, Rendering, RenderOptions, marker

TARGET = "iproute2"
SCRIPT_PATH = "/usr/local/sbin/eniplan-routing"
SCRIPT_MODE = 0o755
# PROTOCOL (247, plancore.py): the rtnetlink protocol number on every rule and route
# eniplan installs: how a later run tells its own entries from everyone else's. Unassigned
# in /etc/iproute2/rt_protos and by the routing daemons (FRR, BIRD, keepalived use 11-18,
# 42, 99, 186-198).
# Seconds to wait for an IPv6 router advertisement on an ENI (ENIPLAN_RA_WAIT overrides).
RA_WAIT_SECONDS = 5
# main, local and default: never an ENI's table
RESERVED_TABLES = (0, 253, 254, 255)


def render(plan: InstancePlan, options: RenderOptions) -> Rendering:
    del options  # static mode only: the script hard-codes the plan
    notes = [
        f"run {SCRIPT_PATH} at every boot and after an ENI is attached (the cloud-init "
        "target installs it with a systemd unit); alone it is not persistent",
        f"every rule and route it installs carries protocol {PROTOCOL}; it removes "
        f"protocol-{PROTOCOL} entries that the plan no longer has and nothing else",
    ]
    if agents.predates_rule_protocols(plan.os):
        notes.insert(0, OLD_KERNEL_NOTE)
    return Rendering(
        target=TARGET,
        instance_id=plan.instance_id,
        files=(RenderedFile(path=SCRIPT_PATH, content=script(plan), mode=SCRIPT_MODE),),
        notes=tuple(notes),
        activate=(SCRIPT_PATH,),
    )


# The script's rule protocols need Linux 4.17; RHEL/CentOS 7 ship 3.10.
OLD_KERNEL_NOTE = (
    "this instance runs RHEL/CentOS 7, whose kernel (3.10) predates rule protocols (Linux "
    "4.17): the script will fail there; use --target ifcfg (or cloud-init --persist auto)"
)


def script(plan: InstancePlan) -> str:
    """The POSIX sh script that applies `plan` (a managed plan) with `ip` alone."""
    instance_id = values.resource_id("i", plan.instance_id)
    if plan.status != MANAGED or not plan.enis:
        raise ValueError(f"{instance_id}: plan status {plan.status!r}: nothing to apply")
    group = priority = ""
    if plan.guard is not None:
        group = str(_int(plan.guard.group, 1, 2**31 - 1, "guard group"))
        priority = str(_int(plan.guard.priority, 1, 32765, "guard priority"))
    # numbered in table order, the order in which `ip rule` lists their rules
    ordered = sorted(plan.enis, key=lambda eni: _int(eni.table, 1, 2**31 - 1, "table"))
    enis = [_EniData.of(index, eni) for index, eni in enumerate(ordered, start=1)]
    if len({e.mac for e in enis}) != len(enis) or len({e.table for e in enis}) != len(enis):
        raise ValueError(f"{instance_id}: two ENIs share a MAC address or a table")
    uses_ipv6 = any(e.addresses6 or e.rules6 or ":" in " ".join(e.routes) for e in enis)

    lines = [
        "#!/bin/sh",
        marker(plan),
        f"# Policy routing of {instance_id}, a table per ENI (eniplan, target iproute2).",
        "# Needs ip and Linux >= 4.17. Finds links by MAC; adds only what is missing, as",
        f"# protocol {PROTOCOL}; deletes the protocol-{PROTOCOL} rules and routes the plan lacks.",
        "# Exit 1 if an ENI is absent (the rest is applied). ENIPLAN_DRY_RUN=1: print only.",
        "# shellcheck disable=SC2034,SC2059,SC2086,SC2154",
        "set -u",
        "",
        "# --- the plan ---",
        f"INSTANCE={instance_id}",
        f"PROTO={PROTOCOL}",
        f"GROUP={group}  # of the guard ('': none)",
        f"GUARD_PRIO={priority}",
        f"PLAN_IPV6={'1' if uses_ipv6 else ''}",
        f"RA_WAIT={RA_WAIT_SECONDS}  # seconds, for router advertisements",
        f"N={len(enis)}",
    ]
    for eni in enis:
        lines += eni.lines()
    lines += [
        f"MACS=' {' '.join(f'{e.mac}={e.index}' for e in enis)} '",
        f"TABLES=' {' '.join(str(e.table) for e in enis)} '",
        "",
        ENGINE,
    ]
    return "\n".join(lines)


# --- the plan's values, checked again and written as `ip` prints them ------------------


@dataclass(frozen=True)
class _EniData:
    index: int
    eni_id: str
    mac: str
    table: int
    comment: str
    addresses4: tuple[str, ...]
    addresses6: tuple[str, ...]
    rules4: tuple[str, ...]
    rules6: tuple[str, ...]
    routes: tuple[str, ...]

    @classmethod
    def of(cls, index: int, eni: EniPlan) -> _EniData:
        if not isinstance(eni, EniPlan):
            raise ValueError(f"{eni!r} is not an EniPlan")
        eni_id = values.resource_id("eni", eni.eni_id)
        mac = values.mac_address(eni.mac)
        if mac != eni.mac:
            raise ValueError(f"{eni_id}: MAC address {eni.mac!r} is not in normalised form")
        table = _int(eni.table, 1, 2**31 - 1, f"{eni_id} table")
        if table in RESERVED_TABLES:
            raise ValueError(f"{eni_id}: table {table} is one of the kernel's own tables")
        card = _int(eni.network_card_index, 0, 1000, f"{eni_id} network card")
        device = _int(eni.device_index, 0, 1000, f"{eni_id} device index")
        subnet = values.resource_id("subnet", eni.subnet_id)
        role = " (primary)" if eni.is_primary is True else ""
        return cls(
            index=index,
            eni_id=eni_id,
            mac=mac,
            table=table,
            comment=f"{eni_id}{role}, card {card} device {device}, {subnet}",
            addresses4=tuple(_interface_text(a, 4) for a in eni.ipv4_addresses),
            addresses6=tuple(_interface_text(a, 6) for a in eni.ipv6_addresses),
            rules4=_rule_sources(eni, 4),
            rules6=_rule_sources(eni, 6),
            routes=tuple(_route_token(eni, route) for route in eni.routes),
        )

    def lines(self) -> list[str]:
        i = self.index
        return [
            "",
            f"# ENI {i}: {self.comment}",
            f"eni_{i}={self.eni_id} mac_{i}={self.mac} table_{i}={self.table}",
            f"addr4_{i}='{' '.join(self.addresses4)}'",
            f"addr6_{i}='{' '.join(self.addresses6)}'",
            f"rule4_{i}='{' '.join(self.rules4)}'",
            f"rule6_{i}='{' '.join(self.rules6)}'",
            f"route_{i}='{' '.join(self.routes)}'",
        ]


def _int(value: object, low: int, high: int, what: str) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{what} {value!r} is not an integer from {low} to {high}")
    return value


def _address_text(address: object) -> str:
    """An address as `ip` prints it (glibc's inet_ntop for IPv6)."""
    if isinstance(address, IPv4Address):
        return str(address)
    if isinstance(address, IPv6Address):
        return inet6_ntop(address)
    raise ValueError(f"{address!r} is not an ipaddress address")


def _network_text(network: object) -> str:
    """A prefix as `ip rule` and `ip route` print it: a host prefix as a bare address."""
    if not isinstance(network, (IPv4Network, IPv6Network)):
        raise ValueError(f"{network!r} is not an ipaddress network")
    address = _address_text(network.network_address)
    if network.prefixlen == network.max_prefixlen:
        return address
    return f"{address}/{network.prefixlen}"


def _interface_text(interface: object, version: int) -> str:
    if not isinstance(interface, (IPv4Interface, IPv6Interface)) or interface.version != version:
        raise ValueError(f"{interface!r} is not an IPv{version} ipaddress interface")
    return f"{_address_text(interface.ip)}/{interface.network.prefixlen}"


def _rule_sources(eni: EniPlan, version: int) -> tuple[str, ...]:
    sources = []
    for rule in eni.rules:
        if not isinstance(rule, Rule):
            raise ValueError(f"{eni.eni_id}: {rule!r} is not a Rule")
        if rule.table != eni.table or rule.priority != eni.table:
            raise ValueError(
                f"{eni.eni_id}: a rule does not use the ENI's table {eni.table} as its table "
                "and priority"
            )
        if _network_version(rule.source) == version:
            sources.append(_network_text(rule.source))
    return tuple(sources)


def _network_version(network: object) -> int:
    if not isinstance(network, (IPv4Network, IPv6Network)):
        raise ValueError(f"{network!r} is not an ipaddress network")
    return network.version


def _route_token(eni: EniPlan, route: Route) -> str:
    """DESTINATION,GATEWAY,SOURCE. GATEWAY `ra`: the router that router advertisements
    announce on the interface; the default route is written 0.0.0.0/0 or ::/0."""
    if not isinstance(route, Route) or route.table != eni.table:
        raise ValueError(f"{eni.eni_id}: {route!r} is not a route of table {eni.table}")
    version = _network_version(route.destination)
    destination = route.destination
    target = (
        ("0.0.0.0/0" if version == 4 else "::/0")
        if destination.prefixlen == 0
        else _network_text(destination)
    )
    if route.via_ra:
        if version != 6 or destination.prefixlen != 0 or route.gateway is not None:
            raise ValueError(f"{eni.eni_id}: only the IPv6 default route can use the RA router")
        gateway = "ra"
    elif route.gateway is None:
        gateway = ""
    else:
        gateway = _address_text(route.gateway)
        if route.gateway.version != version:
            raise ValueError(f"{eni.eni_id}: route {target} has a gateway of another family")
    source = ""
    if route.source is not None:
        source = _address_text(route.source)
        if route.source.version != version:
            raise ValueError(f"{eni.eni_id}: route {target} has a source of another family")
    return f"{target},{gateway},{source}"


# --- the engine: the same for every plan, and the dynamic agent's (agent/engine.sh) ------

ENGINE = resources.files("eniplan.agent").joinpath("engine.sh").read_text(encoding="utf-8")
