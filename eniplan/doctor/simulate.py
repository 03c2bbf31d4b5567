"""Linux's routing decision for a locally generated packet, as a pure function.

`decide(state, flow)` follows the kernel (net/core/fib_rules.c, net/ipv4/fib_rules.c,
fib_trie.c, net/ipv6/fib6_rules.c):

- rules in priority order (equal priorities in listing order); a rule matches when all its
  selectors do (`from`/`to` prefixes against the source and destination, `iif`, `oif`,
  `fwmark`/mask), `not` inverts the whole match; selectors the model does not know (tos,
  ipproto, ports, uidrange, l3mdev) make the rule not match, and the decision says so;
- actions: `lookup TABLE`; `goto PRIORITY` (to the first rule with exactly that priority;
  unresolved: skipped); `nop`; `unreachable`, `blackhole`, `prohibit` end the lookup with
  an error;
- a table lookup is a longest-prefix match that backtracks to shorter prefixes when no
  route of a prefix can be used (dead nexthops, `oif`), lowest metric first among equal
  prefixes; `unreachable`/`blackhole`/`prohibit` routes end the lookup with an error,
  `throw` and a missing or empty table continue with the next rule;
- a found route is suppressed (the next rule is tried) when its prefix length is at most
  the rule's `suppress_prefixlength`, or its device is in the rule's `suppress_ifgroup`;
- locally generated packets have input interface `lo` and firewall mark 0 unless the flow
  says otherwise; the source address, when the flow has none, is the route's `src`, else a
  primary address of the output device (the one in the gateway's subnet first), as
  inet_select_addr picks it (IPv6: the address on the device sharing the longest prefix
  with the destination, a simplification of RFC 6724).

Multipath routes report their first live nexthop and all of their devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_network

from eniplan.doctor.model import (
    BLACKHOLE,
    ERROR_ROUTE_TYPES,
    GOTO,
    LOOKUP,
    NOP,
    PROHIBIT,
    UNREACHABLE,
    Address,
    HostState,
    IPAddress,
    Link,
    Nexthop,
    Route,
    Rule,
)

# outcomes, with the errno `ip route get` reports
ROUTED = "routed"
NO_ROUTE = "no-route"  # ENETUNREACH: no rule found a route
RULE_UNREACHABLE = "rule-unreachable"  # ENETUNREACH: an `unreachable` rule
ROUTE_UNREACHABLE = "route-unreachable"  # EHOSTUNREACH
PROHIBITED = "prohibited"  # EACCES
BLACKHOLED = "blackholed"  # EINVAL

_RULE_ERRORS = {UNREACHABLE: RULE_UNREACHABLE, PROHIBIT: PROHIBITED, BLACKHOLE: BLACKHOLED}
_ROUTE_ERRORS = {"unreachable": ROUTE_UNREACHABLE, "prohibit": PROHIBITED, "blackhole": BLACKHOLED}


def errno_name(outcome: str, family: int) -> str | None:
    """The error `ip route get` fails with for an outcome (None: it succeeds)."""
    return {
        ROUTED: None,
        NO_ROUTE: "ENETUNREACH",
        RULE_UNREACHABLE: "ENETUNREACH",
        ROUTE_UNREACHABLE: "EHOSTUNREACH",
        PROHIBITED: "EACCES",
        BLACKHOLED: "EINVAL",
    }[outcome]


@dataclass(frozen=True)
class Flow:
    dst: IPAddress
    src: IPAddress | None = None
    iif: str = "lo"
    oif: str | None = None
    mark: int = 0

    @property
    def family(self) -> int:
        return self.dst.version


@dataclass(frozen=True)
class Decision:
    flow: Flow
    outcome: str
    rule: Rule | None = None  # the rule whose lookup (or action) decided
    route: Route | None = None
    nexthop: Nexthop | None = None
    src: IPAddress | None = None  # the source address the packet gets
    steps: tuple[str, ...] = ()  # why: one line per rule looked at
    unmodelled: tuple[str, ...] = ()  # rules skipped because of selectors not modelled

    @property
    def routed(self) -> bool:
        return self.outcome == ROUTED

    @property
    def dev(self) -> str | None:
        if self.route is None:
            return None
        if self.route.type == "local":
            return "lo"
        return self.nexthop.dev if self.nexthop else None

    @property
    def gateway(self) -> IPAddress | None:
        return self.nexthop.gateway if self.nexthop else None

    @property
    def table(self) -> str | None:
        return self.route.table if self.route else None

    @property
    def devs(self) -> tuple[str, ...]:
        """Every device the decision may use (all live nexthops of a multipath route)."""
        if self.route is None:
            return ()
        if self.route.type == "local":
            return ("lo",)
        live = [nh.dev for nh in self.route.nexthops if nh.dev and not nh.dead]
        return tuple(dict.fromkeys(live))

    def describe(self) -> str:
        if not self.routed:
            reason = {
                NO_ROUTE: "no route",
                RULE_UNREACHABLE: "unreachable (rule)",
                ROUTE_UNREACHABLE: "unreachable (route)",
                PROHIBITED: "prohibited",
                BLACKHOLED: "blackhole",
            }[self.outcome]
            where = f" (table {self.route.table})" if self.route else ""
            return reason + where
        parts = []
        if self.gateway is not None:
            parts.append(f"via {self.gateway}")
        parts.append(f"dev {self.dev}")
        parts.append(f"table {self.table}")
        return " ".join(parts)


def decide(state: HostState, flow: Flow) -> Decision:
    """The kernel's answer to `ip route get DST [from SRC] [iif IIF] [oif OIF] [mark M]`."""
    rules = state.rules_for(flow.family)
    steps: list[str] = []
    unmodelled: list[str] = []
    index = 0
    jumps = 0
    while index < len(rules):
        rule = rules[index]
        index += 1
        matched, skipped = _matches(state, rule, flow)
        if skipped:
            unmodelled.append(f"{rule.priority}: {rule.describe()}")
        if not matched:
            continue
        label = f"{rule.priority}: {rule.describe()}"
        if rule.action == GOTO:
            target = next((i for i, r in enumerate(rules) if r.priority == rule.goto), None)
            if target is None or jumps > len(rules):
                steps.append(f"{label}: goto target missing, skipped")
                continue
            steps.append(f"{label}: jump")
            index = target
            jumps += 1
            continue
        if rule.action == NOP:
            steps.append(f"{label}: nop")
            continue
        if rule.action in _RULE_ERRORS:
            steps.append(f"{label}: {rule.action}")
            return _done(flow, _RULE_ERRORS[rule.action], rule, None, None, steps, unmodelled)
        if rule.action != LOOKUP or rule.table is None:
            continue
        route, nexthop = lookup_table(state, rule.table, flow)
        if route is None:
            steps.append(f"{label}: no route in table {rule.table}")
            continue
        if route.type == "throw":
            steps.append(f"{label}: throw {route.dst} in table {rule.table}")
            continue
        if route.type in ERROR_ROUTE_TYPES:
            steps.append(f"{label}: {route.type} {route.dst} in table {rule.table}")
            outcome = _ROUTE_ERRORS[route.type]
            return _done(flow, outcome, rule, route, None, steps, unmodelled)
        suppressed = _suppressed(state, rule, route)
        if suppressed:
            steps.append(f"{label}: {route.describe()} suppressed ({suppressed})")
            continue
        steps.append(f"{label}: {route.describe()}")
        return _done(flow, ROUTED, rule, route, nexthop, steps, unmodelled, state)
    steps.append("no rule found a route")
    return _done(flow, NO_ROUTE, None, None, None, steps, unmodelled)


def _done(
    flow: Flow,
    outcome: str,
    rule: Rule | None,
    route: Route | None,
    nexthop: Nexthop | None,
    steps: list[str],
    unmodelled: list[str],
    state: HostState | None = None,
) -> Decision:
    src = flow.src
    if src is None and state is not None and route is not None:
        src = select_source(state, route, nexthop, flow.dst)
    return Decision(
        flow=flow,
        outcome=outcome,
        rule=rule,
        route=route,
        nexthop=nexthop,
        src=src,
        steps=tuple(steps),
        unmodelled=tuple(unmodelled),
    )


def _canonical(state: HostState, name: str | None) -> str | None:
    link = state.link(name)
    return link.name if link else name


def _matches(state: HostState, rule: Rule, flow: Flow) -> tuple[bool, bool]:
    """(does the rule match, was it decided by a selector the model does not know)."""
    src = flow.src if flow.src is not None else _unspecified(flow.family)
    mismatches = (
        rule.iif is not None and _canonical(state, rule.iif) != _canonical(state, flow.iif),
        rule.oif is not None and _canonical(state, rule.oif) != _canonical(state, flow.oif),
        rule.fwmark is not None and bool((rule.fwmark ^ flow.mark) & (rule.fwmask or 0)),
        rule.dst is not None and (rule.dst.version != flow.family or flow.dst not in rule.dst),
        rule.src is not None and (rule.src.version != flow.family or src not in rule.src),
    )
    result = not any(mismatches)
    skipped = False
    if result and rule.unmodelled:
        result, skipped = False, True
    return (not result if rule.invert else result), skipped


def _unspecified(family: int) -> IPAddress:
    return IPv4Address(0) if family == 4 else IPv6Address(0)


def lookup_table(state: HostState, table: str, flow: Flow) -> tuple[Route | None, Nexthop | None]:
    """Longest prefix first; among equal prefixes the lowest metric; a prefix whose routes
    cannot be used (dead nexthops, another `oif`) gives way to a shorter one."""
    candidates = [
        route
        for route in state.routes_for(flow.family, table)
        if flow.dst in route.dst and route.tos == 0 and route.type not in ("multicast", "nat")
    ]
    candidates.sort(key=lambda r: (-r.dst.prefixlen, r.metric))
    for route in candidates:
        if route.type in (*ERROR_ROUTE_TYPES, "throw"):
            return route, None
        nexthop = _usable_nexthop(state, route, flow)
        if nexthop is not None or (route.type == "local" and not route.nexthops):
            return route, nexthop
    return None, None


def _usable_nexthop(state: HostState, route: Route, flow: Flow) -> Nexthop | None:
    for nexthop in route.nexthops:
        if nexthop.dead:
            continue
        if flow.oif is not None and _canonical(state, nexthop.dev) != _canonical(state, flow.oif):
            continue
        return nexthop
    return None


def _suppressed(state: HostState, rule: Rule, route: Route) -> str:
    if rule.suppress_prefixlength is not None and (
        route.dst.prefixlen <= rule.suppress_prefixlength
    ):
        return f"/{route.dst.prefixlen} <= suppress_prefixlength {rule.suppress_prefixlength}"
    if rule.suppress_ifgroup is not None and route.nexthops:
        link = state.link(route.nexthops[0].dev)
        if link is not None and link.group == rule.suppress_ifgroup:
            return f"{link.name} is in suppress_ifgroup {rule.suppress_ifgroup}"
    return ""


# --- source address selection --------------------------------------------------------------


def select_source(
    state: HostState, route: Route, nexthop: Nexthop | None, dst: IPAddress
) -> IPAddress | None:
    if route.prefsrc is not None:
        return route.prefsrc
    if route.type == "local":
        return dst
    link = state.link(nexthop.dev if nexthop else None)
    if route.family == 4:
        return _select_ipv4(state, link, nexthop.gateway if nexthop else None)
    return _select_ipv6(state, link, dst)


def _select_ipv4(
    state: HostState, link: Link | None, gateway: IPAddress | None
) -> IPAddress | None:
    """inet_select_addr: the device's primary addresses, the gateway's subnet first; else
    the first global address of another device."""
    primaries = [
        a
        for a in (link.addresses if link else ())
        if a.family == 4 and not a.secondary and a.scope in ("global", "link", "host")
    ]
    for address in primaries:
        if gateway is not None and gateway in address.address.network:
            return address.ip
    if primaries:
        return primaries[0].ip
    for other in state.links:
        for address in other.addresses:
            if address.family == 4 and address.scope == "global" and not address.secondary:
                return address.ip
    return None


def _select_ipv6(state: HostState, link: Link | None, dst: IPAddress) -> IPAddress | None:
    def common(address: Address) -> int:
        return _common_prefix(int(address.ip), int(dst), 128)

    def usable(address: Address) -> bool:
        return address.family == 6 and address.usable and "deprecated" not in address.flags

    own = [a for a in (link.addresses if link else ()) if usable(a)]
    if own:
        return max(own, key=common).ip
    others = [a for other in state.links for a in other.addresses if usable(a)]
    return max(others, key=common).ip if others else None


def _common_prefix(a: int, b: int, bits: int) -> int:
    difference = a ^ b
    return bits - difference.bit_length()


def host_route(address: IPAddress) -> Route:
    """`local ADDRESS dev lo table local`: what the kernel adds for a local address."""
    prefix = ip_network(f"{address}/{address.max_prefixlen}")
    return Route(family=address.version, dst=prefix, table="local", type="local")
