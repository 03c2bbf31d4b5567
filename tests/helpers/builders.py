"""Synthetic inventories for tests and benchmarks."""

from __future__ import annotations

from ipaddress import IPv4Network

from eniplan.model import Eni, Image, Instance, Inventory, Subnet
from eniplan.plan import InstancePlan, PlanOptions, plan_instance

ACCOUNT, REGION, ZONE = "123456789012", "eu-west-1", "eu-west-1a"
INSTANCE_ID = "i-0123456789abcdef0"


def largest_instance(enis: int = 15, addresses: int = 50) -> Inventory:
    """The largest instance EC2 allows a single card: `enis` ENIs in one /20, each with
    `addresses` private IPv4 addresses (one primary and the rest secondary)."""
    subnet = Subnet(
        "subnet-0123456789abcdef0",
        "vpc-0123456789abcdef0",
        ACCOUNT,
        REGION,
        ZONE,
        IPv4Network("10.20.0.0/20"),
    )
    assert subnet.cidr is not None
    hosts = subnet.cidr.network_address + 10
    built = []
    for n in range(enis):
        first = hosts + n * addresses
        built.append(
            Eni(
                eni_id=f"eni-{n + 1:017x}",
                mac=f"02:00:00:00:{n // 256:02x}:{n % 256:02x}",
                subnet_id=subnet.subnet_id,
                vpc_id=subnet.vpc_id,
                primary_ipv4=first,
                secondary_ipv4s=tuple(first + k for k in range(1, addresses)),
                instance_id=INSTANCE_ID,
                device_index=n,
            )
        )
    image = Image("ami-0123456789abcdef0", "debian-12-amd64-20240717-1811")
    instance = Instance(
        INSTANCE_ID,
        ACCOUNT,
        REGION,
        ZONE,
        image.image_id,
        "c6in.32xlarge",
        "running",
        tuple(built),
    )
    return Inventory(
        instances=(instance,), subnets={subnet.subnet_id: subnet}, images={image.image_id: image}
    )


def largest_instance_plan(enis: int = 15, addresses: int = 50) -> InstancePlan:
    inventory = largest_instance(enis, addresses)
    return plan_instance(inventory.instances[0], inventory, PlanOptions())


def instance_named(inventory: Inventory, name: str) -> Instance:
    """The instance of `inventory` whose Name tag is `name` (the sandbox's names)."""
    return next(i for i in inventory.instances if i.name == name)
