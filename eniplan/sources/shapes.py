"""AWS API shapes -> the validated inventory model.

One converter for every source: live AWS, snapshots and AWS CLI dumps all arrive here as
`Shapes`, whose records are dicts (boto3) or undecoded JSON (msgspec.Raw, from files).
Each record is decoded and checked by its type in sources/records.py (msgspec: at close to
the speed of reading the JSON), then joined here. A record that is not what AWS writes (a
bad MAC, an address that is not one) is left out with a message naming the origin (file,
or account and region), the field path and what was expected, and so is an instance that
needs it: the inventory holds the rest and `Inventory.rejected` says what was left out.
Input that cannot be read as a whole (two records with one ID, an ENI in a subnet that no
file lists) is an InputError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import msgspec

from eniplan import values
from eniplan.errors import InputError
from eniplan.model import Eni, Image, Instance, Inventory, RouteTable, Subnet, Tags, VpcRoute
from eniplan.sources import records
from eniplan.sources.collection import Collection, Shapes
from eniplan.sources.records import RecordError, decode

T = TypeVar("T")
S = TypeVar("S")


class Where:
    """A place in the input, for error messages: origin and field path. (A plain class:
    one is made for every record, and a frozen dataclass costs three times as much; the
    path is written out only when a message needs it.)"""

    __slots__ = ("_key", "_parent", "_path", "lister", "origin")

    def __init__(
        self,
        origin: str,
        path: str = "",
        lister: str | None = None,
        parent: Where | None = None,
        key: str | int = "",
    ) -> None:
        self.origin = origin
        self.lister = lister  # the account whose API call listed it (None: a CLI dump)
        self._path: str | None = path if parent is None else None
        self._parent = parent
        self._key = key

    @property
    def path(self) -> str:
        if self._path is None:
            assert self._parent is not None
            base, key = self._parent.path, self._key
            if isinstance(key, int):
                self._path = f"{base}[{key}]"
            else:
                self._path = f"{base}.{key}" if base else key
        return self._path

    def at(self, key: str | int) -> Where:
        return Where(self.origin, "", self.lister, self, key)

    def inside(self, path: str) -> Where:
        """A path inside this place (`Tags[0].Value`, `[2]`)."""
        if not path:
            return self
        joined = f"{self.path}{'' if path.startswith('[') else '.'}{path}" if self.path else path
        return Where(self.origin, joined, self.lister)

    def fail(self, message: str) -> NoReturn:
        raise InputError(f"{self}: {message}")

    def reject(self, message: str) -> NoReturn:
        """The record here cannot be used: it is left out, the rest stands."""
        raise Rejected(f"{self}: {message}")

    def __str__(self) -> str:
        return f"{self.origin}: {self.path}" if self.path else self.origin


class Rejected(Exception):
    """A record (or an instance) left out of the inventory; the message says where and why."""


def _record(item: Any, kind: type[S], where: Where) -> S:
    if isinstance(item, msgspec.Struct):  # decoded with its whole list (records.decode_all)
        return item  # type: ignore[return-value]
    try:
        return decode(item, kind)
    except RecordError as error:
        where.inside(error.path).reject(error.message)


def _tags(tags: list[records.Tag] | None) -> Tags:
    return {tag.Key: tag.Value for tag in tags} if tags else {}


def _state_name(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("Name"), str):
        return values.text(value["Name"], 32)
    raise ValueError(f"{value!r} is not an instance state (expected {{'Name': 'running'}})")


def _record_value(value: Any, check: Any, where: Where, *keys: str) -> Any:
    """check(value), or the record is rejected, naming the field `where` + `keys` (its
    place made only then: most values are good)."""
    try:
        return check(value)
    except ValueError as error:
        for key in keys:
            where = where.at(key)
        where.reject(str(error))


# --- subnets ---------------------------------------------------------------------------


def _subnet(item: Any, where: Where, shapes: Shapes) -> Subnet:
    record = _record(item, records.Subnet, where)
    ipv6 = tuple(
        assoc.Ipv6CidrBlock
        for assoc in record.Ipv6CidrBlockAssociationSet or ()
        if _association_state(assoc.Ipv6CidrBlockState) not in _GONE_STATES
    )
    if record.CidrBlock is None and not ipv6:
        where.reject("subnet has neither 'CidrBlock' nor an associated IPv6 CIDR block")
    return Subnet(
        subnet_id=record.SubnetId,
        vpc_id=record.VpcId,
        account_id=_owner(record.OwnerId, where, shapes),
        region=shapes.region or values.region_of_zone(record.AvailabilityZone),
        availability_zone=record.AvailabilityZone,
        cidr=record.CidrBlock,
        ipv6_cidrs=ipv6,
        tags=_tags(record.Tags),
    )


_GONE_STATES = ("disassociating", "disassociated", "failing", "failed")


def _association_state(state: Any) -> str:
    if isinstance(state, dict) and isinstance(state.get("State"), str):
        return str(state["State"])
    return "associated"  # absent in some hand-written dumps: take it as in use


# --- ENIs ------------------------------------------------------------------------------


def _eni(item: Any, where: Where, instance_id: str | None = None) -> Eni:
    """An ENI from describe-network-interfaces, or embedded in describe-instances."""
    record = _record(item, records.NetworkInterface, where)
    primary = record.PrivateIpAddress
    secondaries: list[Any] = []
    for index, entry in enumerate(record.PrivateIpAddresses or ()):
        address = entry.PrivateIpAddress
        if entry.Primary:
            if primary is not None and address is not primary and address != primary:
                where.at("PrivateIpAddresses").at(index).reject(
                    f"primary address {address} differs from PrivateIpAddress {primary}"
                )
            primary = address
        elif address not in secondaries:
            secondaries.append(address)
    attachment = record.Attachment
    device_index: int | None = None
    attachment_id: str | None = None
    card = 0
    if attachment is not None:
        device_index = attachment.DeviceIndex
        if attachment.AttachmentId is not None:
            attachment_id = _record_value(
                attachment.AttachmentId, _attachment_id, where, "Attachment", "AttachmentId"
            )
        card = attachment.NetworkCardIndex or 0
        attached_to = attachment.InstanceId
        if instance_id is not None and attached_to not in (None, instance_id):
            where.at("Attachment").at("InstanceId").reject(
                f"{attached_to} differs from the instance {instance_id}"
            )
        instance_id = instance_id or attached_to
    # (each list tested first: most are empty, and a generator costs even then)
    ipv6 = tuple([e.Ipv6Address for e in record.Ipv6Addresses]) if record.Ipv6Addresses else ()
    if not ipv6 and primary is None:
        where.reject("ENI has no private IPv4 address and no IPv6 address")
    mac = record.MacAddress  # its type let blanks and capitals through: normalised here
    return Eni(
        eni_id=record.NetworkInterfaceId,
        mac=mac if len(mac) == 17 and mac.lower() == mac else values.mac_address(mac),
        subnet_id=record.SubnetId,
        vpc_id=record.VpcId,
        primary_ipv4=primary,
        secondary_ipv4s=tuple(secondaries),
        ipv4_prefixes=(
            tuple([e.Ipv4Prefix for e in record.Ipv4Prefixes]) if record.Ipv4Prefixes else ()
        ),
        ipv6_addresses=ipv6,
        ipv6_prefixes=(
            tuple([e.Ipv6Prefix for e in record.Ipv6Prefixes]) if record.Ipv6Prefixes else ()
        ),
        instance_id=instance_id,
        device_index=device_index,
        network_card_index=card,
        source_dest_check=record.SourceDestCheck is not False,
        interface_type=record.InterfaceType or "interface",
        description=record.Description or "",
        requester_managed=bool(record.RequesterManaged),
        status=record.Status or "in-use",
        tags=_tags(record.TagSet),
        security_group_ids=tuple([g.GroupId for g in record.Groups]) if record.Groups else (),
        attachment_id=attachment_id,
    )


_SERVICE_ATTACHMENT = re.compile(r"[a-z]{2,16}-attach-[0-9a-f]{8,17}")


def _attachment_id(value: Any) -> str | None:
    """An `eni-attach-` ID; a service's attachment (`ela-attach-`, ...) gives None: it is
    not an ENI attachment that anyone imports or detaches."""
    if isinstance(value, str) and _SERVICE_ATTACHMENT.fullmatch(value):
        return value if value.startswith("eni-attach-") else None
    raise ValueError(f"{value!r} is not an attachment ID (expected eni-attach- and hex digits)")


# --- instances -------------------------------------------------------------------------


@dataclass(frozen=True)
class _InstanceDraft:
    instance_id: str
    fields: dict[str, Any]  # the Instance's, but its ENIs and user data
    embedded: list[Any]  # its NetworkInterfaces, as they came
    where: Where

    def place(self, index: int) -> Where:
        """Where its embedded ENI `index` is (made only when it is needed)."""
        return self.where.at("NetworkInterfaces").at(index)


def _instance(item: Any, where: Where, owner: str, shapes: Shapes) -> _InstanceDraft:
    kind = records.Instance[Any] if isinstance(item, dict) else records.Instance[msgspec.Raw]
    record: records.Instance[Any] = _record(item, kind, where)
    if record.Placement is None:
        where.at("Placement").reject("missing required key 'AvailabilityZone'")
    zone = record.Placement.AvailabilityZone
    state = "unknown"
    if record.State is not None:
        state = _record_value(record.State, _state_name, where, "State")
    return _InstanceDraft(
        instance_id=record.InstanceId,
        fields={
            "instance_id": record.InstanceId,
            "account_id": owner,
            "region": shapes.region or values.region_of_zone(zone),
            "availability_zone": zone,
            "image_id": record.ImageId,
            "instance_type": record.InstanceType,
            "state": state,
            "source_dest_check": record.SourceDestCheck is not False,
            "platform_details": record.PlatformDetails or "",
            "vpc_id": record.VpcId or "",
            "tags": _tags(record.Tags),
        },
        embedded=record.NetworkInterfaces or [],
        where=where,
    )


# --- images and route tables -----------------------------------------------------------


def _image(item: Any, where: Where) -> Image:
    record = _record(item, records.Image, where)
    return Image(
        image_id=record.ImageId,
        name=record.Name or "",
        description=record.Description or "",
        platform_details=record.PlatformDetails or "",
        owner_id=record.OwnerId or "",
        platform=record.Platform or "",
    )


def _route_table(
    record: records.RouteTable, where: Where, shapes: Shapes, region: str
) -> RouteTable:
    routes = []
    for index, route in enumerate(record.Routes or ()):
        if route.NetworkInterfaceId is None and route.InstanceId is None:
            continue
        place = where.at("Routes").at(index)
        destination = (
            route.DestinationCidrBlock
            or route.DestinationIpv6CidrBlock
            or route.DestinationPrefixListId
        )
        if not isinstance(destination, str):
            place.reject(
                "route has no DestinationCidrBlock, DestinationIpv6CidrBlock or prefix list"
            )
        try:
            destination = values.text(destination, 64)
        except ValueError as error:
            place.reject(f"destination: {error}")
        routes.append(VpcRoute(destination, route.NetworkInterfaceId, route.InstanceId))
    associations = record.Associations or ()
    return RouteTable(
        route_table_id=record.RouteTableId,
        vpc_id=record.VpcId,
        account_id=_owner(record.OwnerId, where, shapes),
        region=region,
        routes=tuple(routes),
        subnet_ids=tuple(assoc.SubnetId for assoc in associations if assoc.SubnetId),
        main=any(assoc.Main for assoc in associations),
    )


# --- user data -------------------------------------------------------------------------


def _user_data(item: Any, where: Where) -> tuple[str, bytes]:
    """An answer of describe_instance_attribute(userData): instance ID and the decoded
    user data (b"" when the instance has none)."""
    record = _record(item, records.InstanceUserData, where)
    value = record.UserData.Value if record.UserData is not None else None
    return record.InstanceId, value or b""


def _owner(owner: str | None, where: Where, shapes: Shapes) -> str:
    """The owner: the item's OwnerId (a shared subnet's owner is another account), else
    the account that listed it."""
    if owner is not None:
        return owner
    if shapes.account_id:
        return shapes.account_id
    where.reject("missing required key 'OwnerId'")


# --- the whole inventory ---------------------------------------------------------------


def _each(shapes: Shapes, key: str, kind: Any) -> Iterator[tuple[Any, Where]]:
    """Each record of one list: all of them decoded as `kind` in one call, or, when one
    of them is not what its type says, each as it came (`_record` decodes it alone)."""
    decoded = records.decode_all(shapes.lists.get(key, []), kind)
    base = Where(shapes.origin, lister=shapes.account_id).at(key)
    for index, item in enumerate(shapes.items(key) if decoded is None else decoded):
        yield item, base.at(index)


def _json(shapes: Shapes, key: str) -> bool:
    """True when the records of the list are JSON (from a file), not dicts (boto3)."""
    found = shapes.lists.get(key, [])
    return isinstance(found, msgspec.Raw) or all(isinstance(item, msgspec.Raw) for item in found)


def _add_unique(registry: dict[str, tuple[T, Where]], key: str, value: T, where: Where) -> None:
    if key in registry:
        first = registry[key][1]
        if where.lister and first.lister and where.lister != first.lister:
            return  # one resource seen from two accounts: a shared VPC's subnets and ENIs
        where.fail(f"duplicate ID {key}: also at {first}")
    registry[key] = (value, where)


def _id_of(item: Any, key: str) -> str | None:
    """The ID a rejected record gives itself, if it gives one (to name what needed it)."""
    if isinstance(item, msgspec.Struct):
        value = getattr(item, key, None)
        return value if isinstance(value, str) else None
    if isinstance(item, msgspec.Raw):
        try:
            item = decode(item, dict)
        except RecordError:
            return None
    value = item.get(key) if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


def build_inventory(collection: Collection) -> Inventory:
    """Validate every shape and join them into one Inventory."""
    subnets: dict[str, tuple[Subnet, Where]] = {}
    enis: dict[str, tuple[Eni, Where]] = {}
    images: dict[str, tuple[Image, Where]] = {}
    drafts: dict[str, tuple[_InstanceDraft, Where]] = {}
    route_tables: dict[str, tuple[RouteTable, Where]] = {}
    user_data: dict[str, bytes] = {}
    rejected: list[str] = []
    # the ID of each record left out -> where it was; "" for a subnet without a usable ID
    rejected_ids: dict[str, str] = {}

    def reject(error: Rejected, item: Any, key: str, where: Where) -> None:
        rejected.append(str(error))
        rejected_id = _id_of(item, key)
        if rejected_id or key == "SubnetId":
            rejected_ids.setdefault(rejected_id or "", str(where))

    for shapes in collection.shapes:
        for item, where in _each(shapes, "InstanceUserData", records.InstanceUserData):
            try:
                instance_id, value = _user_data(item, where)
            except Rejected as error:
                reject(error, item, "InstanceId", where)
                continue
            user_data.setdefault(instance_id, value)
        for item, where in _each(shapes, "Subnets", records.Subnet):
            try:
                subnet = _subnet(item, where, shapes)
            except Rejected as error:
                reject(error, item, "SubnetId", where)
                continue
            _add_unique(subnets, subnet.subnet_id, subnet, where)
        for item, where in _each(shapes, "NetworkInterfaces", records.NetworkInterface):
            try:
                eni = _eni(item, where)
            except Rejected as error:
                reject(error, item, "NetworkInterfaceId", where)
                continue
            _add_unique(enis, eni.eni_id, eni, where)
        for item, where in _each(shapes, "Images", records.Image):
            try:
                image = _image(item, where)
            except Rejected as error:
                reject(error, item, "ImageId", where)
                continue
            # The same public AMI may be listed by every account that uses it.
            images.setdefault(image.image_id, (image, where))
        whole = (  # an instance's ENIs are decoded when needed: most are listed too
            records.Reservation[records.Instance[msgspec.Raw]]
            if _json(shapes, "Reservations")
            else records.Reservation[records.Instance[Any]]
        )
        for item, where in _each(shapes, "Reservations", whole):
            try:
                kind = (
                    records.Reservation[Any]
                    if isinstance(item, dict)
                    else records.Reservation[msgspec.Raw]
                )
                reservation: records.Reservation[Any] = _record(item, kind, where)
                owner = _owner(reservation.OwnerId, where, shapes)
            except Rejected as error:
                rejected.append(str(error))
                continue
            for index, instance_item in enumerate(reservation.Instances or ()):
                place = where.at("Instances").at(index)
                try:
                    draft = _instance(instance_item, place, owner, shapes)
                except Rejected as error:
                    reject(error, instance_item, "InstanceId", place)
                    continue
                _add_unique(drafts, draft.instance_id, draft, place)

    # Second pass: a route table has no zone, so its region is the dump's or its subnets'.
    for shapes in collection.shapes:
        for item, where in _each(shapes, "RouteTables", records.RouteTable):
            try:
                record = _record(item, records.RouteTable, where)
                region = shapes.region or _region_of_route_table(record, subnets)
                table = _route_table(record, where, shapes, region)
            except Rejected as error:
                rejected.append(str(error))
                continue
            _add_unique(route_tables, table.route_table_id, table, where)

    for eni, where in list(enis.values()):
        if eni.subnet_id not in subnets:
            if eni.subnet_id in rejected_ids or "" in rejected_ids:
                rejected.append(f"{where}: its subnet {eni.subnet_id} was left out")
                rejected_ids.setdefault(eni.eni_id, str(where))
                del enis[eni.eni_id]
                continue
            where.fail(
                f"ENI {eni.eni_id} is in subnet {eni.subnet_id}, which is not in the inventory "
                "(add the output of 'aws ec2 describe-subnets')"
            )

    instances = []
    attached: set[str] = set()
    for draft, _ in drafts.values():
        try:
            instance = _joined(draft, enis, subnets, rejected_ids, user_data)
        except Rejected as error:
            rejected.append(str(error))
            continue
        attached.update(eni.eni_id for eni in instance.enis)
        instances.append(instance)

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
        rejected=tuple(rejected),
    )


def _joined(
    draft: _InstanceDraft,
    enis: dict[str, tuple[Eni, Where]],
    subnets: dict[str, tuple[Subnet, Where]],
    rejected_ids: dict[str, str],
    user_data: dict[str, bytes],
) -> Instance:
    """The instance with its ENIs (the fuller describe-network-interfaces record of each,
    else the one embedded in describe-instances) and its user data, if known."""
    instance_id = draft.instance_id
    instance_enis = []
    for index, embedded in enumerate(draft.embedded):
        try:
            eni_id = decode(embedded, records.EniRef).NetworkInterfaceId
        except RecordError as error:
            draft.place(index).inside(error.path).reject(error.message)
        if eni_id in enis:
            eni = enis[eni_id][0]
        elif eni_id in rejected_ids:
            draft.where.reject(f"its ENI {eni_id} was left out ({rejected_ids[eni_id]})")
        else:
            eni = _eni(embedded, draft.place(index), instance_id)
        if eni.subnet_id not in subnets:
            if eni.subnet_id in rejected_ids or "" in rejected_ids:
                draft.where.reject(f"the subnet {eni.subnet_id} of its ENI {eni_id} was left out")
            draft.where.fail(
                f"ENI {eni_id} of {instance_id} is in subnet {eni.subnet_id}, "
                "which is not in the inventory (add the output of 'aws ec2 describe-subnets')"
            )
        instance_enis.append(eni)
    return Instance(
        **draft.fields,
        enis=_checked_enis(instance_enis, draft.where),
        user_data=user_data.get(instance_id),
    )


def _region_of_route_table(
    record: records.RouteTable, subnets: dict[str, tuple[Subnet, Where]]
) -> str:
    for assoc in record.Associations or ():
        if assoc.SubnetId in subnets:
            return subnets[assoc.SubnetId][0].region
    for subnet, _ in subnets.values():
        if subnet.vpc_id == record.VpcId:
            return subnet.region
    return ""


def _checked_enis(enis: list[Eni], where: Where) -> tuple[Eni, ...]:
    """An instance's ENIs in (card, device) order, each slot, MAC and address once."""
    enis.sort(key=lambda eni: eni.slot)
    seen: dict[tuple[int, int], str] = {}
    for eni in enis:
        slot = eni.slot
        if eni.device_index is not None and slot in seen:
            where.reject(
                f"ENIs {seen[slot]} and {eni.eni_id} both claim network card "
                f"{slot[0]} device index {slot[1]}"
            )
        seen[slot] = eni.eni_id
    macs = [eni.mac for eni in enis]
    if len(set(macs)) != len(macs):
        where.reject("two ENIs of the instance share one MAC address")
    owners: dict[object, str] = {}
    for eni in enis:
        for address in (*eni.ipv4_addresses, *eni.ipv6_addresses):
            known = len(owners)  # (one lookup: an address hashes in Python, slowly)
            owner = owners.setdefault(address, eni.eni_id)
            if len(owners) == known:
                where.reject(
                    f"address {address} is on ENI {owner} and again on "
                    f"{eni.eni_id} (an address belongs to one ENI, once)"
                )
    return tuple(enis)
