"""Rule selectors beyond addresses, interfaces and marks, read from the words (text) or the
values (`ip -j`) iproute2 prints: `tos`/`dsfield`, `dscp`, `ipproto`, `sport`, `dport`,
`uidrange`, `l3mdev`, `tun_id`, `flowlabel`. A value that cannot be read becomes an
UNKNOWN selector: the simulator never takes it as matching or not matching blindly."""

from __future__ import annotations

from eniplan.doctor.model import (
    DPORT,
    DSCP,
    FLOWLABEL,
    IPPROTO,
    L3MDEV,
    SPORT,
    TUN_ID,
    UID,
    UNKNOWN,
    Selector,
)

# /etc/protocols names iproute2 prints for `ipproto` (inet_proto_n2a)
PROTOCOLS = {
    "icmp": 1,
    "igmp": 2,
    "tcp": 6,
    "udp": 17,
    "dccp": 33,
    "ipv6": 41,
    "rsvp": 46,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "ipv6-icmp": 58,
    "icmpv6": 58,
    "ospf": 89,
    "pim": 103,
    "vrrp": 112,
    "l2tp": 115,
    "sctp": 132,
    "udplite": 136,
    "mpls-in-ip": 137,
    "ethernet": 143,
    "mptcp": 262,
}
# RFC 4594 / 8622 names iproute2 prints for `dscp` (rt_dsfield style, DSCP value)
DSCP_NAMES = {
    **{f"CS{n}": 8 * n for n in range(8)},
    **{f"AF{c}{d}": 8 * c + 2 * d for c in range(1, 5) for d in range(1, 4)},
    "EF": 46,
    "VA": 44,
    "LE": 1,
}
DSCP_MASK = 0x3F
_WITH_VALUE = ("tos", "dsfield", "dscp", "ipproto", "sport", "dport", "uidrange", "tun_id")
SELECTOR_WORDS = (*_WITH_VALUE, "flowlabel", "l3mdev")


def _number(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        return None


def _unknown(text: str) -> Selector:
    return Selector(UNKNOWN, text=text)


def from_words(word: str, value: str | None) -> Selector:
    """A selector from `WORD VALUE` as `ip rule show` prints it (`l3mdev`: no value)."""
    text = f"{word} {value}" if value is not None else word
    if word == "l3mdev":
        return Selector(L3MDEV, text=text)
    if value is None:
        return _unknown(text)
    if word in ("tos", "dsfield"):
        number = _number(value)
        if number is None or number > 0xFF:
            return _unknown(text)
        return Selector(DSCP, value=number >> 2, mask=DSCP_MASK, text=text)
    if word == "dscp":
        code, _, mask_text = value.partition("/")
        dscp = DSCP_NAMES.get(code.upper(), _number(code))
        mask = _number(mask_text) if mask_text else DSCP_MASK
        if dscp is None or mask is None:
            return _unknown(text)
        return Selector(DSCP, value=dscp, mask=mask, text=text)
    if word == "ipproto":
        proto = PROTOCOLS.get(value.lower(), _number(value))
        return Selector(IPPROTO, value=proto, text=text) if proto is not None else _unknown(text)
    if word in ("sport", "dport", "uidrange"):
        kind = {"sport": SPORT, "dport": DPORT, "uidrange": UID}[word]
        if "/" in value:
            port, _, mask_text = value.partition("/")
            number, mask = _number(port), _number(mask_text)
            if number is None or mask is None:
                return _unknown(text)
            return Selector(kind, value=number, mask=mask, text=text)
        low_text, _, high_text = value.partition("-")
        low, high = _number(low_text), _number(high_text or low_text)
        if low is None or high is None:
            return _unknown(text)
        return Selector(kind, value=low, high=high, text=text)
    if word == "tun_id":
        number = _number(value)
        return Selector(TUN_ID, value=number, text=text) if number is not None else _unknown(text)
    if word == "flowlabel":
        label, _, mask_text = value.partition("/")
        number = _number(label)
        mask = _number(mask_text) if mask_text else 0xFFFFF
        if number is None or mask is None:
            return _unknown(text)
        return Selector(FLOWLABEL, value=number, mask=mask, text=text)
    return _unknown(text)


def from_json(item: dict[str, object]) -> tuple[Selector, ...]:
    """The selectors of one rule of `ip -j rule show`."""

    def text(key: str) -> str:
        return str(item[key])

    found: list[Selector] = []
    if "tos" in item:
        found.append(from_words("tos", text("tos")))
    if "dsfield" in item:
        found.append(from_words("dsfield", text("dsfield")))
    if "dscp" in item:
        mask = item.get("dscp_mask")
        found.append(from_words("dscp", text("dscp") + (f"/{mask}" if mask is not None else "")))
    if "ipproto" in item:
        found.append(from_words("ipproto", text("ipproto")))
    for word, key in (("sport", "sport"), ("dport", "dport"), ("uidrange", "uid")):
        if f"{key}_start" in item:
            found.append(from_words(word, f"{item[f'{key}_start']}-{item.get(f'{key}_end', '')}"))
        elif key in item:
            mask = item.get(f"{key}_mask")
            found.append(from_words(word, text(key) + (f"/{mask}" if mask is not None else "")))
    if "l3mdev" in item:
        found.append(from_words("l3mdev", None))
    if "tun_id" in item:
        found.append(from_words("tun_id", text("tun_id")))
    if "flowlabel" in item:
        mask = item.get("flowlabel_mask")
        found.append(
            from_words("flowlabel", text("flowlabel") + (f"/{mask}" if mask is not None else ""))
        )
    return tuple(found)
