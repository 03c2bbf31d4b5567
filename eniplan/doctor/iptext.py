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
    IPv6Interface,
    ip_address,
    ip_interface,
    ip_network,
)

from eniplan.doctor.model import (
    BLACKHOLE,
    GOTO,
    LOOKUP,
    NOP,
    PROHIBIT,
    ROUTE_TYPES,
    UNREACHABLE,
    Address,
    IPAddress,
    IPNetwork,
    Link,
    Nexthop,
    Route,
    Rule,
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
_UNMODELLED_WITH_VALUE = ("tos", "dsfield", "uidrange", "ipproto", "sport", "dport", "tun_id")


def parse_rules(
    text: str, path: str = "ip rule show", taken: frozenset[int] = frozenset()
) -> tuple[Rule, ...]:
    """`ip rule show` and/or `ip -6 rule show` -> rules with their family.

    The two may be in one file, one after the other: each family's listing is sorted by
    priority, so a priority lower than the one before starts the next listing. A listing's
    family is that of the addresses in its rules; a listing without any is IPv4 if it comes
    first and IPv6 if it follows another (`ip rule; ip -6 rule`), or the opposite of the
    other listing's family, or of `taken` (the families earlier files gave).
    """
    lines = _Lines(text, path, "ip rule show")
    sections: list[list[tuple[Rule, int | None]]] = [[]]
    previous = -1
    for number, line in lines:
        match = _RULE_LINE.fullmatch(line.strip())
        if match is None:
            raise lines.error(number, "not `ip rule show` output: expected 'PRIORITY:\\tfrom ...'")
        priority = int(match["priority"])
        if priority < previous:
            sections.append([])
        previous = priority
        rule, family = _parse_rule(priority, match["body"], lines, number)
        sections[-1].append((rule, family))
    families: list[int | None] = []
    for section in sections:
        seen = {family for _, family in section if family is not None}
        if len(seen) > 1:
            mixed = next(r.line for r, f in section if f is not None and f != min(seen))
            raise lines.error(mixed or 1, "IPv4 and IPv6 rules mixed in one listing")
        families.append(seen.pop() if seen else None)
    if len(sections) > 2:
        start = sections[2][0][0].line or 1
        raise lines.error(start, "a third rule listing (expected `ip rule` and `ip -6 rule`)")
    known = [f for f in families if f is not None]
    if len(sections) == 2 and len(known) == 2 and known[0] == known[1]:
        start = sections[1][0][0].line or 1
        raise lines.error(start, f"two IPv{known[0]} rule listings in one file")
    resolved: list[int] = []
    for position, family in enumerate(families):
        if family is None:
            other = [f for f in families if f is not None] + sorted(taken)
            positional = 4 if position == 0 else 6
            family = 10 - other[0] if len(set(other)) == 1 else positional
        resolved.append(family)
    rules: list[Rule] = []
    for family, section in zip(resolved, sections, strict=True):
        rules.extend(_with_family(rule, family) for rule, _ in section)
    return tuple(rules)


def rule_families(rules: tuple[Rule, ...]) -> frozenset[int]:
    return frozenset(rule.family for rule in rules)


def _with_family(rule: Rule, family: int) -> Rule:
    return replace(rule, family=family)


def _parse_rule(priority: int, body: str, lines: _Lines, number: int) -> tuple[Rule, int | None]:
    words = body.split()
    fields: dict[str, object] = {}
    unmodelled: list[str] = []
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
            fields["table"] = table_key(value())
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
        elif word in ("realms", "map-to"):
            index += 2
        elif word in _UNMODELLED_WITH_VALUE:
            unmodelled.append(f"{word} {value()}")
            index += 2
        elif word == "l3mdev":
            unmodelled.append(word)
            index += 1
        else:
            raise lines.error(number, f"unknown word {word!r} in a rule")
    if action is None:
        raise lines.error(number, "rule without an action (lookup, goto, nop, ...: truncated?)")
    rule = Rule(
        priority=priority,
        family=family or 4,
        action=action,
        unmodelled=tuple(unmodelled),
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
        "rt_offload",
        "rt_trap",
        "rt_offload_failed",
    }
)
_ROUTE_KEYS_ONE = frozenset(
    {
        "table",
        "proto",
        "scope",
        "src",
        "metric",
        "pref",
        "advmss",
        "hoplimit",
        "expires",
        "error",
        "nhid",
        "tos",
        "dsfield",
        "realms",
        "rtt",
        "rttvar",
        "ssthresh",
        "cwnd",
        "initcwnd",
        "initrwnd",
        "window",
        "reordering",
        "features",
        "quickack",
        "congctl",
        "fastopen_no_cookie",
        "ttl-propagate",
        "from",
        "rto_min",
        "age",
        "users",
        "used",
        "weight",
        "dev",
    }
)


def parse_routes(text: str, path: str = "ip route show table all") -> tuple[Route, ...]:
    """`ip route show table all` and/or `ip -6 route show table all` -> routes.

    A route's family is that of its destination or gateway; `default` without a gateway
    takes the family of the nearest route before it whose family is known (the listings
    are printed one family after the other), IPv6 where iproute2 prints `pref`.
    """
    lines = _Lines(text, path, "ip route show table all")
    parsed: list[tuple[dict[str, object], list[Nexthop], int | None, int]] = []
    for number, line in lines:
        stripped = line.strip()
        if line[0].isspace():
            if stripped.startswith("nexthop"):
                if not parsed:
                    raise lines.error(number, "a nexthop line before any route")
                parsed[-1][1].append(_parse_nexthop(stripped.split()[1:], lines, number))
            continue  # `cache` and other detail lines
        if stripped.startswith("cache"):
            continue
        fields, nexthop, family = _parse_route_line(stripped.split(), lines, number)
        parsed.append((fields, [nexthop] if nexthop else [], family, number))
    routes: list[Route] = []
    families = [family for _, _, family, _ in parsed]
    for position, (fields, nexthops, family, number) in enumerate(parsed):
        if family is None:
            before = [f for f in families[:position] if f is not None]
            after = [f for f in families[position + 1 :] if f is not None]
            family = before[-1] if before else (after[0] if after else 4)
        dst = fields.pop("dst")
        if dst == "default":
            dst = ip_network("0.0.0.0/0" if family == 4 else "::/0")
        elif isinstance(dst, str):
            dst = _prefix(dst, lines, number, "destination")
        if getattr(dst, "version", family) != family:
            raise lines.error(number, "destination and gateway of different families")
        routes.append(
            Route(
                family=family,
                dst=dst,  # type: ignore[arg-type]
                nexthops=tuple(nexthops),
                text=lines.lines[number - 1].strip(),
                line=number,
                **fields,  # type: ignore[arg-type]
            )
        )
    return tuple(routes)


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
        elif word in _ROUTE_FLAGS:
            flags.append(word)
            index += 1
        else:
            raise lines.error(number, f"unknown word {word!r} in a nexthop")
    return Nexthop(gateway=gateway, dev=dev, weight=weight, flags=tuple(flags))


def _parse_route_line(
    words: list[str], lines: _Lines, number: int
) -> tuple[dict[str, object], Nexthop | None, int | None]:
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
        network = _prefix(dst_text, lines, number, "destination")
        if not re.fullmatch(r"[0-9a-fA-F:.]+(/\d+)?", dst_text):
            raise lines.error(number, "not `ip route show` output: expected a destination")
        family = network.version
        dst = network
    index += 1
    fields: dict[str, object] = {"type": route_type, "dst": dst}
    nexthop_words: list[str] = []
    flags: list[str] = []
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
        elif word == "mtu":
            index += 3 if value == "lock" else 2
        elif word in _ROUTE_KEYS_ONE:
            if value is None:
                raise lines.error(number, f"truncated: {word!r} without a value")
            _route_key(fields, nexthop_words, word, value, lines, number)
            if word == "pref":
                family = family or 6
            index += 2
        elif word in _ROUTE_FLAGS:
            flags.append(word)
            nexthop_words.append(word)
            index += 1
        elif word == "nexthop":
            raise lines.error(number, "multipath nexthops on the route line (expected own lines)")
        else:
            raise lines.error(number, f"unknown word {word!r} in a route")
    fields["flags"] = tuple(flags)
    nexthop = None
    if any(w in ("via", "dev") for w in nexthop_words):
        nexthop = _parse_nexthop(nexthop_words, lines, number)
    return fields, nexthop, family


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
    elif word == "metric":
        fields["metric"] = _int(value, lines, number, "metric")
    elif word == "nhid":
        fields["nhid"] = _int(value, lines, number, "nhid")
    elif word in ("tos", "dsfield"):
        fields["tos"] = _int(value, lines, number, word) if value != "default" else 0
