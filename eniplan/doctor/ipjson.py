"""Parsers for `ip -j addr show`, `ip -j -4/-6 rule show` and `ip -j -4/-6 route show
table all` (iproute2's JSON: the live input of `eniplan doctor`)."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, ip_address, ip_interface, ip_network
from typing import Any

from eniplan.doctor import selectors
from eniplan.doctor.model import (
    GOTO,
    LOOKUP,
    NOP,
    Address,
    IPAddress,
    IPNetwork,
    KernelRoute,
    KernelRule,
    Link,
    Neighbour,
    Nexthop,
    group_key,
    table_key,
)
from eniplan.errors import InputError
from eniplan.fileio import where_json_breaks

_ADDRESS_FLAGS = (
    "dynamic",
    "noprefixroute",
    "nodad",
    "tentative",
    "deprecated",
    "dadfailed",
    "temporary",
    "mngtmpaddr",
    "optimistic",
    "permanent",
)
# keys of `ip -j rule show` the parser reads; any other is a selector of a newer iproute2,
# which is never taken as matching or not matching blindly
_RULE_KEYS = frozenset(
    {
        "priority", "src", "srclen", "dst", "dstlen", "not", "tos", "dsfield", "fwmark",
        "fwmask", "iif", "iif_detached", "oif", "oif_detached", "l3mdev", "uid_start",
        "uid_end", "tun_id", "table", "suppress_prefixlen", "suppress_ifgroup", "flow_from",
        "flow_to", "nat", "masquerade", "goto", "unresolved", "action", "nop", "protocol",
        "ipproto", "sport", "sport_start", "sport_end", "sport_mask", "dport", "dport_start",
        "dport_end", "dport_mask", "dscp", "dscp_mask", "flowlabel", "flowlabel_mask",
    }
)  # fmt: skip
# route keys that are printed and kept, but do not change the decision
_ROUTE_ATTRIBUTES = ("pref", "expires", "error", "flow", "ttl-propagate", "metrics")


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object where a repeated key keeps its first value: iproute2 prints an `encap ip`
    route's tunnel `dst`, `src`, `tos` after the route's own under the same keys."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        result.setdefault(key, value)
    if "encap" in result:  # printed before the nexthop's `gateway` and `dev`
        keys = [key for key, _ in pairs]
        words = []
        for key, value in pairs[keys.index("encap") :]:
            if key in ("gateway", "via", "dev"):
                break
            words.append(f"{key} {value}")
        result["encap"] = " ".join(words)
    return result


def load(text: str, what: str) -> list[dict[str, Any]]:
    """A JSON list of objects, as `ip -j` prints it (empty output: an empty list)."""
    if not text.strip():
        return []
    try:
        data = json.loads(text, object_pairs_hook=_first_wins)
    except json.JSONDecodeError as error:
        raise InputError(f"{what}: not JSON ({where_json_breaks(error)})") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise InputError(f"{what}: expected a JSON list of objects")
    return data


def _ip(value: object, what: str) -> IPAddress:
    try:
        return ip_address(str(value))
    except ValueError:
        raise InputError(f"{what}: {value!r} is not an IP address") from None


def _net(address: object, length: object, what: str) -> IPNetwork:
    text = str(address) if length is None else f"{address}/{length}"
    try:
        return ip_network(text, strict=False)
    except ValueError:
        raise InputError(f"{what}: {text!r} is not an address or prefix") from None


def parse_addr(items: list[dict[str, Any]], what: str = "ip -j addr show") -> tuple[Link, ...]:
    links: list[Link] = []
    for item in items:
        name = str(item.get("ifname", ""))
        if not name:
            raise InputError(f"{what}: a link without 'ifname'")
        addresses: list[Address] = []
        for info in item.get("addr_info", []):
            family = info.get("family")
            if family not in ("inet", "inet6") or "local" not in info:
                continue
            try:
                address = ip_interface(f"{info['local']}/{info.get('prefixlen')}")
            except ValueError:
                raise InputError(f"{what}: {name}: bad address {info.get('local')!r}") from None
            flags = tuple(key for key in _ADDRESS_FLAGS if info.get(key))
            broadcast = info.get("broadcast")
            parsed_brd = _ip(broadcast, what) if broadcast else None
            peer = info.get("address")  # the peer of a point-to-point address
            addresses.append(
                Address(
                    interface=name,
                    address=address,
                    scope=str(info.get("scope", "global")),
                    secondary=bool(info.get("secondary")),
                    broadcast=parsed_brd if isinstance(parsed_brd, IPv4Address) else None,
                    peer=_net(peer, info.get("prefixlen"), what) if peer else None,
                    flags=flags,
                )
            )
        flags = tuple(str(f) for f in item.get("flags", []))
        links.append(
            Link(
                name=name,
                index=item.get("ifindex"),
                mac=item.get("address") if item.get("link_type") == "ether" else None,
                group=group_key(item.get("group", "0")),
                up="UP" in flags,
                flags=flags,
                altnames=tuple(str(a) for a in item.get("altnames", [])),
                addresses=tuple(addresses),
                kind=str(item.get("link_type", "")),
            )
        )
    return tuple(links)


def parse_rules(items: list[dict[str, Any]], family: int, what: str) -> tuple[KernelRule, ...]:
    rules: list[KernelRule] = []
    for item in items:
        try:
            priority = int(item["priority"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{what}: a rule without a priority") from None
        fields: dict[str, Any] = {}
        src = item.get("src", "all")
        if src != "all":
            fields["src"] = _net(src, item.get("srclen"), what)
        if "dst" in item and item["dst"] != "all":
            fields["dst"] = _net(item["dst"], item.get("dstlen"), what)
        if "fwmark" in item:
            fields["fwmark"] = int(str(item["fwmark"]), 0)
            fields["fwmask"] = int(str(item.get("fwmask", "0xffffffff")), 0)
        for key in ("iif", "oif"):
            if key in item:
                fields[key] = str(item[key])
        if "goto" in item:
            fields["action"], fields["goto"] = GOTO, int(item["goto"])
        elif item.get("action") in ("unreachable", "blackhole", "prohibit", "nop"):
            fields["action"] = str(item["action"])
        elif "table" in item:
            fields["action"], fields["table"] = LOOKUP, table_key(item["table"])
        elif "l3mdev" in item:  # `lookup [l3mdev-table]`: the table of the packet's VRF
            fields["action"], fields["table"] = LOOKUP, "[l3mdev-table]"
        else:
            fields["action"] = NOP
        if "suppress_prefixlen" in item:
            fields["suppress_prefixlength"] = int(item["suppress_prefixlen"])
        if "suppress_ifgroup" in item:
            fields["suppress_ifgroup"] = group_key(item["suppress_ifgroup"])
        if "protocol" in item:
            fields["protocol"] = str(item["protocol"])
        attributes: list[str] = []
        if "flow_to" in item:
            realm = item["flow_to"]
            attributes.append(
                f"realms {item['flow_from']}/{realm}" if "flow_from" in item else f"realms {realm}"
            )
        if "nat" in item:
            attributes.append(f"nat {item['nat']}")
        if "masquerade" in item:
            attributes.append("masquerade")
        rules.append(
            KernelRule(
                priority=priority,
                family=family,
                invert="not" in item,
                selectors=selectors.from_json(item)
                + tuple(
                    selectors.from_words(key, None if value is None else str(value))
                    for key, value in item.items()
                    if key not in _RULE_KEYS
                ),
                attributes=tuple(attributes),
                **fields,
            )
        )
    return tuple(rules)


def parse_routes(items: list[dict[str, Any]], family: int, what: str) -> tuple[KernelRoute, ...]:
    routes: list[KernelRoute] = []
    for item in items:
        dst_text = item.get("dst")
        if dst_text is None:
            raise InputError(f"{what}: a route without 'dst'")
        dst = (
            ip_network("0.0.0.0/0" if family == 4 else "::/0")
            if dst_text == "default"
            else _net(dst_text, None, what)
        )
        if dst.version != family:
            continue  # `ip -4 route show table all` lists no other family; be safe
        nexthops: list[Nexthop] = []
        if "nexthops" in item:
            for hop in item["nexthops"]:
                nexthops.append(_nexthop(hop, what))
        elif "gateway" in item or "dev" in item:
            nexthops.append(_nexthop(item, what))
        prefsrc = item.get("prefsrc")
        source = item.get("from")
        attributes = [str(item["encap"])] if "encap" in item else []
        for key in _ROUTE_ATTRIBUTES:
            if key in item:
                attributes.append(f"{key} {json.dumps(item[key], separators=(',', ':'))}")
        routes.append(
            KernelRoute(
                family=family,
                dst=dst,
                table=table_key(item.get("table", "main")),
                type=str(item.get("type", "unicast")),
                nexthops=tuple(nexthops),
                metric=int(item.get("metric", 0)),
                protocol=str(item["protocol"]) if "protocol" in item else None,
                scope=str(item["scope"]) if "scope" in item else None,
                prefsrc=_ip(prefsrc, what) if prefsrc else None,
                flags=tuple(str(f) for f in item.get("flags", [])),
                nhid=int(item["nhid"]) if "nhid" in item else None,
                tos=_tos(item.get("tos", item.get("dsfield", 0)), what),
                src=_net(source, None, what) if source and source != "all" else None,
                attributes=tuple(attributes),
            )
        )
    return tuple(routes)


def _tos(value: object, what: str) -> int:
    try:
        return int(str(value), 0)
    except ValueError:
        raise InputError(f"{what}: tos {value!r} is not a number") from None


def _nexthop(item: dict[str, Any], what: str) -> Nexthop:
    gateway = item.get("gateway")
    if gateway is None and isinstance(item.get("via"), dict):
        gateway = item["via"].get("host")
    return Nexthop(
        gateway=_ip(gateway, what) if gateway else None,
        dev=str(item["dev"]) if "dev" in item else None,
        weight=int(item.get("weight", 1)),
        flags=tuple(str(f) for f in item.get("flags", [])),
    )


def parse_neigh(
    items: list[dict[str, Any]], what: str = "ip -j neigh show"
) -> tuple[Neighbour, ...]:
    found = []
    for item in items:
        if "dst" not in item or "dev" not in item:
            continue  # proxy entries and the like: no gateway state
        states = item.get("state", [])
        found.append(
            Neighbour(
                address=_ip(item["dst"], what),
                dev=str(item["dev"]),
                states=tuple(str(s) for s in (states if isinstance(states, list) else [states])),
            )
        )
    return tuple(found)
