"""Linux's routing decision for a locally generated packet, as a pure function.

`decide(state, flow)` follows the kernel (net/core/fib_rules.c, net/ipv4/fib_rules.c,
fib_trie.c, net/ipv6/fib6_rules.c):

- rules in priority order (equal priorities in listing order); a rule matches when all its
  selectors do (`from`/`to` prefixes against the source and destination, `iif`, `oif`,
  `fwmark`/mask, `tos`/`dscp`, `ipproto`, `sport`/`dport`, `uidrange`, `flowlabel`,
  `tun_id`, `l3mdev`), `not` inverts the whole match; a selector whose field the flow
  leaves open (a reply's protocol, ports, DS field, owner, flow label), or that eniplan
  does not know, is followed both ways: the first decision takes it as not matching, the
  others (`alternatives`) as matching, each with the conditions it assumes;
- actions: `lookup TABLE`; `goto PRIORITY` (to the first rule with exactly that priority;
  unresolved: skipped); `nop`; `unreachable`, `blackhole`, `prohibit` end the lookup with
  an error;
- a table lookup is a longest-prefix match that backtracks to shorter prefixes when no
  route of a prefix can be used (dead nexthops, `oif`), lowest metric first among equal
  prefixes (a route for the packet's `tos` first; IPv6 source-specific routes as
  fib6_node_lookup_1 walks its subtrees); `unreachable`/`blackhole`/`prohibit` routes end
  the lookup with an error, `throw` and a missing or empty table continue with the next
  rule; among several routes of one prefix the gateways' neighbour entries decide
  (fib_select_default, rt6_select), and are followed both ways when not known;
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

from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address, ip_network

from eniplan.doctor.model import (
    BLACKHOLE,
    DPORT,
    DSCP,
    ERROR_ROUTE_TYPES,
    FLOWLABEL,
    GOTO,
    IPPROTO,
    L3MDEV,
    LOOKUP,
    NEIGHBOUR,
    NOP,
    PROHIBIT,
    SPORT,
    TUN_ID,
    UID,
    UNREACHABLE,
    Address,
    HostState,
    IPAddress,
    KernelRoute,
    KernelRule,
    Link,
    Nexthop,
    Selector,
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
    """A packet to route. The fields a reply's socket decides (DS field, protocol, ports,
    owner, IPv6 flow label) are None when unknown: a rule or route that tests one is then
    followed both ways, and the decision lists what each way needs."""

    dst: IPAddress
    src: IPAddress | None = None
    iif: str = "lo"
    oif: str | None = None
    mark: int = 0
    tos: int | None = None  # the DS field (TOS byte)
    ipproto: int | None = None
    sport: int | None = None
    dport: int | None = None
    uid: int | None = None
    flowlabel: int | None = None
    tun_id: int = 0  # locally generated packets carry no tunnel metadata

    @property
    def family(self) -> int:
        return self.dst.version


@dataclass(frozen=True)
class Decision:
    flow: Flow
    outcome: str
    rule: KernelRule | None = None  # the rule whose lookup (or action) decided
    route: KernelRoute | None = None
    nexthop: Nexthop | None = None
    src: IPAddress | None = None  # the source address the packet gets
    steps: tuple[str, ...] = ()  # why: one line per rule looked at
    # what this decision assumes of the selectors the flow leaves open ("ipproto tcp: no")
    conditions: tuple[str, ...] = ()
    # the decisions under the other assumptions (on the first decision only)
    alternatives: tuple[Decision, ...] = ()
    complete: bool = True  # False: more alternatives than MAX_PATHS were left out

    @property
    def assumed(self) -> str:
        """What this decision assumes, e.g. "ipproto tcp, not dport 443-445"."""
        return ", ".join(
            c.removesuffix(": yes") if c.endswith(": yes") else "not " + c.removesuffix(": no")
            for c in self.conditions
        )

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


MAX_PATHS = 32  # decisions followed for one flow (selectors the flow leaves open)
_EXCLUSIVE = (DSCP, IPPROTO)  # a packet has one value: two different ones cannot both match


class _Oracle:
    """The answers to the selector tests a flow leaves open, for one way through the rules:
    fixed ones first, then "no" for each new question, remembering the "yes" still to try."""

    def __init__(self, fixed: dict[Selector, bool]) -> None:
        self.answers = dict(fixed)
        self.branches: list[dict[Selector, bool]] = []
        self.used: list[Selector] = []
        self.texts: dict[Selector, str] = {}

    def __call__(self, selector: Selector) -> bool:
        key = replace(selector, text="")
        if key not in self.answers:
            exclusive = key.kind in _EXCLUSIVE and any(
                answer and other.kind == key.kind and other != key
                for other, answer in self.answers.items()
            )
            if not exclusive:
                self.branches.append({**self.answers, key: True})
            self.answers[key] = False
        if key not in self.used:
            self.used.append(key)
            self.texts[key] = selector.describe()
        return self.answers[key]

    def conditions(self) -> tuple[str, ...]:
        return tuple(
            f"{self.texts[key]}: {'yes' if self.answers[key] else 'no'}" for key in self.used
        )


def decide(state: HostState, flow: Flow) -> Decision:
    """The kernel's answer to `ip route get DST [from SRC] [iif IIF] [oif OIF] [mark M]
    [tos T] [ipproto P] [sport S] [dport D] [uid U]`; with fields of the flow left open,
    the first decision assumes that no open selector matches, and its alternatives hold
    the others."""
    pending: list[dict[Selector, bool]] = [{}]
    decisions: list[Decision] = []
    while pending and len(decisions) < MAX_PATHS:
        oracle = _Oracle(pending.pop(0))
        decision = _decide(state, flow, oracle)
        decisions.append(replace(decision, conditions=oracle.conditions()))
        pending.extend(oracle.branches)
    first = decisions[0]
    return replace(first, alternatives=tuple(decisions[1:]), complete=not pending)


def _decide(state: HostState, flow: Flow, oracle: _Oracle) -> Decision:
    rules = state.rules_for(flow.family)
    steps: list[str] = []
    index = 0
    jumps = 0
    while index < len(rules):
        rule = rules[index]
        index += 1
        if not _matches(state, rule, flow, oracle):
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
            return _done(flow, _RULE_ERRORS[rule.action], rule, None, None, steps)
        if rule.action != LOOKUP or rule.table is None:
            continue
        route, nexthop = lookup_table(state, rule.table, flow, oracle)
        if route is None:
            steps.append(f"{label}: no route in table {rule.table}")
            continue
        if route.type == "throw":
            steps.append(f"{label}: throw {route.dst} in table {rule.table}")
            continue
        if route.type in ERROR_ROUTE_TYPES:
            steps.append(f"{label}: {route.type} {route.dst} in table {rule.table}")
            outcome = _ROUTE_ERRORS[route.type]
            return _done(flow, outcome, rule, route, None, steps)
        suppressed = _suppressed(state, rule, route)
        if suppressed:
            steps.append(f"{label}: {route.describe()} suppressed ({suppressed})")
            continue
        chosen = _neighbour_choice(state, rule.table, route, flow, oracle)
        if chosen is not route:
            steps.append(f"{label}: {route.describe()}, but the kernel takes another (neighbours)")
            route, nexthop = chosen, _usable_nexthop(state, chosen, flow)
        steps.append(f"{label}: {route.describe()}")
        return _done(flow, ROUTED, rule, route, nexthop, steps, state)
    steps.append("no rule found a route")
    return _done(flow, NO_ROUTE, None, None, None, steps)


def _done(
    flow: Flow,
    outcome: str,
    rule: KernelRule | None,
    route: KernelRoute | None,
    nexthop: Nexthop | None,
    steps: list[str],
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
    )


def _canonical(state: HostState, name: str | None) -> str | None:
    link = state.link(name)
    return link.name if link else name


def _matches(state: HostState, rule: KernelRule, flow: Flow, oracle: _Oracle) -> bool:
    """Does the rule match (fib_rule_match): every selector must; `not` inverts the whole.
    A selector the flow leaves open is asked of the oracle."""
    src = flow.src if flow.src is not None else _unspecified(flow.family)
    mismatches = (
        rule.iif is not None and _canonical(state, rule.iif) != _canonical(state, flow.iif),
        rule.oif is not None and _canonical(state, rule.oif) != _canonical(state, flow.oif),
        rule.fwmark is not None and bool((rule.fwmark ^ flow.mark) & (rule.fwmask or 0)),
        rule.dst is not None and (rule.dst.version != flow.family or flow.dst not in rule.dst),
        rule.src is not None and (rule.src.version != flow.family or src not in rule.src),
    )
    result = not any(mismatches)
    if result:
        known = [selector_matches(selector, flow) for selector in rule.selectors]
        if False in known:
            result = False
        else:
            open_ = [s for s, k in zip(rule.selectors, known, strict=True) if k is None]
            result = all(oracle(selector) for selector in open_)  # stops at the first "no"
    return not result if rule.invert else result


def selector_matches(selector: Selector, flow: Flow) -> bool | None:
    """A selector against the flow (net/core/fib_rules.c, fib4/fib6_rule_match); None when
    the flow leaves its field open."""
    if selector.kind == DSCP:
        if flow.tos is None:
            return None
        return not ((flow.tos >> 2) ^ selector.value) & (selector.mask or 0)
    if selector.kind == FLOWLABEL:
        if flow.flowlabel is None:
            return None
        return (flow.flowlabel & (selector.mask or 0)) == selector.value
    if selector.kind == TUN_ID:
        return flow.tun_id == selector.value
    if selector.kind == L3MDEV:
        # only a packet bound to a VRF device (oif, or iif of a forwarded one) matches
        return False if flow.oif is None and flow.iif == "lo" else None
    value = {IPPROTO: flow.ipproto, SPORT: flow.sport, DPORT: flow.dport, UID: flow.uid}.get(
        selector.kind
    )
    if selector.kind not in (IPPROTO, SPORT, DPORT, UID) or value is None:
        return None  # UNKNOWN: never taken as matching or not matching blindly
    if selector.kind == IPPROTO:
        return value == selector.value
    if selector.mask is not None:
        return (value & selector.mask) == selector.value
    return selector.value <= value <= selector.high


def _unspecified(family: int) -> IPAddress:
    return IPv4Address(0) if family == 4 else IPv6Address(0)


def lookup_table(
    state: HostState, table: str, flow: Flow, oracle: _Oracle | None = None
) -> tuple[KernelRoute | None, Nexthop | None]:
    """Longest prefix first; among equal prefixes a route for the packet's DS field before
    those for any (`tos`), then the lowest metric; a prefix whose routes cannot be used (dead
    nexthops, another `oif`) gives way to a shorter one.

    IPv6 source-specific routes (`from PREFIX`) hang in a subtree of their destination
    prefix (fib6_node_lookup_1): once a prefix has one, a packet whose source is in none of
    their source prefixes skips the whole prefix, its routes without `from` included; one
    whose source is in them takes the longest source prefix first, then (backtracking) the
    routes without `from`."""
    ask = oracle or _Oracle({})
    src = flow.src if flow.src is not None else _unspecified(flow.family)
    routes = [
        route
        for route in state.routes_for(flow.family, table)
        if flow.dst in route.dst and route.type not in ("multicast", "nat")
    ]
    subtrees = {route.dst for route in routes if route.src is not None}
    entered = {r.dst for r in routes if r.src is not None and src in r.src}
    candidates = [
        route
        for route in routes
        if (route.dst not in subtrees or route.dst in entered)
        and (route.src is None or src in route.src)
        and _tos_matches(route, flow, ask)
    ]
    candidates.sort(
        key=lambda r: (-r.dst.prefixlen, -(r.src.prefixlen + 1 if r.src else 0), -r.tos, r.metric)
    )
    for route in candidates:
        if route.type in (*ERROR_ROUTE_TYPES, "throw"):
            return route, None
        nexthop = _usable_nexthop(state, route, flow)
        if nexthop is not None or (route.type == "local" and not route.nexthops):
            return route, nexthop
    return None, None


def _tos_matches(route: KernelRoute, flow: Flow, oracle: _Oracle) -> bool:
    if not route.tos:
        return True
    selector = Selector(DSCP, value=route.tos >> 2, mask=0x3F, text=f"tos {hex(route.tos)}")
    known = selector_matches(selector, flow)
    return oracle(selector) if known is None else known


def _usable_nexthop(state: HostState, route: KernelRoute, flow: Flow) -> Nexthop | None:
    for nexthop in route.nexthops:
        if nexthop.dead:
            continue
        if flow.oif is not None and _canonical(state, nexthop.dev) != _canonical(state, flow.oif):
            continue
        return nexthop
    return None


# --- several routes for one prefix: the neighbours decide -----------------------------------


def _neighbour_choice(
    state: HostState, table: str, route: KernelRoute, flow: Flow, oracle: _Oracle
) -> KernelRoute:
    """The route the kernel takes among several of one prefix and metric, which depends on
    the gateways' neighbour entries (`ip neigh`): IPv4's fib_select_default for default
    routes, IPv6's rt6_select (CONFIG_IPV6_ROUTER_PREF, forwarding off: a gateway whose
    neighbour is FAILED is passed over). When the neighbours were not captured, or the
    kernel's memory of the default it used last decides (IPv4, a gateway in STALE, DELAY,
    PROBE, PERMANENT or NOARP), every possible route is followed."""
    if flow.oif is not None or route.type != "unicast":
        return route
    if route.family == 4:
        candidates = _ipv4_default_candidates(state, table, route, flow)
        if state.neighbours is None:
            picks = candidates
        else:
            picks = [_ipv4_pick(state, candidates, dflt) for dflt in range(-1, len(candidates))]
    else:
        candidates = _ipv6_candidates(state, table, route, flow)
        if state.neighbours is None:
            # each route up to the first that no neighbour can fail (no gateway, onlink)
            picks = []
            for candidate in candidates:
                picks.append(candidate)
                if not _may_fail(candidate):
                    break
        else:
            alive = [r for r in candidates if not _failed(state, r)]
            picks = alive[:1] or candidates[:1]
    picks = list(dict.fromkeys(picks))  # in order, once each
    if len(picks) <= 1:
        return picks[0] if picks else route
    for index, pick in enumerate(picks[:-1]):
        nexthop = pick.nexthops[0]
        entry = state.neighbour(nexthop.gateway, nexthop.dev) if nexthop.gateway else None
        why = (
            "neighbours not captured"
            if state.neighbours is None
            else f"neighbour {','.join(entry.states) if entry else 'none'}; the kernel's "
            "memory of the default it used last decides"
        )
        question = Selector(
            NEIGHBOUR,
            value=index,
            text=f"{nexthop.gateway or 'route'} dev {nexthop.dev} unusable ({why})",
        )
        if not oracle(question):
            return pick
    return picks[-1]


def _ipv4_default_candidates(
    state: HostState, table: str, route: KernelRoute, flow: Flow
) -> list[KernelRoute]:
    """fib_select_default's list: the table's default routes from the one found, of its
    metric and scope, unicast, alive, with a gateway (only when the table has several)."""
    if route.dst.prefixlen != 0 or len(route.nexthops) != 1:
        return [route]
    defaults = [r for r in state.routes_for(4, table) if r.dst.prefixlen == 0]
    if len(defaults) <= 1:
        return [route]
    candidates: list[KernelRoute] = []
    for other in defaults:
        if other.tos and (flow.tos is None or (other.tos >> 2) != (flow.tos >> 2)):
            continue
        if other.metric > route.metric:
            break
        if other.type != "unicast" or (other.scope or "global") != (route.scope or "global"):
            continue
        if len(other.nexthops) != 1 or other.nexthops[0].dead:
            continue
        if other.nexthops[0].gateway is None:
            continue
        if not candidates and other is not route:
            break
        candidates.append(other)
    return candidates or [route]


def _ipv4_pick(state: HostState, candidates: list[KernelRoute], dflt: int) -> KernelRoute:
    """fib_select_default and fib_detect_death (net/ipv4/fib_semantics.c), for one value of
    the kernel's memory `fa_default` (-1, or the order of the default it used last)."""
    last_resort: KernelRoute | None = None
    last_idx = -1

    def dead(route: KernelRoute, order: int) -> bool:
        nonlocal last_resort, last_idx
        nexthop = route.nexthops[0]
        entry = state.neighbour(nexthop.gateway, nexthop.dev) if nexthop.gateway else None
        if entry is None:
            return False
        states = set(entry.states)
        if "REACHABLE" in states or (entry.valid and order != dflt):
            return False
        if entry.valid or (last_idx < 0 and order > dflt and "INCOMPLETE" not in states):
            last_resort, last_idx = route, order
        return True

    if len(candidates) == 1:
        return candidates[0]
    for order, route in enumerate(candidates[:-1]):
        if not dead(route, order):
            return route
    if not dead(candidates[-1], len(candidates) - 1):
        return candidates[-1]
    return last_resort if last_idx >= 0 and last_resort is not None else candidates[0]


def _ipv6_candidates(
    state: HostState, table: str, route: KernelRoute, flow: Flow
) -> list[KernelRoute]:
    """rt6_select's list: the routes of the found prefix (and source prefix), by metric,
    usable for the flow."""
    same = [
        r
        for r in state.routes_for(6, table)
        if r.dst == route.dst
        and r.src == route.src
        and r.type == "unicast"
        and _usable_nexthop(state, r, flow) is not None
    ]
    same.sort(key=lambda r: r.metric)
    return same or [route]


def _may_fail(route: KernelRoute) -> bool:
    """rt6_check_neigh looks at one gateway that is not `onlink` (multipath: hashed)."""
    if len(route.nexthops) != 1:
        return False
    nexthop = route.nexthops[0]
    return nexthop.gateway is not None and "onlink" not in nexthop.flags


def _failed(state: HostState, route: KernelRoute) -> bool:
    gateway = route.nexthops[0].gateway if _may_fail(route) else None
    if gateway is None:
        return False
    entry = state.neighbour(gateway, route.nexthops[0].dev)
    return entry is not None and "FAILED" in entry.states


def _suppressed(state: HostState, rule: KernelRule, route: KernelRoute) -> str:
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
    state: HostState, route: KernelRoute, nexthop: Nexthop | None, dst: IPAddress
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


def host_route(address: IPAddress) -> KernelRoute:
    """`local ADDRESS dev lo table local`: what the kernel adds for a local address."""
    prefix = ip_network(f"{address}/{address.max_prefixlen}")
    return KernelRoute(family=address.version, dst=prefix, table="local", type="local")
