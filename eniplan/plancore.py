"""The planner's pure core: an ENI's facts -> its table, rules and routes.

Standard library only: the static planner (plan/) and the boot agent (agent/) both call
it, and dynamic user data embeds this file verbatim. One planner, not two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)

DEFAULT_TABLE_BASE = 10000
# Rule priorities (= tables) must stay below the main rule (32766). The largest instances
# have 32 network cards; with up to 100 devices per card this is the highest safe base.
MAIN_RULE_PRIORITY = 32766
MAX_NETWORK_CARDS = 32
MAX_TABLE_BASE = MAIN_RULE_PRIORITY - 1 - 100 * (MAX_NETWORK_CARDS - 1) - 99
MIN_TABLE_BASE = 1000
# The rtnetlink protocol number on every rule and route eniplan installs.
PROTOCOL = 247
# Seconds the engine waits for an IPv6 router advertisement (ENIPLAN_RA_WAIT overrides).
RA_WAIT_SECONDS = 5


class PlanError(ValueError):
    """Facts that cannot be planned; the message names the instance and ENI."""


@dataclass(frozen=True)
class Rule:
    """`ip rule add from SOURCE lookup TABLE priority PRIORITY`."""

    source: IPv4Network | IPv6Network  # a /32 or /128 for an address, else the prefix
    table: int
    priority: int

    @property
    def family(self) -> int:
        return self.source.version


@dataclass(frozen=True)
class Route:
    """A route in an ENI's table. `gateway` None: on-link; `via_ra`: the IPv6 router that
    router advertisements announce on the interface, learned at apply time."""

    destination: IPv4Network | IPv6Network  # 0.0.0.0/0 or ::/0 for the default
    table: int
    gateway: IPv4Address | None = None
    source: IPv4Address | None = None
    via_ra: bool = False

    @property
    def family(self) -> int:
        return self.destination.version

    @property
    def is_default(self) -> bool:
        return self.destination.prefixlen == 0


@dataclass(frozen=True)
class EniPlan:
    eni_id: str
    mac: str
    network_card_index: int
    device_index: int
    table: int
    is_primary: bool
    subnet_id: str
    subnet_cidr: IPv4Network | None
    router: IPv4Address | None
    ipv6_subnets: tuple[IPv6Network, ...]
    # addresses to configure on the interface (with the subnet's prefix length). On the
    # primary ENI the OS (DHCP) owns the primary IPv4: it is not in this list.
    ipv4_addresses: tuple[IPv4Interface, ...]
    ipv6_addresses: tuple[IPv6Interface, ...]
    primary_ipv4: IPv4Address | None
    rules: tuple[Rule, ...]
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class EniFacts:
    """What the planner needs of one attached ENI (from the inventory or from IMDS)."""

    eni_id: str
    mac: str
    network_card_index: int
    device_index: int
    subnet_id: str
    subnet_cidr: IPv4Network | None  # None: an IPv6-only subnet
    ipv6_subnets: tuple[IPv6Network, ...] = ()
    primary_ipv4: IPv4Address | None = None
    secondary_ipv4s: tuple[IPv4Address, ...] = ()
    ipv4_prefixes: tuple[IPv4Network, ...] = ()
    ipv6_addresses: tuple[IPv6Address, ...] = ()
    ipv6_prefixes: tuple[IPv6Network, ...] = ()

    @property
    def is_primary(self) -> bool:
        return self.network_card_index == 0 and self.device_index == 0


_DEFAULT4, _DEFAULT6 = IPv4Network("0.0.0.0/0"), IPv6Network("::/0")


def plan_eni(facts: EniFacts, base: int, where: str) -> EniPlan:
    """The table, addresses, rules and routes of one ENI; `where` prefixes errors."""
    card, device = facts.network_card_index, facts.device_index
    table = base + 100 * card + device
    if table >= MAIN_RULE_PRIORITY or device >= 100:
        raise PlanError(
            f"{where}: network card {card} device {device} gives table {table}, not below "
            f"the main rule's priority {MAIN_RULE_PRIORITY}"
        )
    cidr = facts.subnet_cidr
    ipv4 = (() if facts.primary_ipv4 is None else (facts.primary_ipv4,)) + facts.secondary_ipv4s
    ipv4_addresses: list[IPv4Interface] = []
    for address in ipv4:
        if cidr is None or address not in cidr:
            raise PlanError(
                f"{where}: address {address} is outside its subnet "
                f"{facts.subnet_id} ({cidr or 'IPv6-only'})"
            )
        if not (facts.is_primary and address == facts.primary_ipv4):  # DHCP's
            # (int, length): no text to format and parse again
            ipv4_addresses.append(IPv4Interface((int(address), cidr.prefixlen)))
    for prefix in facts.ipv4_prefixes:
        if cidr is None or not prefix.subnet_of(cidr):
            raise PlanError(f"{where}: IPv4 prefix {prefix} is outside its subnet {cidr}")
    ipv6_addresses: list[IPv6Interface] = []
    for address6 in facts.ipv6_addresses:
        home = next((net for net in facts.ipv6_subnets if address6 in net), None)
        if home is None:
            raise PlanError(
                f"{where}: IPv6 address {address6} is in none of the subnet's IPv6 blocks "
                f"({', '.join(map(str, facts.ipv6_subnets)) or 'none'})"
            )
        ipv6_addresses.append(IPv6Interface((int(address6), home.prefixlen)))
    for prefix6 in facts.ipv6_prefixes:
        if not any(prefix6.subnet_of(net) for net in facts.ipv6_subnets):
            raise PlanError(f"{where}: IPv6 prefix {prefix6} is outside the subnet's blocks")

    sources: list[IPv4Network | IPv6Network] = [
        *(IPv4Network((int(a), 32)) for a in ipv4),
        *facts.ipv4_prefixes,
        *(IPv6Network((int(a), 128)) for a in facts.ipv6_addresses),
        *facts.ipv6_prefixes,
    ]
    router = None if cidr is None else cidr.network_address + 1
    if cidr is not None and cidr.prefixlen > 30:  # (AWS subnets: /16 to /28)
        raise PlanError(
            f"{where}: subnet {cidr} has no router address: its table would cut the path to IMDS"
        )
    routes: list[Route] = []
    if facts.primary_ipv4 is not None and cidr is not None:
        routes.append(Route(_DEFAULT4, table, gateway=router))
        routes.append(Route(cidr, table, source=facts.primary_ipv4))
    if facts.ipv6_addresses or facts.ipv6_prefixes:
        routes.append(Route(_DEFAULT6, table, via_ra=True))
        routes.extend(Route(net, table) for net in facts.ipv6_subnets)
    return EniPlan(
        eni_id=facts.eni_id,
        mac=facts.mac,
        network_card_index=card,
        device_index=device,
        table=table,
        is_primary=facts.is_primary,
        subnet_id=facts.subnet_id,
        subnet_cidr=cidr,
        router=router,
        ipv6_subnets=facts.ipv6_subnets,
        ipv4_addresses=tuple(ipv4_addresses),
        ipv6_addresses=tuple(ipv6_addresses),
        primary_ipv4=facts.primary_ipv4,
        rules=tuple(Rule(source, table, table) for source in sources),
        routes=tuple(routes),
    )


def plan_enis(instance_id: str, enis: list[EniFacts], base: int) -> tuple[EniPlan, ...]:
    """Every managed ENI's plan; one MAC and one table per ENI."""
    macs = [eni.mac for eni in enis]
    if len(set(macs)) != len(macs):
        raise PlanError(f"{instance_id}: two ENIs share one MAC address")
    plans = tuple(plan_eni(eni, base, f"{instance_id} {eni.eni_id}") for eni in enis)
    owner: dict[IPv4Address | IPv6Address, str] = {}  # one address, one ENI; no router
    for eni in enis:  # (the facts' addresses: the plans' without making them again)
        primary = () if eni.primary_ipv4 is None else (eni.primary_ipv4,)
        for address in dict.fromkeys(primary + eni.secondary_ipv4s + eni.ipv6_addresses):
            if address in owner:
                raise PlanError(
                    f"{instance_id}: address {address} is on two ENIs "
                    f"({owner[address]}, {eni.eni_id})"
                )
            owner[address] = eni.eni_id
    for plan in plans:
        if plan.router in owner:
            raise PlanError(
                f"{instance_id} {plan.eni_id}: the router of {plan.subnet_cidr}, "
                f"{plan.router}, is this instance's own address ({owner[plan.router]}): its "
                "table would cut the path to IMDS"
            )
    if len({p.table for p in plans}) != len(plans):
        raise PlanError(
            f"{instance_id}: two ENIs map to one routing table "
            "(the same network card and device index)"
        )
    return plans


# --- plan values as `ip` prints them: what the engine (agent/engine.sh) compares --------


def inet6_ntop(address: IPv6Address) -> str:
    """glibc's inet_ntop, as `ip` prints: ::ffff:a.b.c.d and ::a.b.c.d keep a dotted IPv4
    tail; any other address as Python writes it, which is glibc's form too (the longest run,
    the first of equals, of two or more zero words becomes ::)."""
    words = [int.from_bytes(address.packed[i : i + 2], "big") for i in range(0, 16, 2)]
    if words[:5] == [0] * 5 and (words[5] == 0xFFFF or (words[5] == 0 and words[6] != 0)):
        dotted = str(IPv4Address(address.packed[12:]))
        return f"::ffff:{dotted}" if words[5] == 0xFFFF else f"::{dotted}"
    return str(address)


def ip_text(address: IPv4Address | IPv6Address) -> str:
    return inet6_ntop(address) if isinstance(address, IPv6Address) else str(address)


def network_text(network: IPv4Network | IPv6Network) -> str:
    """A prefix as `ip rule` and `ip route` print it: a host prefix as a bare address."""
    text = ip_text(network.network_address)
    return text if network.prefixlen == network.max_prefixlen else f"{text}/{network.prefixlen}"


def route_token(route: Route) -> str:
    """DESTINATION,GATEWAY,SOURCE. GATEWAY `ra`: the router that router advertisements
    announce on the interface; the default route is written 0.0.0.0/0 or ::/0."""
    default = "0.0.0.0/0" if route.family == 4 else "::/0"
    gateway = "ra" if route.via_ra else ip_text(route.gateway) if route.gateway else ""
    source = ip_text(route.source) if route.source else ""
    return f"{default if route.is_default else network_text(route.destination)},{gateway},{source}"


def engine_input(instance_id: str, enis: Sequence[EniPlan], base: int, guard: bool) -> str:
    """The one writer of engine.sh's input (the iproute2 target and the agent): the plan as
    sh variables, ENIs numbered in table order (the order `ip rule` lists their rules).
    Only typed values reach it (the iproute2 target checks a plan's first)."""
    enis = sorted(enis, key=lambda eni: eni.table)
    lines = []
    for i, eni in enumerate(enis, start=1):
        role = " (primary)" if eni.is_primary else ""
        card, device = eni.network_card_index, eni.device_index
        rules = [(r.family, network_text(r.source)) for r in eni.rules]
        addresses = [f"{ip_text(a.ip)}/{a.network.prefixlen}" for a in eni.ipv4_addresses]
        addresses6 = [f"{ip_text(a.ip)}/{a.network.prefixlen}" for a in eni.ipv6_addresses]
        lines += [
            "",
            f"# ENI {i}: {eni.eni_id}{role}, card {card} device {device}, {eni.subnet_id}",
            f"eni_{i}={eni.eni_id} mac_{i}={eni.mac} table_{i}={eni.table}",
            f"addr4_{i}='{' '.join(addresses)}'",
            f"addr6_{i}='{' '.join(addresses6)}'",
            f"rule4_{i}='{' '.join(text for family, text in rules if family == 4)}'",
            f"rule6_{i}='{' '.join(text for family, text in rules if family == 6)}'",
            f"route_{i}='{' '.join(route_token(r) for r in eni.routes)}'",
        ]
    ipv6 = any(e.ipv6_addresses or any(r.family == 6 for r in e.rules + e.routes) for e in enis)
    macs = " ".join(f"{i}={eni.mac}" for i, eni in enumerate(enis, start=1))
    return "\n".join(
        [
            "# --- the plan ---",
            f"INSTANCE={instance_id}",
            f"PROTO={PROTOCOL}",
            f"GUARD={'1' if guard and enis else ''}  # the main table's ('': none)",
            f"GROUP={base} GUARD_PRIO={base - 1}  # eniplan's netdev group, the guard's priority",
            f"PLAN_IPV6={'1' if ipv6 else ''}",
            f"RA_WAIT={RA_WAIT_SECONDS}  # seconds, for router advertisements",
            f"N={len(enis)}",
            *lines,
            f"MACS=' {macs} '",
            f"TABLES=' {' '.join(str(eni.table) for eni in enis)} '",
        ]
    )
