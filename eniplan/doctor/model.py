"""What `eniplan doctor` knows about a host: links, addresses, policy rules and routes.

One model for both inputs: the JSON of `ip -j ...` (live) and the text of `ip addr show`,
`ip rule show`, `ip route show table all` (captured). Values only; parsing lives in
iptext.py and ipjson.py, the routing decision in simulate.py.

Tables are kept as iproute2 prints them: a number as its decimal string, the three
standard tables by name ("local" 255, "main" 254, "default" 253), and any other name from
/etc/iproute2/rt_tables as the name (rules and routes printed by the same `ip` agree on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
IPInterface = IPv4Interface | IPv6Interface

STANDARD_TABLES = {"255": "local", "254": "main", "253": "default", "0": "unspec"}
LOCAL, MAIN, DEFAULT = "local", "main", "default"

# rule actions
LOOKUP, GOTO, NOP = "lookup", "goto", "nop"
UNREACHABLE, BLACKHOLE, PROHIBIT = "unreachable", "blackhole", "prohibit"
RULE_ACTIONS = (LOOKUP, GOTO, NOP, UNREACHABLE, BLACKHOLE, PROHIBIT)

# route types (rtnetlink names, as `ip route` prints them)
ROUTE_TYPES = (
    "unicast",
    "local",
    "broadcast",
    "multicast",
    "anycast",
    "unreachable",
    "blackhole",
    "prohibit",
    "throw",
    "nat",
)
ERROR_ROUTE_TYPES = ("unreachable", "blackhole", "prohibit")


def table_key(value: str | int) -> str:
    """A table as iproute2 prints it: 254 -> "main", "10001" -> "10001", "web" -> "web"."""
    text = str(value)
    return STANDARD_TABLES.get(text, text)


def group_key(value: str | int) -> str:
    """A netdev group: "default" is group 0."""
    text = str(value)
    return "0" if text == "default" else text


@dataclass(frozen=True)
class Address:
    interface: str
    address: IPInterface  # address with its prefix length
    scope: str = "global"
    secondary: bool = False
    broadcast: IPv4Address | None = None
    peer: IPNetwork | None = None  # point-to-point peer prefix
    flags: tuple[str, ...] = ()  # dynamic, noprefixroute, nodad, tentative, deprecated, ...

    @property
    def ip(self) -> IPAddress:
        return self.address.ip

    @property
    def family(self) -> int:
        return self.address.version

    @property
    def usable(self) -> bool:
        """An address a server answers from: global scope, not tentative or failed DAD."""
        return self.scope == "global" and not {"tentative", "dadfailed"} & set(self.flags)


@dataclass(frozen=True)
class Link:
    name: str
    index: int | None = None
    mac: str | None = None
    group: str = "0"
    up: bool = True
    flags: tuple[str, ...] = ()
    altnames: tuple[str, ...] = ()
    addresses: tuple[Address, ...] = ()
    kind: str = ""  # link/ether, link/loopback, ... (without "link/")

    @property
    def is_loopback(self) -> bool:
        return self.kind == "loopback" or "LOOPBACK" in self.flags


# rule selectors beyond from/to/iif/oif/fwmark, by the flow field they test
# and one question that is not a selector: which of several equal routes the kernel takes
NEIGHBOUR = "neighbour"
DSCP, IPPROTO, SPORT, DPORT, UID, L3MDEV, TUN_ID, FLOWLABEL, UNKNOWN = (
    "dscp",
    "ipproto",
    "sport",
    "dport",
    "uid",
    "l3mdev",
    "tun_id",
    "flowlabel",
    "unknown",
)


@dataclass(frozen=True)
class Selector:
    """One of those selectors: `tos`/`dsfield`/`dscp` (the DSCP and a mask), `ipproto`,
    `sport`/`dport`/`uidrange` (a range, or a value and a mask), `l3mdev`, `tun_id`,
    `flowlabel` (value and mask), or a word eniplan does not know (never matched blindly)."""

    kind: str
    value: int = 0  # the low end of a range, or the value compared under `mask`
    high: int = 0  # the high end of a range
    mask: int | None = None  # masked comparison instead of a range
    text: str = ""  # as iproute2 prints it

    def describe(self) -> str:
        return self.text or self.kind


@dataclass(frozen=True)
class KernelRule:
    """One `ip rule`: selectors, an action, and the suppressors of a lookup."""

    priority: int
    family: int
    action: str = LOOKUP
    table: str | None = None  # for lookup
    goto: int | None = None  # for goto
    invert: bool = False  # `not`
    src: IPNetwork | None = None  # None: from all
    dst: IPNetwork | None = None
    iif: str | None = None
    oif: str | None = None
    fwmark: int | None = None
    fwmask: int | None = None
    suppress_prefixlength: int | None = None
    suppress_ifgroup: str | None = None
    protocol: str | None = None
    selectors: tuple[Selector, ...] = ()  # tos, ipproto, ports, uidrange, l3mdev, ...
    attributes: tuple[str, ...] = ()  # printed, no effect on the decision (realms, nat)
    text: str = ""  # the line as captured (text input) or as iproute2 would print it
    line: int | None = None  # line in the captured file

    def describe(self) -> str:
        return " ".join(self.text.split()) if self.text else rule_text(self)


@dataclass(frozen=True)
class Nexthop:
    gateway: IPAddress | None = None
    dev: str | None = None
    weight: int = 1
    flags: tuple[str, ...] = ()  # dead, linkdown, onlink, pervasive

    @property
    def dead(self) -> bool:
        return "dead" in self.flags


@dataclass(frozen=True)
class KernelRoute:
    family: int
    dst: IPNetwork
    table: str = MAIN
    type: str = "unicast"
    nexthops: tuple[Nexthop, ...] = ()
    metric: int = 0
    protocol: str | None = None
    scope: str | None = None
    prefsrc: IPAddress | None = None
    tos: int = 0  # the DS field a packet needs to take this route (0: any)
    flags: tuple[str, ...] = ()
    nhid: int | None = None  # a nexthop object (`ip route` prints its nexthops too)
    src: IPNetwork | None = None  # `from PREFIX`: an IPv6 source-specific route
    # printed, no effect on the decision: metrics, realms, encap, expires, pref, ...
    attributes: tuple[str, ...] = ()
    text: str = ""
    line: int | None = None

    @property
    def is_default(self) -> bool:
        return self.dst.prefixlen == 0

    @property
    def devs(self) -> tuple[str, ...]:
        return tuple(nh.dev for nh in self.nexthops if nh.dev)

    def describe(self) -> str:
        return " ".join(self.text.split()) if self.text else route_text(self)


NUD_VALID = frozenset({"PERMANENT", "NOARP", "REACHABLE", "PROBE", "STALE", "DELAY"})


@dataclass(frozen=True)
class Neighbour:
    """One entry of `ip neigh show`: a gateway's link-layer state decides which of several
    equal default routes the kernel takes."""

    address: IPAddress
    dev: str
    states: tuple[str, ...]  # REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE, ...

    @property
    def valid(self) -> bool:
        """NUD_VALID: the kernel has a link-layer address it may use."""
        return bool(
            set(self.states) & {"PERMANENT", "NOARP", "REACHABLE", "PROBE", "STALE", "DELAY"}
        )


@dataclass(frozen=True)
class HostState:
    links: tuple[Link, ...]
    rules: tuple[KernelRule, ...]
    routes: tuple[KernelRoute, ...]
    # families whose rules were given; for the others the kernel's defaults are assumed
    rule_families: frozenset[int] = frozenset({4, 6})
    sources: tuple[str, ...] = ()  # where it came from, for the report
    notes: tuple[str, ...] = ()
    raw_addr_text: str | None = None  # `ip addr show` text, for the EC2Rescue parity
    raw_rule_text: str | None = None  # `ip rule show` (IPv4) text, likewise
    neighbours: tuple[Neighbour, ...] | None = None  # None: `ip neigh` not captured
    by_name: dict[str, Link] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        names: dict[str, Link] = {}
        for link in self.links:
            names[link.name] = link
            for alt in link.altnames:
                names.setdefault(alt, link)
        object.__setattr__(self, "by_name", names)

    def link(self, name: str | None) -> Link | None:
        return self.by_name.get(name) if name else None

    def addresses(self) -> tuple[Address, ...]:
        return tuple(a for link in self.links for a in link.addresses)

    def local_ips(self) -> frozenset[IPAddress]:
        return frozenset(a.ip for a in self.addresses())

    def rules_for(self, family: int) -> tuple[KernelRule, ...]:
        if family not in self.rule_families:
            return default_rules(family)
        return tuple(sorted((r for r in self.rules if r.family == family), key=_rule_order))

    def neighbour(self, address: IPAddress, dev: str | None) -> Neighbour | None:
        link = self.link(dev)
        for entry in self.neighbours or ():
            entry_link = self.link(entry.dev)
            if entry.address == address and (entry_link or entry.dev) == (link or dev):
                return entry
        return None

    def routes_for(self, family: int, table: str) -> tuple[KernelRoute, ...]:
        return tuple(r for r in self.routes if r.family == family and r.table == table)


def _rule_order(rule: KernelRule) -> int:
    return rule.priority


def default_rules(family: int) -> tuple[KernelRule, ...]:
    """The rules a kernel starts with (IPv6 has no `default` rule)."""
    rules = [KernelRule(0, family, table=LOCAL), KernelRule(32766, family, table=MAIN)]
    if family == 4:
        rules.append(KernelRule(32767, family, table=DEFAULT))
    return tuple(rules)


def _prefix_text(network: IPNetwork) -> str:
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def rule_text(rule: KernelRule) -> str:
    """A rule as `ip rule show` prints it (without the priority)."""
    words: list[str] = []
    if rule.invert:
        words.append("not")
    words += ["from", _prefix_text(rule.src) if rule.src is not None else "all"]
    if rule.dst is not None:
        words += ["to", _prefix_text(rule.dst)]
    if rule.fwmark is not None:
        mark = hex(rule.fwmark)
        if rule.fwmask is not None and rule.fwmask != 0xFFFFFFFF:
            mark += f"/{hex(rule.fwmask)}"
        words += ["fwmark", mark]
    if rule.iif:
        words += ["iif", rule.iif]
    if rule.oif:
        words += ["oif", rule.oif]
    words += [selector.describe() for selector in rule.selectors]
    if rule.action == LOOKUP:
        words += ["lookup", rule.table or "?"]
    elif rule.action == GOTO:
        words += ["goto", str(rule.goto)]
    else:
        words.append(rule.action)
    if rule.suppress_prefixlength is not None:
        words += ["suppress_prefixlength", str(rule.suppress_prefixlength)]
    if rule.suppress_ifgroup is not None:
        words += ["suppress_ifgroup", rule.suppress_ifgroup]
    if rule.protocol:
        words += ["proto", rule.protocol]
    return " ".join(words)


def route_text(route: KernelRoute) -> str:
    words: list[str] = []
    if route.type != "unicast":
        words.append(route.type)
    words.append("default" if route.is_default else _prefix_text(route.dst))
    if route.src is not None:
        words += ["from", str(route.src)]
    if route.tos:
        words += ["tos", hex(route.tos)]
    if len(route.nexthops) == 1:
        nh = route.nexthops[0]
        if nh.gateway is not None:
            words += ["via", str(nh.gateway)]
        if nh.dev:
            words += ["dev", nh.dev]
    if route.table != MAIN:
        words += ["table", route.table]
    if route.protocol:
        words += ["proto", route.protocol]
    if route.scope:
        words += ["scope", route.scope]
    if route.prefsrc is not None:
        words += ["src", str(route.prefsrc)]
    if route.metric:
        words += ["metric", str(route.metric)]
    words += list(route.attributes)
    if len(route.nexthops) > 1:
        for nh in route.nexthops:
            words.append("nexthop")
            if nh.gateway is not None:
                words += ["via", str(nh.gateway)]
            if nh.dev:
                words += ["dev", nh.dev]
            words += ["weight", str(nh.weight)]
    return " ".join(words)


# --- what the instance metadata service says about the ENIs ---------------------------------


@dataclass(frozen=True)
class ImdsEni:
    mac: str
    device_number: int
    network_card: int
    interface_id: str | None
    local_ipv4s: tuple[IPv4Address, ...]
    subnet_ipv4: IPv4Network | None
    ipv6s: tuple[IPv6Address, ...]
    subnet_ipv6: tuple[IPv6Network, ...]


@dataclass(frozen=True)
class ImdsInfo:
    instance_id: str | None
    enis: tuple[ImdsEni, ...]
