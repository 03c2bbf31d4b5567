"""Parsers for the text that `ip addr show`, `ip rule show` and `ip route show table all`
print (iproute2 3.x to 6.x, `-4`/`-6` forms, `-d` detail lines tolerated).

Every line is read strictly: a line that is not what the command prints (another tool's
output, a truncated capture, an empty file) raises InputError naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_interface,
    ip_network,
)

from eniplan.doctor import selectors
from eniplan.doctor.model import (
    BLACKHOLE,
    GOTO,
    L3MDEV,
    LOOKUP,
    NOP,
    PROHIBIT,
    ROUTE_TYPES,
    UNREACHABLE,
    Address,
    IPAddress,
    IPNetwork,
    KernelRoute,
    KernelRule,
    Link,
    Neighbour,
    Nexthop,
    Selector,
    group_key,
    table_key,
)
from eniplan.errors import InputError

_LINK_HEADER = re.compile(
    r"(?P<index>\d+):\s+(?P<name>[^\s:@]+)(?:@(?P<peer>[^\s:]+))?:\s+<(?P<flags>[^>]*)>(?P<rest>.*)"
)
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_ADDRESS_FLAGS = frozenset(
    {
        "secondary",
        "primary",
        "dynamic",
        "noprefixroute",
        "nodad",
        "tentative",
        "deprecated",
        "dadfailed",
        "temporary",
        "mngtmpaddr",
        "optimistic",
        "home",
        "permanent",
        "stable-privacy",
        "autojoin",
    }
)


class _Lines:
    """The lines of one captured file, numbered from 1, with the file's name for errors."""

    def __init__(self, text: str, path: str, what: str) -> None:
        self.path = path
        self.what = what
        if "\x00" in text:
            raise InputError(f"{path}: binary data, not the output of `{what}`")
        self.lines = text.splitlines()
        if not any(line.strip() for line in self.lines):
            raise InputError(f"{path}: empty: expected the output of `{what}`")
        if not text.endswith("\n"):
            # `ip` ends every line with a newline: a capture cut short does not
            raise self.error(
                len(self.lines), "truncated: no newline at the end (`ip` always ends with one)"
            )

    def __iter__(self) -> Iterator[tuple[int, str]]:
        for number, line in enumerate(self.lines, 1):
            if line.strip():
                yield number, line.rstrip()

    def error(self, number: int, message: str) -> InputError:
        line = self.lines[number - 1].strip()
        if len(line) > 80:
            line = line[:77] + "..."
        if len(message) > 120:  # a word quoted from an overlong line
            message = message[:117] + "..."
        return InputError(f"{self.path}: line {number}: {message} (got {line!r})")


def _address(text: str, lines: _Lines, number: int, what: str) -> IPAddress:
    try:
        return ip_address(text)
    except ValueError:
        raise lines.error(number, f"{what} {text!r} is not an IP address") from None


def _prefix(text: str, lines: _Lines, number: int, what: str) -> IPNetwork:
    try:
        return ip_network(text, strict=False)
    except ValueError:
        raise lines.error(number, f"{what} {text!r} is not an address or prefix") from None


def _int(text: str, lines: _Lines, number: int, what: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise lines.error(number, f"{what} {text!r} is not a number") from None


# --- ip addr show ------------------------------------------------------------------------


@dataclass
class _LinkDraft:
    """A link while its lines are read."""

    name: str
    index: int
    group: str
    flags: tuple[str, ...]
    kind: str = ""
    mac: str | None = None
    altnames: list[str] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)

    def build(self) -> Link:
        return Link(
            name=self.name,
            index=self.index,
            mac=self.mac,
            group=self.group,
            up="UP" in self.flags,
            flags=self.flags,
            altnames=tuple(self.altnames),
            addresses=tuple(self.addresses),
            kind=self.kind,
        )


def parse_addr(text: str, path: str = "ip addr show") -> tuple[Link, ...]:
    """`ip addr show` (also `ip -4/-6 addr`, `ip -d addr`) -> links with their addresses."""
    lines = _Lines(text, path, "ip addr show")
    drafts: list[_LinkDraft] = []
    pending_lft = 0  # line of the last address still waiting for its valid_lft line
    for number, line in lines:
        if not line[0].isspace():
            match = _LINK_HEADER.fullmatch(line)
            if match is None or " mtu " not in f"{match['rest']} ":
                raise lines.error(
                    number, "not `ip addr show` output: expected 'N: NAME: <FLAGS> mtu ...'"
                )
            rest = match["rest"].split()
            group = rest[rest.index("group") + 1] if "group" in rest[:-1] else "0"
            flags = tuple(f for f in match["flags"].split(",") if f)
            drafts.append(_LinkDraft(match["name"], int(match["index"]), group_key(group), flags))
            pending_lft = 0
            continue
        if not drafts:
            raise lines.error(number, "an indented line before the first interface")
        current = drafts[-1]
        words = line.split()
        head = words[0]
        if head.startswith("link/"):
            current.kind = head[len("link/") :]
            if len(words) > 1 and _MAC.fullmatch(words[1]):
                current.mac = words[1]
        elif head == "altname" and len(words) == 2:
            current.altnames.append(words[1])
        elif head in ("inet", "inet6"):
            if pending_lft:
                raise lines.error(pending_lft, "address without its valid_lft line")
            current.addresses.append(_parse_address(words, current.name, lines, number))
            pending_lft = number
        elif head == "valid_lft":
            pending_lft = 0
        # other indented lines: `ip -d` details, `vf` lines, ... (not needed)
    if pending_lft:
        raise lines.error(pending_lft, "truncated: the last address has no valid_lft line")
    return tuple(draft.build() for draft in drafts)


def _parse_address(words: list[str], interface: str, lines: _Lines, number: int) -> Address:
    family = 4 if words[0] == "inet" else 6
    if len(words) < 2:
        raise lines.error(number, f"{words[0]} without an address")
    local = words[1]
    peer: IPNetwork | None = None
    broadcast: IPv4Address | None = None
    scope: str | None = None
    flags: list[str] = []
    index = 2
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else None
        if word in ("peer", "brd", "scope", "metric", "proto") and value is None:
            raise lines.error(number, f"truncated: {word!r} without a value")
        if word == "peer" and value is not None:
            peer = _prefix(value, lines, number, "peer")
            index += 2
        elif word == "brd" and value is not None:
            parsed = _address(value, lines, number, "brd")
            broadcast = parsed if isinstance(parsed, IPv4Address) else None
            index += 2
        elif word == "scope" and value is not None:
            scope = value
            index += 2
        elif word in ("metric", "proto"):
            index += 2
        elif word in _ADDRESS_FLAGS:
            flags.append(word)
            index += 1
        elif family == 4 and scope is not None and index == len(words) - 1:
            index += 1  # the label (eth0, eth0:1)
        else:
            raise lines.error(number, f"unknown word {word!r} in an address line")
    if scope is None:
        raise lines.error(number, "address line without 'scope' (truncated?)")
    if "/" not in local:
        local += f"/{peer.prefixlen}" if peer is not None else ("/32" if family == 4 else "/128")
    try:
        address = ip_interface(local)
    except ValueError:
        raise lines.error(number, f"{local!r} is not an address with a prefix length") from None
    expected = IPv4Interface if family == 4 else IPv6Interface
    if not isinstance(address, expected):
        raise lines.error(number, f"{local!r} is not an IPv{family} address")
    return Address(
        interface=interface,
        address=address,
        scope=scope,
        secondary="secondary" in flags,
        broadcast=broadcast,
        peer=peer,
        flags=tuple(flags),
    )


# --- ip rule show ------------------------------------------------------------------------

_RULE_LINE = re.compile(r"(?P<priority>\d+):\s+(?P<body>\S.*)")
_STANDARD = ("local", "main", "default")


@dataclass(frozen=True)
class RuleListing:
    """One listing of `ip rule show` or `ip -6 rule show` (a file may hold both, one after
    the other: each is sorted by priority, so a lower priority starts the next one)."""

    path: str
    line: int  # its first line
    rules: tuple[KernelRule, ...]
    family: int | None  # that of the addresses in its rules; None: it names none

    def body(self) -> tuple[tuple[int, str], ...]:
        return tuple((rule.priority, " ".join(rule.text.split())) for rule in self.rules)


def rule_listings(text: str, path: str = "ip rule show") -> tuple[RuleListing, ...]:
    lines = _Lines(text, path, "ip rule show")
    sections: list[list[tuple[KernelRule, int | None]]] = [[]]
    previous = -1
    for number, line in lines:
        match = _RULE_LINE.fullmatch(line.strip())
        if match is None:
            raise lines.error(number, "not `ip rule show` output: expected 'PRIORITY:\\tfrom ...'")
        priority = int(match["priority"])
        if priority < previous:
            sections.append([])
        previous = priority
        sections[-1].append(_parse_rule(priority, match["body"], lines, number))
    listings = []
    for section in sections:
        seen = {family for _, family in section if family is not None}
        if len(seen) > 1:
            mixed = next(r.line for r, f in section if f is not None and f != min(seen))
            raise lines.error(mixed or 1, "IPv4 and IPv6 rules mixed in one listing")
        family = seen.pop() if seen else None
        rules = tuple(rule for rule, _ in section)
        listings.append(RuleListing(path, rules[0].line or 1, rules, family))
    return tuple(listings)


def resolve_rule_families(
    listings: tuple[RuleListing, ...], table_families: dict[str, frozenset[int]] | None = None
) -> tuple[tuple[KernelRule, ...], tuple[str, ...]]:
    """The family of every listing, from its content and never from the order of files or
    listings: the addresses in its rules; else the family the other listing does not have;
    else the family of the routes in the tables it looks up (`table_families`); else
    IPv4 if it has the kernel's `32767: from all lookup default` (IPv6 has none).
    Returns the rules and notes on the families that were inferred."""
    where = [f"{listing.path} line {listing.line}" for listing in listings]
    if len(listings) > 2:
        raise InputError(
            f"{where[2]}: a third rule listing (expected `ip rule show` and `ip -6 rule show`)"
        )
    known: dict[int, int] = {}
    for index, listing in enumerate(listings):
        if listing.family is None:
            continue
        if listing.family in known:
            raise InputError(
                f"{where[index]}: IPv{listing.family} rules given twice "
                f"(also at {where[known[listing.family]]})"
            )
        known[listing.family] = index
    families: list[int | None] = [listing.family for listing in listings]
    notes: list[str] = []
    unknown = [index for index, family in enumerate(families) if family is None]
    hints = {index: _family_hint(listings[index], table_families or {}) for index in unknown}
    reasons = {index: reason for index, (_, reason, _) in hints.items()}
    if len(unknown) == 1 and len(listings) == 2:
        (index,) = unknown
        families[index] = 10 - families[1 - index]  # type: ignore[operator]
    elif len(unknown) == 1:
        (index,) = unknown
        families[index] = hints[index][0]
        notes.append(
            f"{where[index]}: the rules name no address; taken as IPv{families[index]} "
            f"({reasons[index]})"
        )
    elif len(unknown) == 2:
        strong = [index for index in (0, 1) if hints[index][2]]
        if strong:
            chosen = strong[0]
        elif hints[0][0] != hints[1][0]:
            chosen = 0
        elif listings[0].body() == listings[1].body():
            chosen = 0  # the same rules in both families: which is which does not matter
            hints[0], reasons[0] = (4, "", False), "both listings are the same"
        else:
            raise InputError(
                f"{where[0]} and {where[1]}: two rule listings that name no address: cannot "
                "tell which is IPv4 (give them as `ip -4 rule show` and `ip -6 rule show` with "
                "at least one address rule, or one of them only)"
            )
        families[chosen] = hints[chosen][0]
        families[1 - chosen] = 10 - hints[chosen][0]
        notes.append(
            f"{where[chosen]}: the rules name no address; taken as IPv{families[chosen]} "
            f"({reasons[chosen]}), {where[1 - chosen]} as IPv{families[1 - chosen]}"
        )
    rules = [
        replace(rule, family=family)
        for family, listing in zip(families, listings, strict=True)
        for rule in listing.rules
        if family is not None
    ]
    return tuple(rules), tuple(notes)


def _family_hint(
    listing: RuleListing, table_families: dict[str, frozenset[int]]
) -> tuple[int, str, bool]:
    """A family for a listing without addresses, why, and whether the reason is strong (the
    routes of its tables) or weak (the kernel's default rules)."""
    votes = {
        family
        for rule in listing.rules
        if rule.table is not None and rule.table not in _STANDARD
        for family in table_families.get(rule.table, frozenset())
    }
    if len(votes) == 1:
        family = votes.pop()
        return family, f"the tables it looks up hold IPv{family} routes", True
    if any(r.priority == 32767 and r.table == "default" for r in listing.rules):
        return 4, "it has `32767: from all lookup default`, which only IPv4 has by default", False
    return 6, "no `32767: from all lookup default`, which IPv4 has by default", False


def parse_rules(text: str, path: str = "ip rule show") -> tuple[KernelRule, ...]:
    """`ip rule show` and/or `ip -6 rule show` -> rules with their family."""
    return resolve_rule_families(rule_listings(text, path))[0]


def rule_families(rules: tuple[KernelRule, ...]) -> frozenset[int]:
    return frozenset(rule.family for rule in rules)


def _parse_rule(
    priority: int, body: str, lines: _Lines, number: int
) -> tuple[KernelRule, int | None]:
    words = body.split()
    fields: dict[str, object] = {}
    found: list[Selector] = []
    attributes: list[str] = []
    family: int | None = None
    action: str | None = None
    index = 0

    def value(offset: int = 1) -> str:
        if index + offset >= len(words):
            raise lines.error(number, f"truncated: {words[index]!r} without a value")
        return words[index + offset]

    while index < len(words):
        word = words[index]
        if word == "not":
            fields["invert"] = True
            index += 1
        elif word in ("from", "to"):
            text = value()
            if text != "all":
                network = _prefix(text, lines, number, word)
                family = network.version
                fields["src" if word == "from" else "dst"] = network
            index += 2
        elif word == "fwmark":
            mark, _, mask = value().partition("/")
            fields["fwmark"] = _int(mark, lines, number, "fwmark")
            fields["fwmask"] = _int(mask, lines, number, "fwmark mask") if mask else 0xFFFFFFFF
            index += 2
        elif word in ("iif", "oif"):
            fields[word] = value()
            index += 2
            if index < len(words) and words[index] == "[detached]":
                index += 1
        elif word in ("lookup", "table"):
            table = value()
            if table == "[l3mdev-table]":  # `l3mdev`: the table of the packet's VRF
                found.append(selectors.from_words("l3mdev", None))
            fields["table"] = table_key(table)
            action = LOOKUP
            index += 2
        elif word == "goto":
            fields["goto"] = _int(value(), lines, number, "goto")
            action = GOTO
            index += 2
            if index < len(words) and words[index] == "[unresolved]":
                index += 1
        elif word in (NOP, UNREACHABLE, BLACKHOLE, PROHIBIT):
            action = word
            index += 1
        elif word == "suppress_prefixlength":
            fields["suppress_prefixlength"] = _int(value(), lines, number, word)
            index += 2
        elif word == "suppress_ifgroup":
            fields["suppress_ifgroup"] = group_key(value())
            index += 2
        elif word in ("proto", "protocol"):
            fields["protocol"] = value()
            index += 2
        elif word in ("realms", "map-to", "nat"):
            attributes.append(f"{word} {value()}")
            index += 2
        elif word == "masquerade":
            attributes.append(word)
            index += 1
        elif word == "l3mdev":
            if not any(s.kind == L3MDEV for s in found):
                found.append(selectors.from_words(word, None))
            index += 1
        elif word in selectors.SELECTOR_WORDS:
            found.append(selectors.from_words(word, value()))
            index += 2
        else:
            # a selector of a newer iproute2: never taken as matching or not matching blindly
            found.append(selectors.from_words(word, None))
            index += 1
    if action is None:
        raise lines.error(number, "rule without an action (lookup, goto, nop, ...: truncated?)")
    rule = KernelRule(
        priority=priority,
        family=family or 4,
        action=action,
        selectors=tuple(found),
        attributes=tuple(attributes),
        text=body,
        line=number,
        **fields,  # type: ignore[arg-type]
    )
    return rule, family


# --- ip route show table all ---------------------------------------------------------------

_ROUTE_FLAGS = frozenset(
    {
        "linkdown",
        "dead",
        "onlink",
        "pervasive",
        "offload",
        "trap",
        "notify",
        "unresolved",
        "rt_offload",
        "rt_trap",
        "rt_offload_failed",
    }
)
# route metrics (RTAX_*): `NAME [lock] VALUE`; printed, no effect on the decision
_METRICS = frozenset(
    {
        "mtu",
        "advmss",
        "window",
        "rtt",
        "rttvar",
        "ssthresh",
        "cwnd",
        "initcwnd",
        "initrwnd",
        "reordering",
        "hoplimit",
        "features",
        "quickack",
        "congctl",
        "fastopen_no_cookie",
        "rto_min",
    }
)
# one value, kept for the report only
_ATTRIBUTES = frozenset(
    {"pref", "expires", "error", "realm", "realms", "age", "users", "used", "ttl-propagate"}
)
_ROUTE_KEYS = frozenset(
    {"dev", "table", "proto", "scope", "src", "metric", "nhid", "tos", "dsfield", "from"}
)


@dataclass
class _RouteDraft:
    fields: dict[str, object]
    nexthops: list[Nexthop]
    family: int | None  # from its addresses (destination, gateway, source)
    ipv6_only: bool  # it prints `pref`, which only IPv6 routes have
    number: int


def parse_routes(text: str, path: str = "ip route show table all") -> tuple[KernelRoute, ...]:
    """`ip route show table all` (both families on iproute2 4.x and newer) and/or
    `ip -6 route show table all` -> routes.

    The family of a route comes from its own line: its addresses (destination, gateway,
    `from`), else `pref`, which the kernel gives every IPv6 route (4.1 and newer), else IPv4
    (`default dev wg0 table 5`, `unreachable default`). Attributes that do not change the
    decision (metrics, realms, encapsulation, expiry, ...) are kept in the route's text.
    """
    lines = _Lines(text, path, "ip route show table all")
    drafts: list[_RouteDraft] = []
    for number, line in lines:
        stripped = line.strip()
        if line[0].isspace():
            if stripped.startswith("nexthop"):
                if not drafts:
                    raise lines.error(number, "a nexthop line before any route")
                words, _ = _without_encap(stripped.split()[1:])
                nexthop = _parse_nexthop(words, lines, number)
                drafts[-1].nexthops.append(nexthop)
                if nexthop.gateway is not None and drafts[-1].family is None:
                    drafts[-1].family = nexthop.gateway.version
            continue  # `cache` and other detail lines
        if stripped.startswith("cache"):
            continue
        drafts.append(_parse_route_line(stripped.split(), lines, number))
    routes: list[KernelRoute] = []
    for draft in drafts:
        family = draft.family or (6 if draft.ipv6_only else 4)
        fields = draft.fields
        dst = fields.pop("dst")
        if dst == "default":
            dst = ip_network("0.0.0.0/0" if family == 4 else "::/0")
        if getattr(dst, "version", family) != family:
            raise lines.error(draft.number, "destination and gateway of different families")
        routes.append(
            KernelRoute(
                family=family,
                dst=dst,  # type: ignore[arg-type]
                nexthops=tuple(draft.nexthops),
                text=lines.lines[draft.number - 1].strip(),
                line=draft.number,
                **fields,  # type: ignore[arg-type]
            )
        )
    return tuple(routes)


def _without_encap(words: list[str]) -> tuple[list[str], str | None]:
    """The words of a route or nexthop without its `encap TYPE ...` part (printed before
    `via` and `dev`; its own `src`, `dst`, `tos` are not the route's), and that part."""
    if "encap" not in words:
        return words, None
    start = words.index("encap")
    end = start + 1
    while end < len(words) and words[end] not in ("via", "dev"):
        end += 1
    return words[:start] + words[end:], " ".join(words[start:end])


def _parse_nexthop(words: list[str], lines: _Lines, number: int) -> Nexthop:
    gateway: IPAddress | None = None
    dev: str | None = None
    weight = 1
    flags: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else None
        if word == "via" and value is not None:
            if value in ("inet", "inet6") and index + 2 < len(words):
                index += 1
                value = words[index + 1]
            gateway = _address(value, lines, number, "gateway")
            index += 2
        elif word == "dev" and value is not None:
            dev = value
            index += 2
        elif word == "weight" and value is not None:
            weight = _int(value, lines, number, "weight")
            index += 2
        elif word in ("realm", "realms") and value is not None:
            index += 2
        elif word in _ROUTE_FLAGS:
            flags.append(word)
            index += 1
        else:
            raise lines.error(number, f"unknown word {word!r} in a nexthop")
    return Nexthop(gateway=gateway, dev=dev, weight=weight, flags=tuple(flags))


def _parse_route_line(all_words: list[str], lines: _Lines, number: int) -> _RouteDraft:
    words, encap = _without_encap(all_words)
    index = 0
    route_type = "unicast"
    if words[0] in ROUTE_TYPES:
        route_type = words[0]
        index = 1
    if index >= len(words):
        raise lines.error(number, "route without a destination")
    dst_text = words[index]
    family: int | None = None
    dst: object = "default"
    if dst_text != "default":
        if not re.fullmatch(r"[0-9a-fA-F:.]+(/\d+)?", dst_text):
            raise lines.error(number, "not `ip route show` output: expected a destination")
        network = _prefix(dst_text, lines, number, "destination")
        family = network.version
        dst = network
    index += 1
    fields: dict[str, object] = {"type": route_type, "dst": dst}
    nexthop_words: list[str] = []
    flags: list[str] = []
    attributes: list[str] = [encap] if encap else []
    ipv6_only = False
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else None
        if word == "via":
            if value is None:
                raise lines.error(number, "truncated: 'via' without a gateway")
            if value in ("inet", "inet6"):  # `via inet6 ADDR`: an IPv6 gateway of IPv4
                index += 1
                value = words[index + 1] if index + 1 < len(words) else None
                if value is None:
                    raise lines.error(number, "truncated: 'via' without a gateway")
            gateway = _address(value, lines, number, "gateway")
            family = family or gateway.version
            nexthop_words += ["via", value]
            index += 2
        elif word in _METRICS:
            locked = value == "lock"
            value = words[index + 2] if locked and index + 2 < len(words) else value
            if value is None or value == "lock":
                raise lines.error(number, f"truncated: {word!r} without a value")
            attributes.append(f"{word} lock {value}" if locked else f"{word} {value}")
            index += 3 if locked else 2
        elif word in _ROUTE_KEYS or word in _ATTRIBUTES:
            if value is None:
                raise lines.error(number, f"truncated: {word!r} without a value")
            if word in _ATTRIBUTES:
                attributes.append(f"{word} {value}")
                ipv6_only = ipv6_only or word == "pref"
            else:
                _route_key(fields, nexthop_words, word, value, lines, number)
                source = fields.get("src")
                if word == "from" and isinstance(source, (IPv4Network, IPv6Network)):
                    family = family or source.version
            index += 2
        elif word in _ROUTE_FLAGS:
            flags.append(word)
            nexthop_words.append(word)
            index += 1
        elif word == "nexthop":
            raise lines.error(number, "multipath nexthops on the route line (expected own lines)")
        else:
            # a word of a newer iproute2 after a valid destination: kept, not used
            attributes.append(word)
            index += 1
    fields["flags"] = tuple(flags)
    fields["attributes"] = tuple(attributes)
    nexthops = []
    if any(w in ("via", "dev") for w in nexthop_words):
        nexthops.append(_parse_nexthop(nexthop_words, lines, number))
    return _RouteDraft(fields, nexthops, family, ipv6_only, number)


def _route_key(
    fields: dict[str, object],
    nexthop_words: list[str],
    word: str,
    value: str,
    lines: _Lines,
    number: int,
) -> None:
    if word == "dev":
        nexthop_words += ["dev", value]
    elif word == "table":
        fields["table"] = table_key(value)
    elif word == "proto":
        fields["protocol"] = value
    elif word == "scope":
        fields["scope"] = value
    elif word == "src":
        fields["prefsrc"] = _address(value, lines, number, "src")
    elif word == "from":
        fields["src"] = _prefix(value, lines, number, "from")
    elif word == "metric":
        fields["metric"] = _int(value, lines, number, "metric")
    elif word == "nhid":
        fields["nhid"] = _int(value, lines, number, "nhid")
    elif word in ("tos", "dsfield"):
        fields["tos"] = _int(value, lines, number, word) if value != "default" else 0


# --- ip neigh show -------------------------------------------------------------------------

_NEIGH_STATES = frozenset(
    {"PERMANENT", "NOARP", "REACHABLE", "STALE", "DELAY", "PROBE", "FAILED", "INCOMPLETE", "NONE"}
)
_NEIGH_FLAGS = frozenset({"router", "proxy", "extern_learn", "offload", "managed", "externally"})


def parse_neigh(text: str, path: str = "ip neigh show") -> tuple[Neighbour, ...]:
    """`ip neigh show` (both families; `-4`/`-6` forms): ADDRESS dev DEV [lladdr MAC]
    [router] ... STATE."""
    lines = _Lines(text, path, "ip neigh show")
    found: list[Neighbour] = []
    for number, line in lines:
        words = line.split()
        address = _address(words[0], lines, number, "neighbour")
        dev: str | None = None
        states: list[str] = []
        index = 1
        while index < len(words):
            word = words[index]
            value = words[index + 1] if index + 1 < len(words) else None
            if word in ("dev", "lladdr", "vlan", "protocol", "nomaster") and value is not None:
                dev = value if word == "dev" else dev
                index += 2
            elif word in _NEIGH_STATES:
                states.append(word)
                index += 1
            elif word in _NEIGH_FLAGS:
                index += 1
            else:
                raise lines.error(number, f"unknown word {word!r} in a neighbour entry")
        if dev is None or not states:
            raise lines.error(
                number, "not `ip neigh show` output: expected 'ADDRESS dev DEV ... STATE'"
            )
        found.append(Neighbour(address, dev, tuple(states)))
    return tuple(found)
