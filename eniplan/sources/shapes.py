"""AWS API shapes -> the validated inventory model.

One converter for every source: live AWS, snapshots and AWS CLI dumps all arrive here as
`Shapes`. Every value is checked on the way in; a bad one raises InputError naming the
origin (file or account/region), the field path and what was expected.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, NoReturn, TypeVar

from eniplan import values
from eniplan.errors import InputError
from eniplan.model import Eni, Image, Instance, Inventory, Route, RouteTable, Subnet, Tags
from eniplan.sources.collection import Collection, Shape, Shapes

T = TypeVar("T")


@dataclass(frozen=True)
class Where:
    """A place in the input, for error messages: origin and field path."""

    origin: str
    path: str = ""
    lister: str | None = None  # the account whose API call listed it (None: a CLI dump)

    def at(self, key: str | int) -> Where:
        if isinstance(key, int):
            return Where(self.origin, f"{self.path}[{key}]", self.lister)
        return Where(self.origin, f"{self.path}.{key}" if self.path else key, self.lister)

    def fail(self, message: str) -> NoReturn:
        place = f"{self.origin}: {self.path}" if self.path else self.origin
        raise InputError(f"{place}: {message}")

    def __str__(self) -> str:
        return f"{self.origin}: {self.path}" if self.path else self.origin


_MISSING = object()


def _field(obj: Shape, key: str, where: Where, check: Callable[[Any], T]) -> T:
    value = obj.get(key, _MISSING)
    if value is _MISSING:
        where.fail(f"missing required key {key!r}")
    try:
        return check(value)
    except ValueError as error:
        where.at(key).fail(str(error))


def _optional(obj: Shape, key: str, where: Where, check: Callable[[Any], T], default: T) -> T:
    value = obj.get(key)
    if value is None:
        return default
    try:
        return check(value)
    except ValueError as error:
        where.at(key).fail(str(error))


def _object(value: Any, where: Where) -> Shape:
    if not isinstance(value, dict):
        where.fail(f"expected an object, got {type(value).__name__}")
    return value


def _objects(obj: Shape, key: str, where: Where) -> Iterator[tuple[Shape, Where]]:
    """The objects of an optional list field, each with its place."""
    items = obj.get(key)
    if items is None:
        return
    if not isinstance(items, list):
        where.at(key).fail(f"expected a list, got {type(items).__name__}")
    for index, item in enumerate(items):
        place = where.at(key).at(index)
        yield _object(item, place), place


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a non-negative integer")
    return value


def _tags(obj: Shape, key: str, where: Where) -> Tags:
    tags: dict[str, str] = {}
    for tag, place in _objects(obj, key, where):
        tags[_field(tag, "Key", place, values.tag_key)] = _field(
            tag, "Value", place, values.tag_value
        )
    return tags


def _state_name(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("Name"), str):
        return values.text(value["Name"], 32)
    raise ValueError(f"{value!r} is not an instance state (expected {{'Name': 'running'}})")


# --- subnets ---------------------------------------------------------------------------


def _subnet(item: Shape, where: Where, shapes: Shapes) -> Subnet:
    zone = _field(item, "AvailabilityZone", where, values.availability_zone)
    ipv6 = tuple(
        _field(assoc, "Ipv6CidrBlock", place, values.ipv6_network)
        for assoc, place in _objects(item, "Ipv6CidrBlockAssociationSet", where)
        if _association_state(assoc) not in _GONE_STATES
    )
    cidr = _optional(item, "CidrBlock", where, values.ipv4_network, None)
    if cidr is None and not ipv6:
        where.fail("subnet has neither 'CidrBlock' nor an associated IPv6 CIDR block")
    return Subnet(
        subnet_id=_field(item, "SubnetId", where, _id("subnet")),
        vpc_id=_field(item, "VpcId", where, _id("vpc")),
        account_id=_account(item, "OwnerId", where, shapes),
        region=shapes.region or values.region_of_zone(zone),
        availability_zone=zone,
        cidr=cidr,
        ipv6_cidrs=ipv6,
        tags=_tags(item, "Tags", where),
    )


_GONE_STATES = ("disassociating", "disassociated", "failing", "failed")


def _association_state(assoc: Shape) -> str:
    state = assoc.get("Ipv6CidrBlockState")
    if isinstance(state, dict) and isinstance(state.get("State"), str):
        return str(state["State"])
    return "associated"  # absent in some hand-written dumps: take it as in use


# --- ENIs ------------------------------------------------------------------------------


def _eni(item: Shape, where: Where, instance_id: str | None = None) -> Eni:
    """An ENI from describe-network-interfaces, or embedded in describe-instances."""
    primary = _optional(item, "PrivateIpAddress", where, values.ipv4_address, None)
    secondaries: list[Any] = []
    for entry, place in _objects(item, "PrivateIpAddresses", where):
        address = _field(entry, "PrivateIpAddress", place, values.ipv4_address)
        if _optional(entry, "Primary", place, _bool, False):
            if primary is not None and address != primary:
                place.fail(f"primary address {address} differs from PrivateIpAddress {primary}")
            primary = address
        elif address not in secondaries:
            secondaries.append(address)
    attachment = item.get("Attachment")
    device_index: int | None = None
    attachment_id: str | None = None
    card = 0
    if isinstance(attachment, dict) and attachment:
        place = where.at("Attachment")
        device_index = _optional(attachment, "DeviceIndex", place, _int, None)
        attachment_id = _optional(attachment, "AttachmentId", place, _attachment_id, None)
        card = _optional(attachment, "NetworkCardIndex", place, _int, 0)
        attached_to = _optional(attachment, "InstanceId", place, _id("i"), None)
        if instance_id is not None and attached_to not in (None, instance_id):
            place.at("InstanceId").fail(f"{attached_to} differs from the instance {instance_id}")
        instance_id = instance_id or attached_to
    elif attachment is not None and not isinstance(attachment, dict):
        where.at("Attachment").fail("expected an object")
    ipv6 = [
        _field(entry, "Ipv6Address", place, values.ipv6_address)
        for entry, place in _objects(item, "Ipv6Addresses", where)
    ]
    if not ipv6 and primary is None:
        where.fail("ENI has no private IPv4 address and no IPv6 address")
    return Eni(
        eni_id=_field(item, "NetworkInterfaceId", where, _id("eni")),
        mac=_field(item, "MacAddress", where, values.mac_address),
        subnet_id=_field(item, "SubnetId", where, _id("subnet")),
        vpc_id=_field(item, "VpcId", where, _id("vpc")),
        primary_ipv4=primary,
        secondary_ipv4s=tuple(secondaries),
        ipv4_prefixes=tuple(
            _field(entry, "Ipv4Prefix", place, values.ipv4_network)
            for entry, place in _objects(item, "Ipv4Prefixes", where)
        ),
        ipv6_addresses=tuple(ipv6),
        ipv6_prefixes=tuple(
            _field(entry, "Ipv6Prefix", place, values.ipv6_network)
            for entry, place in _objects(item, "Ipv6Prefixes", where)
        ),
        instance_id=instance_id,
        device_index=device_index,
        network_card_index=card,
        source_dest_check=_optional(item, "SourceDestCheck", where, _bool, True),
        interface_type=_optional(item, "InterfaceType", where, _short_text, "interface"),
        description=_optional(item, "Description", where, values.text, ""),
        requester_managed=_optional(item, "RequesterManaged", where, _bool, False),
        status=_optional(item, "Status", where, _short_text, "in-use"),
        tags=_tags(item, "TagSet", where),
        security_group_ids=tuple(
            _field(group, "GroupId", place, _id("sg"))
            for group, place in _objects(item, "Groups", where)
        ),
        attachment_id=attachment_id,
    )


_SERVICE_ATTACHMENT = re.compile(r"[a-z]{2,16}-attach-[0-9a-f]{8,17}")


def _attachment_id(value: Any) -> str | None:
    """An `eni-attach-` ID; a service's attachment (`ela-attach-`, ...) gives None: it is
    not an ENI attachment that anyone imports or detaches."""
    if isinstance(value, str) and _SERVICE_ATTACHMENT.fullmatch(value):
        return value if value.startswith("eni-attach-") else None
    raise ValueError(f"{value!r} is not an attachment ID (expected eni-attach- and hex digits)")


def _short_text(value: Any) -> str:
    return values.text(value, 64)


# --- instances -------------------------------------------------------------------------


@dataclass(frozen=True)
class _InstanceDraft:
    instance: Instance  # with enis=() until the ENIs are joined
    embedded: tuple[tuple[Shape, Where], ...]
    where: Where


def _instance(item: Shape, where: Where, owner: str, shapes: Shapes) -> _InstanceDraft:
    placement = _object(item.get("Placement", {}), where.at("Placement"))
    zone = _field(placement, "AvailabilityZone", where.at("Placement"), values.availability_zone)
    return _InstanceDraft(
        instance=Instance(
            instance_id=_field(item, "InstanceId", where, _id("i")),
            account_id=owner,
            region=shapes.region or values.region_of_zone(zone),
            availability_zone=zone,
            image_id=_field(item, "ImageId", where, _id("ami")),
            instance_type=_field(item, "InstanceType", where, _short_text),
            state=_optional(item, "State", where, _state_name, "unknown"),
            enis=(),
            source_dest_check=_optional(item, "SourceDestCheck", where, _bool, True),
            platform_details=_optional(item, "PlatformDetails", where, values.text, ""),
            vpc_id=_optional(item, "VpcId", where, _id("vpc"), ""),
            tags=_tags(item, "Tags", where),
        ),
        embedded=tuple(_objects(item, "NetworkInterfaces", where)),
        where=where,
    )


# --- images and route tables -----------------------------------------------------------


def _image(item: Shape, where: Where) -> Image:
    return Image(
        image_id=_field(item, "ImageId", where, _id("ami")),
        name=_optional(item, "Name", where, values.text, ""),
        description=_optional(item, "Description", where, values.text, ""),
        platform_details=_optional(item, "PlatformDetails", where, values.text, ""),
        owner_id=_optional(item, "OwnerId", where, values.account_id, ""),
        platform=_optional(item, "Platform", where, _short_text, ""),
    )


def _route_table(item: Shape, where: Where, shapes: Shapes, region: str) -> RouteTable:
    routes = []
    for route, place in _objects(item, "Routes", where):
        eni_id = _optional(route, "NetworkInterfaceId", place, _id("eni"), None)
        instance_id = _optional(route, "InstanceId", place, _id("i"), None)
        if eni_id is None and instance_id is None:
            continue
        destination = (
            route.get("DestinationCidrBlock")
            or route.get("DestinationIpv6CidrBlock")
            or route.get("DestinationPrefixListId")
        )
        if not isinstance(destination, str):
            place.fail("route has no DestinationCidrBlock, DestinationIpv6CidrBlock or prefix list")
        try:
            destination = values.text(destination, 64)
        except ValueError as error:
            place.fail(f"destination: {error}")
        routes.append(Route(destination, eni_id, instance_id))
    subnet_ids = []
    main = False
    for assoc, place in _objects(item, "Associations", where):
        main = main or _optional(assoc, "Main", place, _bool, False)
        subnet_id = _optional(assoc, "SubnetId", place, _id("subnet"), None)
        if subnet_id:
            subnet_ids.append(subnet_id)
    return RouteTable(
        route_table_id=_field(item, "RouteTableId", where, _id("rtb")),
        vpc_id=_field(item, "VpcId", where, _id("vpc")),
        account_id=_account(item, "OwnerId", where, shapes),
        region=region,
        routes=tuple(routes),
        subnet_ids=tuple(subnet_ids),
        main=main,
    )


# --- user data -------------------------------------------------------------------------

USER_DATA_MAX = 64 * 1024  # bytes after base64 decoding; EC2 allows 16 KB


def _user_data_value(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"expected a base64 string, got {type(value).__name__}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    if len(raw) > USER_DATA_MAX:
        raise ValueError(f"{len(raw)} bytes of user data, more than EC2 allows")
    return raw


def _user_data(item: Shape, where: Where) -> tuple[str, bytes]:
    """An answer of describe_instance_attribute(userData): instance ID and the decoded
    user data (b"" when the instance has none)."""
    instance_id = _field(item, "InstanceId", where, _id("i"))
    attribute = _object(item.get("UserData") or {}, where.at("UserData"))
    value = _optional(attribute, "Value", where.at("UserData"), _user_data_value, b"")
    return instance_id, value


def _id(kind: str) -> Callable[[Any], str]:
    return lambda value: values.resource_id(kind, value)


def _account(item: Shape, key: str, where: Where, shapes: Shapes) -> str:
    """The owner: the item's OwnerId (a shared subnet's owner is another account), else
    the account that listed it."""
    if shapes.account_id and item.get(key) is None:
        return shapes.account_id
    return _field(item, key, where, values.account_id)


# --- the whole inventory ---------------------------------------------------------------


def _each(shapes: Shapes, key: str) -> Iterator[tuple[Shape, Where]]:
    base = Where(shapes.origin, lister=shapes.account_id)
    for index, item in enumerate(shapes.items(key)):
        place = base.at(key).at(index)
        yield _object(item, place), place


def _add_unique(registry: dict[str, tuple[T, Where]], key: str, value: T, where: Where) -> None:
    if key in registry:
        first = registry[key][1]
        if where.lister and first.lister and where.lister != first.lister:
            return  # one resource seen from two accounts: a shared VPC's subnets and ENIs
        where.fail(f"duplicate ID {key}: also at {first}")
    registry[key] = (value, where)


def build_inventory(collection: Collection) -> Inventory:
    """Validate every shape and join them into one Inventory."""
    subnets: dict[str, tuple[Subnet, Where]] = {}
    enis: dict[str, tuple[Eni, Where]] = {}
    images: dict[str, tuple[Image, Where]] = {}
    drafts: dict[str, tuple[_InstanceDraft, Where]] = {}
    route_tables: dict[str, tuple[RouteTable, Where]] = {}
    user_data: dict[str, bytes] = {}

    for shapes in collection.shapes:
        for item, where in _each(shapes, "InstanceUserData"):
            instance_id, value = _user_data(item, where)
            user_data.setdefault(instance_id, value)
        for item, where in _each(shapes, "Subnets"):
            subnet = _subnet(item, where, shapes)
            _add_unique(subnets, subnet.subnet_id, subnet, where)
        for item, where in _each(shapes, "NetworkInterfaces"):
            eni = _eni(item, where)
            _add_unique(enis, eni.eni_id, eni, where)
        for item, where in _each(shapes, "Images"):
            image = _image(item, where)
            # The same public AMI may be listed by every account that uses it.
            images.setdefault(image.image_id, (image, where))
        for item, where in _each(shapes, "Reservations"):
            owner = _account(item, "OwnerId", where, shapes)
            for instance_item, place in _objects(item, "Instances", where):
                draft = _instance(instance_item, place, owner, shapes)
                _add_unique(drafts, draft.instance.instance_id, draft, place)

    # Second pass: a route table has no zone, so its region is the dump's or its subnets'.
    for shapes in collection.shapes:
        for item, where in _each(shapes, "RouteTables"):
            region = shapes.region or _region_of_route_table(item, subnets)
            table = _route_table(item, where, shapes, region)
            _add_unique(route_tables, table.route_table_id, table, where)

    instances = []
    attached: set[str] = set()
    for draft, _ in drafts.values():
        instance_enis = []
        for embedded, place in draft.embedded:
            eni_id = _field(embedded, "NetworkInterfaceId", place, _id("eni"))
            if eni_id in enis:
                eni = enis[eni_id][0]  # describe-network-interfaces is the fuller shape
            else:
                eni = _eni(embedded, place, draft.instance.instance_id)
            instance_enis.append(eni)
            attached.add(eni_id)
        instance = _with_enis(draft.instance, instance_enis, draft.where)
        if instance.instance_id in user_data:
            instance = replace(instance, user_data=user_data[instance.instance_id])
        instances.append(instance)

    for eni, where in enis.values():
        if eni.subnet_id not in subnets:
            where.fail(
                f"ENI {eni.eni_id} is in subnet {eni.subnet_id}, which is not in the inventory "
                "(add the output of 'aws ec2 describe-subnets')"
            )
    for instance in instances:
        for eni in instance.enis:
            if eni.subnet_id not in subnets:
                drafts[instance.instance_id][1].fail(
                    f"ENI {eni.eni_id} of {instance.instance_id} is in subnet {eni.subnet_id}, "
                    "which is not in the inventory (add the output of 'aws ec2 describe-subnets')"
                )

    # Named instances first, by name: the order a person scans a table in.
    instances.sort(key=lambda i: (i.account_id, i.region, not i.name, i.name, i.instance_id))
    return Inventory(
        instances=tuple(instances),
        subnets={key: subnet for key, (subnet, _) in subnets.items()},
        images={key: image for key, (image, _) in images.items()},
        route_tables=tuple(table for table, _ in route_tables.values()),
        enis={
            **{key: eni for key, (eni, _) in enis.items()},
            **{eni.eni_id: eni for instance in instances for eni in instance.enis},
        },
        # attached to no instance at all (an ENI of an instance left out by a selection or
        # listed a moment before its instance is not "unattached")
        unattached_enis=tuple(
            eni for key, (eni, _) in enis.items() if key not in attached and not eni.instance_id
        ),
        problems=tuple(collection.problems),
    )


def _region_of_route_table(item: Shape, subnets: dict[str, tuple[Subnet, Where]]) -> str:
    associations = item.get("Associations")
    for assoc in associations if isinstance(associations, list) else []:
        subnet_id = assoc.get("SubnetId") if isinstance(assoc, dict) else None
        if isinstance(subnet_id, str) and subnet_id in subnets:
            return subnets[subnet_id][0].region
    for subnet, _ in subnets.values():
        if subnet.vpc_id == item.get("VpcId"):
            return subnet.region
    return ""


def _with_enis(instance: Instance, enis: list[Eni], where: Where) -> Instance:
    enis.sort(key=lambda eni: eni.slot)
    seen: dict[tuple[int, int], str] = {}
    for eni in enis:
        if eni.device_index is not None and eni.slot in seen:
            where.fail(
                f"ENIs {seen[eni.slot]} and {eni.eni_id} both claim network card "
                f"{eni.slot[0]} device index {eni.slot[1]}"
            )
        seen[eni.slot] = eni.eni_id
    macs = [eni.mac for eni in enis]
    if len(set(macs)) != len(macs):
        where.fail("two ENIs of the instance share one MAC address")
    owners: dict[object, str] = {}
    for eni in enis:
        for address in (*eni.ipv4_addresses, *eni.ipv6_addresses):
            if address in owners:
                where.fail(
                    f"address {address} is on ENI {owners[address]} and again on "
                    f"{eni.eni_id} (an address belongs to one ENI, once)"
                )
            owners[address] = eni.eni_id
    return replace(instance, enis=tuple(enis))
