"""The inventory model: what eniplan knows about instances, ENIs and their network.

Frozen dataclasses holding validated values (`ipaddress` types, checked IDs and MACs).
Sources build it (sources/shapes.py); planners, checks and renderers only read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from eniplan.frozen import quick_init

Tags = Mapping[str, str]


@quick_init
@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    vpc_id: str
    account_id: str
    region: str
    availability_zone: str
    cidr: IPv4Network | None  # None for an IPv6-only subnet
    ipv6_cidrs: tuple[IPv6Network, ...] = ()
    tags: Tags = field(default_factory=dict, hash=False)

    @property
    def router(self) -> IPv4Address | None:
        """The VPC router: the subnet's base address + 1 (IPv6 learns it from RAs)."""
        return None if self.cidr is None else self.cidr.network_address + 1


@quick_init
@dataclass(frozen=True)
class Eni:
    eni_id: str
    mac: str
    subnet_id: str
    vpc_id: str
    primary_ipv4: IPv4Address | None  # None on an IPv6-only subnet
    secondary_ipv4s: tuple[IPv4Address, ...] = ()
    ipv4_prefixes: tuple[IPv4Network, ...] = ()
    ipv6_addresses: tuple[IPv6Address, ...] = ()
    ipv6_prefixes: tuple[IPv6Network, ...] = ()
    instance_id: str | None = None
    device_index: int | None = None
    network_card_index: int = 0
    source_dest_check: bool = True
    interface_type: str = "interface"
    description: str = ""
    requester_managed: bool = False
    status: str = "in-use"
    tags: Tags = field(default_factory=dict, hash=False)
    security_group_ids: tuple[str, ...] = ()  # `Groups`, in the order AWS lists them
    attachment_id: str | None = None  # eni-attach-...: what Terraform imports an attachment by

    @property
    def ipv4_addresses(self) -> tuple[IPv4Address, ...]:
        primary = () if self.primary_ipv4 is None else (self.primary_ipv4,)
        return (*primary, *self.secondary_ipv4s)

    @property
    def slot(self) -> tuple[int, int]:
        """(network card, device index): the order EC2 and every agent use."""
        return (self.network_card_index, self.device_index if self.device_index is not None else -1)

    @property
    def is_primary(self) -> bool:
        return self.network_card_index == 0 and self.device_index == 0


@dataclass(frozen=True)
class Image:
    image_id: str
    name: str = ""
    description: str = ""
    platform_details: str = ""
    owner_id: str = ""
    platform: str = ""  # "windows" or empty


@dataclass(frozen=True)
class VpcRoute:
    """A VPC route whose target is an ENI or an instance (the only ones eniplan needs)."""

    destination: str  # a CIDR, or a prefix-list ID
    eni_id: str | None = None
    instance_id: str | None = None


@dataclass(frozen=True)
class RouteTable:
    route_table_id: str
    vpc_id: str
    account_id: str
    region: str
    routes: tuple[VpcRoute, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    main: bool = False


def route_targets(routed_targets: frozenset[str], instance_id: str, eni_id: str) -> bool:
    """True when a VPC route targets the ENI or its instance (`Inventory.routed_targets`):
    it forwards traffic for others (NAT, router, firewall), so its disabled source/dest
    check is the point."""
    return instance_id in routed_targets or eni_id in routed_targets


@quick_init
@dataclass(frozen=True)
class Instance:
    instance_id: str
    account_id: str
    region: str
    availability_zone: str
    image_id: str
    instance_type: str
    state: str
    enis: tuple[Eni, ...]  # sorted by (network card, device index)
    source_dest_check: bool = True
    platform_details: str = ""
    vpc_id: str = ""
    tags: Tags = field(default_factory=dict, hash=False)
    # The user data, base64-decoded (still gzip or MIME if it was sent so): b"" when the
    # instance has none, None when it is not known (not fetched: single-ENI instances,
    # snapshots older than user data collection, AWS CLI dumps without it).
    user_data: bytes | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.tags.get("Name", "")

    @property
    def primary_eni(self) -> Eni | None:
        return next((eni for eni in self.enis if eni.is_primary), None)


@dataclass(frozen=True)
class FetchProblem:
    """A region or account that could not be read; the rest of the results stand."""

    account: str  # account ID, role ARN or profile: what the user would recognise
    region: str  # "" when the whole account failed
    code: str  # AccessDenied, UnauthorizedOperation, EndpointConnectionError, ...
    message: str

    def describe(self) -> str:
        where = f"{self.account} {self.region}".strip()
        return f"{where}: {self.code}: {self.message}"


@dataclass(frozen=True)
class Inventory:
    instances: tuple[Instance, ...] = ()
    subnets: Mapping[str, Subnet] = field(default_factory=dict)
    images: Mapping[str, Image] = field(default_factory=dict)
    route_tables: tuple[RouteTable, ...] = ()
    # every ENI by ID: those of the instances, of instances left out, and the unattached
    enis: Mapping[str, Eni] = field(default_factory=dict)
    # ENIs attached to no instance (available, or owned by a service: endpoints, NAT gateways)
    unattached_enis: tuple[Eni, ...] = ()
    problems: tuple[FetchProblem, ...] = ()
    # records of the input left out, each "where: why" (a bad MAC in one instance of an
    # AWS CLI dump): the rest of the inventory stands without them
    rejected: tuple[str, ...] = ()

    def routed_targets(self) -> frozenset[str]:
        """The ENI and instance IDs that some VPC route of the inventory targets."""
        return self._routed_targets

    @cached_property
    def _routed_targets(self) -> frozenset[str]:
        # once per inventory: the planner asks for every instance it plans
        return frozenset(
            target
            for table in self.route_tables
            for route in table.routes
            for target in (route.eni_id, route.instance_id)
            if target
        )

    @property
    def partial(self) -> bool:
        """True when some account or region could not be read."""
        return bool(self.problems)

    def subnet(self, eni: Eni) -> Subnet:
        return self.subnets[eni.subnet_id]

    def image(self, instance: Instance) -> Image | None:
        return self.images.get(instance.image_id)

    def instance(self, instance_id: str) -> Instance | None:
        return next((i for i in self.instances if i.instance_id == instance_id), None)

    def select(
        self, instance_ids: Iterable[str] = (), tags: Iterable[tuple[str, str]] = ()
    ) -> Inventory:
        """The instances matching every given ID (any of them) and every given tag."""
        wanted_ids = set(instance_ids)
        wanted_tags = list(tags)
        chosen = tuple(
            instance
            for instance in self.instances
            if (not wanted_ids or instance.instance_id in wanted_ids)
            and all(instance.tags.get(key) == value for key, value in wanted_tags)
        )
        return Inventory(
            instances=chosen,
            subnets=self.subnets,
            images=self.images,
            route_tables=self.route_tables,
            enis=self.enis,
            unattached_enis=self.unattached_enis,
            problems=self.problems,
            rejected=self.rejected,
        )
