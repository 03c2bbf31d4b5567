"""Validators for the values that come from AWS, IMDS and files.

Every ID, MAC, address and name passes through one of these before it reaches the model,
so nothing downstream (scripts, templates, HCL) ever sees an unchecked string. Each
validator returns the normalised value or raises ValueError with a message that says what
was expected; callers add where the value came from.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Network

# AWS resource IDs: a prefix and 8 or 17 lowercase hex digits.
ID_PATTERNS: dict[str, re.Pattern[str]] = {
    kind: re.compile(rf"{kind}-(?:[0-9a-f]{{8}}|[0-9a-f]{{17}})")
    for kind in ("i", "eni", "subnet", "vpc", "ami", "rtb", "eni-attach", "sg")
}
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
ACCOUNT = re.compile(r"[0-9]{12}")
# us-east-1, eu-central-2, us-gov-west-1, cn-north-1, us-iso-east-1, us-isob-east-1
# (eusc-de-east-1: the European Sovereign Cloud has a four-letter prefix)
_REGION = re.compile(r"[a-z]{2,4}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9]+")
# a region, then a zone letter (us-east-1a) or a local/wavelength zone suffix
# (us-west-2-lax-1a, us-east-1-wl1-bos-wlz-1)
ZONE = re.compile(rf"(?P<region>{_REGION.pattern})(?:[a-z]|-[a-z0-9-]+)")
_ROLE_ARN = re.compile(
    r"arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}"
)
# a role name, with its path if it has one ("eniplan-read", "audit/eniplan-read")
_ROLE_NAME = re.compile(r"(?:[A-Za-z0-9_+=,.@-]{1,512}/)*[A-Za-z0-9_+=,.@-]{1,64}")
# an organizational unit ("ou-" root part, "-", 8 to 32 characters) or the root ("r-")
_ORG_PARENT = re.compile(r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}")
# the partition of an ARN that AWS gave (an organization's account ARN)
_PARTITION = re.compile(r"arn:(aws(?:-cn|-us-gov|-iso|-iso-b)?):")
# no control characters, line separators or bidi overrides (which reorder what a terminal
# or a reviewer sees), nor a lone surrogate (no character: boto3's dicts are not checked
# by a JSON decoder): for values that AWS itself makes (types, states, route targets)
PRINTABLE = re.compile(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]*")
# what people write (tags, descriptions, names) is data whatever it holds, as EC2 takes it:
# any Unicode character (a lone surrogate is none); every output escapes it
CHARACTERS = re.compile(r"[^\ud800-\udfff]*")

TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256


def resource_id(kind: str, value: object) -> str:
    """An AWS resource ID of the given kind ("i", "eni", "subnet", ...)."""
    if not isinstance(value, str) or not ID_PATTERNS[kind].fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid {kind}- ID (expected {kind}- and 8 or 17 hex digits)"
        )
    return value


def mac_address(value: object) -> str:
    """A MAC address, normalised to lowercase colon form."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if _MAC.fullmatch(lowered):
            return lowered
    raise ValueError(
        f"{value!r} is not a MAC address (expected six hex octets like 02:ab:cd:ef:01:23)"
    )


def account_id(value: object) -> str:
    if isinstance(value, str) and ACCOUNT.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not an AWS account ID (expected 12 digits)")


def region_name(value: object) -> str:
    if isinstance(value, str) and _REGION.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not an AWS region name (expected a name like eu-west-1)")


def availability_zone(value: object) -> str:
    if isinstance(value, str) and ZONE.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not an availability zone (expected a name like eu-west-1a)")


def region_of_zone(zone: str) -> str:
    """The region an availability zone (or local zone) belongs to."""
    match = ZONE.fullmatch(zone)
    if not match:
        raise ValueError(f"{zone!r} is not an availability zone (expected a name like eu-west-1a)")
    return match.group("region")


def role_arn(value: object) -> str:
    if isinstance(value, str) and _ROLE_ARN.fullmatch(value):
        return value
    raise ValueError(
        f"{value!r} is not an IAM role ARN (expected arn:aws:iam::123456789012:role/NAME)"
    )


def role_name(value: object) -> str:
    """An IAM role name, optionally with its path (`path/name`), as in a role ARN."""
    if isinstance(value, str) and len(value) <= 512 and _ROLE_NAME.fullmatch(value):
        return value
    raise ValueError(
        f"{value!r} is not an IAM role name (expected letters, digits and _+=,.@- , up to 64, "
        "optionally after a path: audit/eniplan-read)"
    )


def org_parent(value: object) -> str:
    """An organizational unit ID (ou-...) or an organization root ID (r-...)."""
    if isinstance(value, str) and _ORG_PARENT.fullmatch(value):
        return value
    raise ValueError(
        f"{value!r} is not an organizational unit ID (expected ou-abcd-12345678, or a root r-abcd)"
    )


def partition_of_arn(arn: object) -> str:
    """The partition (aws, aws-cn, aws-us-gov, ...) of an ARN that AWS gave; aws if none."""
    match = _PARTITION.match(arn) if isinstance(arn, str) else None
    return match.group(1) if match else "aws"


def partition_of_region(region: str) -> str:
    for prefix, partition in (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov")):
        if region.startswith(prefix):
            return partition
    for prefix, partition in (("us-isob-", "aws-iso-b"), ("us-iso-", "aws-iso")):
        if region.startswith(prefix):
            return partition
    return "aws"


def member_role_arn(partition: str, account: str, name: str) -> str:
    """The ARN of role `name` (`path/name`) in `account`."""
    return role_arn(f"arn:{partition}:iam::{account_id(account)}:role/{role_name(name)}")


def endpoint_url(value: object) -> str:
    """An http:// or https:// URL with a host (and a valid port, if any), no whitespace."""
    if isinstance(value, str) and value and not any(c.isspace() for c in value):
        try:
            parts = urllib.parse.urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError when out of range or not a number
        except ValueError:
            parts = None
        if parts is not None and parts.scheme in ("http", "https") and parts.hostname:
            return value
    raise ValueError(
        f"{value!r} is not a valid endpoint URL (expected http:// or https://, a host "
        "and an optional port, like http://localhost:5000)"
    )


def account_of_role_arn(arn: str) -> str:
    return role_arn(arn).split(":")[4]


def ipv4_address(value: object) -> IPv4Address:
    # inet_pton takes what IPv4Address(str) takes (four decimal octets, no leading zeros)
    # in a quarter of its time: inventories hold hundreds of thousands of addresses.
    if isinstance(value, str):
        try:
            return IPv4Address(socket.inet_pton(socket.AF_INET, value))
        except (OSError, ValueError):  # ValueError: a NUL or a character not in ASCII
            pass
    raise ValueError(f"{value!r} is not an IPv4 address")


def ip_text(value: object) -> str:
    """str(value) of an address, network or interface; IPv4 ones by the C library, in a
    third of the time (a plan's digest writes out every address of the plan)."""
    kind = type(value)
    if kind is IPv4Address:
        return socket.inet_ntoa(value.packed)  # type: ignore[attr-defined]
    if kind is IPv4Network:
        network: IPv4Network = value  # type: ignore[assignment]
        return f"{socket.inet_ntoa(network.network_address.packed)}/{network.prefixlen}"
    if kind is IPv4Interface:
        interface: IPv4Interface = value  # type: ignore[assignment]
        return f"{socket.inet_ntoa(interface.packed)}/{interface.network.prefixlen}"
    return str(value)


def ipv6_address(value: object) -> IPv6Address:
    # "%" starts a scope ID ("fe80::1%eth0"), free text that ipaddress keeps: never from AWS.
    if isinstance(value, str) and "%" not in value:
        try:
            return IPv6Address(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not an IPv6 address")


def ipv4_network(value: object) -> IPv4Network:
    if isinstance(value, str) and "/" in value:
        try:
            return IPv4Network(value)  # strict: host bits must be zero
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not an IPv4 CIDR block (expected a network like 10.0.1.0/24)")


def ipv6_network(value: object) -> IPv6Network:
    if isinstance(value, str) and "/" in value and "%" not in value:
        try:
            return IPv6Network(value)
        except ValueError:
            pass
    raise ValueError(
        f"{value!r} is not an IPv6 CIDR block (expected a network like 2600:1f18::/64)"
    )


def ip_network(value: object) -> IPv4Network | IPv6Network:
    if isinstance(value, str) and "/" in value and "%" not in value:
        try:
            return ipaddress.ip_network(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a CIDR block")


def tag_key(value: object) -> str:
    """A tag key: 1 to 128 characters, any of them (tabs and newlines too)."""
    if isinstance(value, str) and 0 < len(value) <= TAG_KEY_MAX and CHARACTERS.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not a tag key (expected 1 to {TAG_KEY_MAX} characters)")


def tag_value(value: object) -> str:
    """A tag value: at most 256 characters, any of them (tabs and newlines too)."""
    if isinstance(value, str) and len(value) <= TAG_VALUE_MAX and CHARACTERS.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not a tag value (expected at most {TAG_VALUE_MAX} characters)")


def data_text(value: object, max_len: int = 1024) -> str:
    """What people write into AWS (descriptions, image names): any characters, bounded."""
    if isinstance(value, str) and len(value) <= max_len and CHARACTERS.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not text of at most {max_len} characters")


def text(value: object, max_len: int = 1024) -> str:
    """Text that AWS makes (types, states, route destinations): printable, bounded."""
    if isinstance(value, str) and len(value) <= max_len and PRINTABLE.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not printable text of at most {max_len} characters")
