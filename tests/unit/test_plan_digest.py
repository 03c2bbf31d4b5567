"""Plan digests are pinned: deployed static user data carries them in its marker, and a
drift check compares them; a planner or digest change that moves one reports every such
instance drifted. The values are those of eniplan at 50c1633."""

from __future__ import annotations

import hashlib
import json
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

import pytest

from eniplan.model import Eni, Image, Instance, Inventory, Subnet
from eniplan.plan import (
    MANAGED,
    MAX_TABLE_BASE,
    MIN_TABLE_BASE,
    InstancePlan,
    PlanOptions,
    plan_instance,
    plan_routing_json,
)
from eniplan.values import ip_text

ACCOUNT, REGION, VPC = "123456789012", "eu-west-1", "vpc-00000000000000001"
IMAGE = Image("ami-00000000000000001", "debian-12-amd64-20240717-1811")
DUAL = Subnet(
    "subnet-0000000000000000a",
    VPC,
    ACCOUNT,
    REGION,
    "eu-west-1a",
    IPv4Network("10.0.0.0/24"),
    (IPv6Network("2600:1f18:1:100::/64"), IPv6Network("2600:1f18:1:1ff::/64")),
)
V4 = Subnet(
    "subnet-0000000000000000b", VPC, ACCOUNT, REGION, "eu-west-1a", IPv4Network("10.1.16.0/20")
)
V6_ONLY = Subnet(
    "subnet-0000000000000000c",
    VPC,
    ACCOUNT,
    REGION,
    "eu-west-1a",
    None,
    (IPv6Network("2600:1f18:1:200::/64"),),
)


def _eni(n: int, subnet: Subnet, card: int = 0, device: int | None = None, **kw: object) -> Eni:
    fields: dict[str, object] = {
        "eni_id": f"eni-{n:017x}",
        "mac": f"02:00:00:00:00:{n:02x}",
        "subnet_id": subnet.subnet_id,
        "vpc_id": VPC,
        "primary_ipv4": None if subnet.cidr is None else subnet.cidr.network_address + 10 + n,
        "instance_id": "i-00000000000000001",
        "device_index": n if device is None else device,
        "network_card_index": card,
    }
    fields.update(kw)
    return Eni(**fields)  # type: ignore[arg-type]


def _v4(*texts: str) -> tuple[IPv4Address, ...]:
    return tuple(IPv4Address(text) for text in texts)


def _v6(*texts: str) -> tuple[IPv6Address, ...]:
    return tuple(IPv6Address(text) for text in texts)


CASES: dict[str, tuple[tuple[Eni, ...], PlanOptions]] = {
    "two subnets, IPv4 only": ((_eni(0, DUAL), _eni(1, V4)), PlanOptions()),
    "secondaries and prefixes, no guard, lowest base": (
        (
            _eni(
                0,
                DUAL,
                secondary_ipv4s=_v4("10.0.0.200", "10.0.0.201"),
                ipv4_prefixes=(IPv4Network("10.0.0.96/28"),),
            ),
            _eni(1, V4, secondary_ipv4s=_v4("10.1.31.254")),
            _eni(2, V4, ipv4_prefixes=(IPv4Network("10.1.20.0/28"), IPv4Network("10.1.20.16/28"))),
        ),
        PlanOptions(table_base=MIN_TABLE_BASE, guard=False),
    ),
    "IPv6 addresses, prefixes and two IPv6 blocks": (
        (
            _eni(0, DUAL, ipv6_addresses=_v6("2600:1f18:1:100::1", "2600:1f18:1:1ff:0:0:abcd:1")),
            _eni(
                1,
                DUAL,
                secondary_ipv4s=_v4("10.0.0.99"),
                ipv6_addresses=_v6("2600:1f18:1:100:1:0:0:a"),
                ipv6_prefixes=(IPv6Network("2600:1f18:1:1ff:1234::/80"),),
            ),
            _eni(2, V4),
        ),
        PlanOptions(table_base=20000),
    ),
    "IPv6-only subnet, network cards, highest base": (
        (
            _eni(0, DUAL),
            _eni(1, V6_ONLY, card=1, device=0, ipv6_addresses=_v6("2600:1f18:1:200::10")),
            _eni(
                2,
                V6_ONLY,
                card=1,
                device=3,
                ipv6_addresses=_v6("2600:1f18:1:200:ffff::2", "2600:1f18:1:200::ab:0:1"),
                ipv6_prefixes=(IPv6Network("2600:1f18:1:200:a::/80"),),
            ),
        ),
        PlanOptions(table_base=MAX_TABLE_BASE, guard=False),
    ),
}

DIGESTS = {
    "two subnets, IPv4 only": "b52b2f5fba4278d8fed6df2f483fcfd0df7a9b8006fd3b2ebde37b229d112b61",
    "secondaries and prefixes, no guard, lowest base": (
        "6db15efa7e824464e48ceaff095b7446dba1beed2b1a6bedf9b19aab71acd6a6"
    ),
    "IPv6 addresses, prefixes and two IPv6 blocks": (
        "30d53fd58df103e714fb7d1c18a3d178095fe0fa4f20aeef6bd7f878fb3ac0b2"
    ),
    "IPv6-only subnet, network cards, highest base": (
        "5ec4fc7d6d6831335c4505927d273a5a4047920af6461e7492e8abd6e6732faf"
    ),
}


def _plan(name: str) -> InstancePlan:
    enis, options = CASES[name]
    instance = Instance(
        "i-00000000000000001",
        ACCOUNT,
        REGION,
        "eu-west-1a",
        IMAGE.image_id,
        "m5.large",
        "running",
        tuple(sorted(enis, key=lambda e: e.slot)),
    )
    inventory = Inventory(
        instances=(instance,),
        subnets={s.subnet_id: s for s in (DUAL, V4, V6_ONLY)},
        images={IMAGE.image_id: IMAGE},
    )
    plan = plan_instance(instance, inventory, options)
    assert plan.status == MANAGED
    return plan


@pytest.mark.parametrize("name", CASES)
def test_the_digest_of_a_plan_stays_the_same(name: str) -> None:
    plan = _plan(name)
    assert plan.digest() == DIGESTS[name]
    # its definition: sha256 of the routing content's canonical JSON
    canonical = json.dumps(plan_routing_json(plan), sort_keys=True, separators=(",", ":"))
    assert plan.digest() == hashlib.sha256(canonical.encode()).hexdigest()


def _reference_routing_json(plan: InstancePlan) -> dict[str, Any]:
    """plan_routing_json as 50c1633 wrote it: every value through ip_text, one by one (the
    one in plan/ writes a value that recurs in an ENI's routes once)."""

    def text(value: object) -> str | None:
        return None if value is None else ip_text(value)

    return {
        "table_base": plan.table_base,
        "guard": (
            {"group": plan.guard.group, "priority": plan.guard.priority} if plan.guard else None
        ),
        "enis": [
            {
                "eni_id": eni.eni_id,
                "mac": eni.mac,
                "network_card_index": eni.network_card_index,
                "device_index": eni.device_index,
                "table": eni.table,
                "primary": eni.is_primary,
                "subnet_id": eni.subnet_id,
                "subnet_cidr": text(eni.subnet_cidr),
                "router": text(eni.router),
                "ipv6_subnets": [str(net) for net in eni.ipv6_subnets],
                "primary_ipv4": text(eni.primary_ipv4),
                "ipv4_addresses": [ip_text(a) for a in eni.ipv4_addresses],
                "ipv6_addresses": [str(a) for a in eni.ipv6_addresses],
                "rules": [
                    {"from": ip_text(r.source), "table": r.table, "priority": r.priority}
                    for r in eni.rules
                ],
                "routes": [
                    {
                        "destination": ip_text(route.destination),
                        "table": route.table,
                        "gateway": "router-advertisement" if route.via_ra else text(route.gateway),
                        "source": text(route.source),
                    }
                    for route in eni.routes
                ],
            }
            for eni in plan.enis
        ],
    }


def test_the_routing_content_is_the_reference_one(sandbox_plans: dict[str, InstancePlan]) -> None:
    plans = [_plan(name) for name in CASES] + list(sandbox_plans.values())
    for plan in plans:
        assert plan_routing_json(plan) == _reference_routing_json(plan), plan.name
