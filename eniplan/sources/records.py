"""The AWS API records eniplan reads, as typed structs that msgspec decodes and checks.

A field's type says what it must be: msgspec enforces types, lengths and patterns in C as
it decodes (JSON bytes from a file, or the dicts boto3 returns), and turns addresses and
networks into `ipaddress` objects through the validators of values.py. A rejected value
is explained by the validator in the field's annotation (`Explain`), so the message names
the value and what was expected, as every other message does; `RecordError` carries it
with the field's path inside the record.

Only the fields eniplan reads are declared: everything else in a record is skipped.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Annotated, Any, Generic, TypeVar, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta, Raw, Struct

from eniplan import values

R = TypeVar("R")  # how a nested list of records arrives: Raw (JSON) or Any (dicts)


class Explain:
    """The validator that says why a value was refused (it raises ValueError)."""

    def __init__(self, check: Callable[[Any], object]) -> None:
        self.check = check


def _whole(pattern: re.Pattern[str]) -> str:
    # msgspec searches: anchor the pattern to the whole string (\Z: no trailing newline)
    return rf"\A(?:{pattern.pattern})\Z"


def non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a non-negative integer")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def short_text(value: Any) -> str:
    return values.text(value, 64)


def _id_check(kind: str) -> Explain:
    return Explain(lambda value: values.resource_id(kind, value))


_PRINTABLE = _whole(values.PRINTABLE)
_CHARACTERS = _whole(values.CHARACTERS)
IdInstance = Annotated[str, Meta(pattern=_whole(values.ID_PATTERNS["i"])), _id_check("i")]
IdEni = Annotated[str, Meta(pattern=_whole(values.ID_PATTERNS["eni"])), _id_check("eni")]
IdSubnet = Annotated[str, Meta(pattern=_whole(values.ID_PATTERNS["subnet"])), _id_check("subnet")]
IdVpc = Annotated[str, Meta(pattern=_whole(values.ID_PATTERNS["vpc"])), _id_check("vpc")]
IdImage = Annotated[str, Meta(pattern=_whole(values.ID_PATTERNS["ami"])), _id_check("ami")]
IdRouteTable = Annotated[str, Meta(pattern=_whole(values.ID_PATTERNS["rtb"])), _id_check("rtb")]
IdGroup = Annotated[str, Meta(pattern=_whole(values.ID_PATTERNS["sg"])), _id_check("sg")]
Account = Annotated[str, Meta(pattern=_whole(values.ACCOUNT)), Explain(values.account_id)]
Zone = Annotated[str, Meta(pattern=_whole(values.ZONE)), Explain(values.availability_zone)]
# values.mac_address normalises case and surrounding blanks: the pattern lets them through
Mac = Annotated[
    str,
    Meta(pattern=r"\A\s*[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\s*\Z"),
    Explain(values.mac_address),
]
TagKey = Annotated[
    str,
    Meta(min_length=1, max_length=values.TAG_KEY_MAX, pattern=_CHARACTERS),
    Explain(values.tag_key),
]
TagValue = Annotated[
    str, Meta(max_length=values.TAG_VALUE_MAX, pattern=_CHARACTERS), Explain(values.tag_value)
]
# written by people (descriptions, names): data, whatever characters it holds
Text = Annotated[str, Meta(max_length=1024, pattern=_CHARACTERS), Explain(values.data_text)]
# made by AWS (types, states): printable, or not what AWS writes
ShortText = Annotated[str, Meta(max_length=64, pattern=_PRINTABLE), Explain(short_text)]
Count = Annotated[int, Meta(ge=0), Explain(non_negative_int)]

USER_DATA_MAX = 64 * 1024  # bytes after base64 decoding; EC2 allows 16 KB
# base64 as msgspec decodes it to bytes (and AWS writes it): whole groups of four, padded
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def user_data(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"expected a base64 string, got {type(value).__name__}")
    if not _BASE64.fullmatch(value):
        raise ValueError("not valid base64")
    raw = base64.b64decode(value)
    if len(raw) > USER_DATA_MAX:
        raise ValueError(f"{len(raw)} bytes of user data, more than EC2 allows")
    return raw


# decoded by msgspec, in C, straight from the JSON (no str of it is made)
UserData = Annotated[bytes, Meta(max_length=USER_DATA_MAX), Explain(user_data)]
Flag = Annotated[bool, Explain(boolean)]


def _decode_hook(kind: type, value: Any) -> Any:
    """Addresses and networks: the validators of values.py, which give the message. An
    ENI names its primary address twice: the last few thousand are kept (they are
    immutable), so each is checked and built once."""
    key = (kind, value) if type(value) is str else None
    if key is not None:
        known = _DECODED.get(key)
        if known is not None:
            return known
    check = _ADDRESS_CHECKS.get(kind)
    if check is None:
        raise NotImplementedError(kind)
    result = check(value)
    if key is not None:
        if len(_DECODED) >= 4096:
            _DECODED.clear()
        _DECODED[key] = result
    return result


_DECODED: dict[tuple[type, str], Any] = {}


_ADDRESS_CHECKS: dict[type, Callable[[Any], Any]] = {
    IPv4Address: values.ipv4_address,
    IPv6Address: values.ipv6_address,
    IPv4Network: values.ipv4_network,
    IPv6Network: values.ipv6_network,
}


# --- the records -------------------------------------------------------------------------


class Tag(Struct):
    Key: TagKey
    Value: TagValue


class PrivateIp(Struct):
    PrivateIpAddress: IPv4Address
    Primary: Flag | None = None


class Ipv6Entry(Struct):
    Ipv6Address: IPv6Address


class Ipv4PrefixEntry(Struct):
    Ipv4Prefix: IPv4Network


class Ipv6PrefixEntry(Struct):
    Ipv6Prefix: IPv6Network


class Group(Struct):
    GroupId: IdGroup


class AttachmentRecord(Struct):
    DeviceIndex: Count | None = None
    AttachmentId: Any = None  # eni-attach-... or a service's (shapes.py tells them apart)
    NetworkCardIndex: Count | None = None
    InstanceId: IdInstance | None = None


class NetworkInterface(Struct):
    """describe-network-interfaces, or an ENI embedded in describe-instances."""

    NetworkInterfaceId: IdEni
    MacAddress: Mac
    SubnetId: IdSubnet
    VpcId: IdVpc
    PrivateIpAddress: IPv4Address | None = None
    PrivateIpAddresses: list[PrivateIp] | None = None
    Attachment: AttachmentRecord | None = None
    Ipv6Addresses: list[Ipv6Entry] | None = None
    Ipv4Prefixes: list[Ipv4PrefixEntry] | None = None
    Ipv6Prefixes: list[Ipv6PrefixEntry] | None = None
    SourceDestCheck: Flag | None = None
    InterfaceType: ShortText | None = None
    Description: Text | None = None
    RequesterManaged: Flag | None = None
    Status: ShortText | None = None
    TagSet: list[Tag] | None = None
    Groups: list[Group] | None = None


class EniRef(Struct):
    """An ENI embedded in describe-instances, before it is needed whole."""

    NetworkInterfaceId: IdEni


class PlacementRecord(Struct):
    AvailabilityZone: Zone


class Instance(Struct, Generic[R]):
    InstanceId: IdInstance
    ImageId: IdImage
    InstanceType: ShortText
    State: Any = None  # {"Name": "running"}: shapes.py reads it
    Placement: PlacementRecord | None = None
    SourceDestCheck: Flag | None = None
    PlatformDetails: Text | None = None
    VpcId: IdVpc | None = None
    Tags: list[Tag] | None = None
    NetworkInterfaces: list[R] | None = None


class Reservation(Struct, Generic[R]):
    OwnerId: Account | None = None
    Instances: list[R] | None = None


class Ipv6Association(Struct):
    Ipv6CidrBlock: IPv6Network
    Ipv6CidrBlockState: Any = None  # {"State": "associated"}: shapes.py reads it


class Subnet(Struct):
    SubnetId: IdSubnet
    VpcId: IdVpc
    AvailabilityZone: Zone
    OwnerId: Account | None = None
    CidrBlock: IPv4Network | None = None
    Ipv6CidrBlockAssociationSet: list[Ipv6Association] | None = None
    Tags: list[Tag] | None = None


class Image(Struct):
    ImageId: IdImage
    Name: Text | None = None
    Description: Text | None = None
    PlatformDetails: Text | None = None
    OwnerId: Account | None = None
    Platform: ShortText | None = None


class Route(Struct):
    NetworkInterfaceId: IdEni | None = None
    InstanceId: IdInstance | None = None
    DestinationCidrBlock: Any = None
    DestinationIpv6CidrBlock: Any = None
    DestinationPrefixListId: Any = None


class Association(Struct):
    Main: Flag | None = None
    SubnetId: IdSubnet | None = None


class RouteTable(Struct):
    RouteTableId: IdRouteTable
    VpcId: IdVpc
    OwnerId: Account | None = None
    Routes: list[Route] | None = None
    Associations: list[Association] | None = None


class UserDataValue(Struct):
    Value: UserData | None = None


class InstanceUserData(Struct):
    InstanceId: IdInstance
    UserData: UserDataValue | None = None


# --- decoding one record -----------------------------------------------------------------

S = TypeVar("S")


class RecordError(ValueError):
    """A record that is not what its type says: the path inside it and why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def decode(item: Any, kind: type[S]) -> S:
    """The record `item` (msgspec.Raw JSON from a file, or a dict from boto3) as a
    `kind`, or RecordError."""
    try:
        if isinstance(item, Raw):
            decoder = _DECODERS.get(kind)
            if decoder is None:
                decoder = _DECODERS[kind] = msgspec.json.Decoder(kind, dec_hook=_decode_hook)
            result: S = decoder.decode(item)
            return result
        converted: S = msgspec.convert(item, kind, dec_hook=_decode_hook)
        return converted
    except msgspec.ValidationError as error:
        raise explain(error, _plain(item), kind) from None


def _plain(item: Any) -> Any:
    """The record as plain values, to find what a message is about (None if it has none)."""
    if not isinstance(item, Raw):
        return item
    try:
        return msgspec.json.decode(item)
    except (msgspec.MsgspecError, RecursionError):  # an integer of 5,000 digits
        return None


def decode_all(items: list[Any] | Raw, kind: Any) -> list[Any] | None:
    """Every record of one list as a `kind`, in one msgspec call (a file's JSON array as it
    is, or records that are each JSON joined back into one: no Python per record), or None
    when some record is not what its type says: each is then decoded alone (`decode`), for
    its message, and only the bad ones are left out."""
    if not items:
        return []
    try:
        if type(items) is Raw or all(type(item) is Raw for item in items):
            decoder = _DECODERS.get(list[kind])
            if decoder is None:
                decoder = msgspec.json.Decoder(list[kind], dec_hook=_decode_hook)
                _DECODERS[list[kind]] = decoder
            if type(items) is Raw:
                decoded: list[Any] = decoder.decode(items)
                return decoded
            # one join makes the array: the brackets go on its first and last items (not
            # b"[" + ... + b"]", two more copies of a list that can be 100 MB)
            parts: list[Any] = list(items)
            parts[0] = b"[" + bytes(parts[0])
            parts[-1] = bytes(parts[-1]) + b"]"
            decoded = decoder.decode(b",".join(parts))
            return decoded
        converted: list[Any] = msgspec.convert(items, list[kind], dec_hook=_decode_hook)
        return converted
    except msgspec.ValidationError:
        return None
    except (msgspec.DecodeError, RecursionError):  # cannot happen to the JSON a file held
        return None


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_EXPECTED_CONTAINER = re.compile(r"^Expected `(array|object)[^`]*`, got `")
_MISSING = re.compile(r"^Object missing required field `([^`]*)`$")


def explain(error: msgspec.ValidationError, raw: Any, kind: Any) -> RecordError:
    """msgspec's error in eniplan's words: the field's path (`Tags[0].Value`) and the
    message of the field's validator for the value found there."""
    match = _AT.match(str(error))
    assert match is not None  # the pattern matches any text
    message, where = match.group("message"), match.group("path") or ""
    steps: list[str | int] = [name if name else int(index) for name, index in _STEP.findall(where)]
    path = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps).lstrip(".")
    value: Any = raw
    annotation: Any = kind
    for step in steps:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            value = None
        annotation = _inner(annotation, step)
    missing = _MISSING.match(message)
    if missing:
        return RecordError(path, f"missing required key {missing.group(1)!r}")
    container = _EXPECTED_CONTAINER.match(message)
    if container:
        wanted = "a list" if container.group(1) == "array" else "an object"
        return RecordError(path, f"expected {wanted}, got {type(value).__name__}")
    for explanation in _explanations(annotation):
        try:
            explanation.check(value)
        except ValueError as reason:
            return RecordError(path, str(reason))
    return RecordError(path, message)  # a validator's own message (dec_hook), or msgspec's


def _explanations(annotation: Any) -> list[Explain]:
    found = [
        extra for extra in getattr(annotation, "__metadata__", ()) if isinstance(extra, Explain)
    ]
    for arg in get_args(annotation):
        found += _explanations(arg)
    return found


def _inner(annotation: Any, step: str | int) -> Any:
    """The type at one step into `annotation`: a struct's field or a list's item."""
    for candidate in (annotation, *get_args(annotation)):
        origin = get_origin(candidate)
        base = origin if isinstance(origin, type) else candidate
        if isinstance(step, str) and isinstance(base, type) and issubclass(base, Struct):
            hints = get_type_hints(base, include_extras=True)
            if step in hints:
                return hints[step]
        if isinstance(step, int) and origin is list:
            return get_args(candidate)[0]
        if get_origin(candidate) is Annotated:
            inner = _inner(get_args(candidate)[0], step)
            if inner is not None:
                return inner
    return None
