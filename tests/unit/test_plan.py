"""The planner: pure, no AWS, files or root."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eniplan.errors import InputError
from eniplan.model import Eni, Image, Instance, Inventory, Subnet
from eniplan.plan import (
    HANDLED_ELSEWHERE,
    MANAGED,
    MAX_TABLE_BASE,
    MIN_TABLE_BASE,
    NOTHING_TO_DO,
    InstancePlan,
    PlanOptions,
    name_hint,
    plan_instance,
    plan_json,
)

ACCOUNT, REGION = "123456789012", "eu-west-1"
SUBNET_A = Subnet(
    "subnet-0000000000000000a",
    "vpc-00000000000000001",
    ACCOUNT,
    REGION,
    "eu-west-1a",
    IPv4Network("10.0.0.0/24"),
    (IPv6Network("2600:1f18:1:100::/64"),),
)
SUBNET_B = Subnet(
    "subnet-0000000000000000b",
    "vpc-00000000000000001",
    ACCOUNT,
    REGION,
    "eu-west-1a",
    IPv4Network("10.0.1.0/24"),
)
RHEL = Image("ami-00000000000000001", "RHEL-9.4.0_HVM-20240605-x86_64-82-Hourly2-GP3")


def eni(
    n: int, subnet: Subnet = SUBNET_A, card: int = 0, device: int | None = None, **kw: object
) -> Eni:
    assert subnet.cidr is not None
    fields: dict[str, object] = {
        "eni_id": f"eni-{n:017x}",
        "mac": f"02:00:00:00:00:{n:02x}",
        "subnet_id": subnet.subnet_id,
        "vpc_id": subnet.vpc_id,
        "primary_ipv4": subnet.cidr.network_address + 10 + n,
        "instance_id": "i-00000000000000001",
        "device_index": n if device is None else device,
        "network_card_index": card,
    }
    fields.update(kw)
    return Eni(**fields)  # type: ignore[arg-type]


def inventory_of(*enis: Eni, image: Image = RHEL, tags: dict[str, str] | None = None) -> Inventory:
    instance = Instance(
        "i-00000000000000001",
        ACCOUNT,
        REGION,
        "eu-west-1a",
        image.image_id,
        "m5.large",
        "running",
        tuple(sorted(enis, key=lambda e: e.slot)),
        tags=tags or {},
    )
    return Inventory(
        instances=(instance,),
        subnets={s.subnet_id: s for s in (SUBNET_A, SUBNET_B)},
        images={image.image_id: image},
    )


def plan_of(inventory: Inventory, **options: object) -> InstancePlan:
    return plan_instance(inventory.instances[0], inventory, PlanOptions(**options))  # type: ignore[arg-type]


# --- the classic cases -------------------------------------------------------------------


def test_two_enis_in_one_subnet(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["centos7-same-24"]
    assert plan.status == MANAGED
    assert plan.os.family == "rhel-7"
    primary, secondary = plan.enis
    assert (primary.table, secondary.table) == (10000, 10001)
    assert [str(r.source) for r in primary.rules] == ["10.0.0.124/32"]
    assert [(r.table, r.priority) for r in secondary.rules] == [(10001, 10001)]
    default, link = secondary.routes
    assert default.is_default and default.gateway == IPv4Address("10.0.0.1")
    assert link.destination == IPv4Network("10.0.0.0/24")
    assert link.source == IPv4Address("10.0.0.254")
    # the primary ENI gets rules too, but its DHCP address is left to the OS
    assert primary.ipv4_addresses == ()
    assert [str(a) for a in secondary.ipv4_addresses] == ["10.0.0.254/24"]
    assert plan.guard is not None
    assert (plan.guard.group, plan.guard.priority) == (10000, 9999)


def test_two_subnets_with_secondaries_prefix_and_ipv6(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = sandbox_plans["multi-subnet"]
    first, second = plan.enis
    assert [str(a) for a in first.ipv4_addresses] == ["10.0.0.51/24"]  # secondary on primary
    sources = [str(r.source) for r in second.rules]
    assert sources[:4] == ["10.0.1.50/32", "10.0.1.51/32", "10.0.1.52/32", "10.0.1.96/28"]
    assert len(sources) == 5 and sources[4].endswith("/128")
    v6_default = [r for r in second.routes if r.family == 6 and r.is_default]
    assert len(v6_default) == 1 and v6_default[0].via_ra and v6_default[0].gateway is None
    assert second.ipv6_addresses[0].network.prefixlen == 64
    assert first.routes[1].destination != second.routes[1].destination


def test_left_alone_with_a_reason(sandbox_plans: dict[str, InstancePlan]) -> None:
    assert sandbox_plans["al2023-two-enis"].status == HANDLED_ELSEWHERE
    assert "amazon-ec2-net-utils" in sandbox_plans["al2023-two-enis"].reason
    for name in ("bastion", "build-runner", "metrics", "nat-instance"):
        assert sandbox_plans[name].status == NOTHING_TO_DO
        assert "single ENI" in sandbox_plans[name].reason


def test_force_plans_an_instance_another_agent_handles(sandbox_inventory: Inventory) -> None:
    instance = next(i for i in sandbox_inventory.instances if i.name == "al2023-two-enis")
    plan = plan_instance(instance, sandbox_inventory, PlanOptions(force=True))
    assert plan.status == MANAGED
    assert any("amazon-ec2-net-utils" in note for note in plan.notes)


def test_table_base_and_no_guard() -> None:
    plan = plan_of(inventory_of(eni(0), eni(1)), table_base=20000, guard=False)
    assert [e.table for e in plan.enis] == [20000, 20001]
    assert plan.guard is None
    assert {r.priority for r in plan.rules} == {20000, 20001}


@pytest.mark.parametrize("base", [0, MIN_TABLE_BASE - 1, MAX_TABLE_BASE + 1, 40000])
def test_table_base_out_of_range(base: int) -> None:
    with pytest.raises(InputError, match="--table-base"):
        plan_of(inventory_of(eni(0), eni(1)), table_base=base)


def test_network_card_index_counts_a_hundred() -> None:
    plan = plan_of(inventory_of(eni(0), eni(1, card=1, device=0), eni(2, device=1)))
    assert [(e.network_card_index, e.device_index, e.table) for e in plan.enis] == [
        (0, 0, 10000),
        (0, 1, 10001),
        (1, 0, 10100),
    ]
    assert [name_hint(e) for e in plan.enis] == ["eth0", "eth1", "eth100"]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"requester_managed": True}, "requester-managed"),
        ({"interface_type": "trunk"}, "ECS"),
        ({"interface_type": "efa-only"}, "EFA-only"),
    ],
)
def test_enis_owned_by_a_service_are_left_alone(extra: dict[str, Any], reason: str) -> None:
    plan = plan_of(inventory_of(eni(0), eni(1), eni(2, **extra)))
    assert plan.status == MANAGED
    assert [e.eni_id for e in plan.enis] == [eni(0).eni_id, eni(1).eni_id]
    (skipped,) = plan.skipped
    assert skipped.eni_id == eni(2).eni_id and reason in skipped.reason


def test_an_eks_node_is_left_to_the_vpc_cni() -> None:
    plan = plan_of(inventory_of(eni(0), eni(1, description="aws-K8S-i-00000000000000001")))
    assert plan.status == HANDLED_ELSEWHERE and "VPC CNI" in plan.reason
    assert len(plan.skipped) == 2 and not plan.enis
    tagged = plan_of(inventory_of(eni(0), eni(1), tags={"eks:cluster-name": "prod"}))
    assert tagged.status == HANDLED_ELSEWHERE


def test_one_managed_eni_left_is_nothing_to_do() -> None:
    plan = plan_of(inventory_of(eni(0), eni(1, requester_managed=True)))
    assert plan.status == NOTHING_TO_DO and len(plan.skipped) == 1


def test_unknown_image_still_plans_and_says_so() -> None:
    inventory = inventory_of(eni(0), eni(1))
    inventory = replace(inventory, images={})
    plan = plan_of(inventory)
    assert plan.status == MANAGED and plan.os.family == "unknown"
    assert any("OS unknown" in note for note in plan.notes)


def test_ipv6_only_eni_has_no_ipv4_routes() -> None:
    v6 = eni(1, primary_ipv4=None, ipv6_addresses=(IPv6Address("2600:1f18:1:100::5"),))
    plan = plan_of(inventory_of(eni(0), v6))
    second = plan.enis[1]
    assert all(route.family == 6 for route in second.routes)
    assert [str(r.source) for r in second.rules] == ["2600:1f18:1:100::5/128"]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ({"primary_ipv4": IPv4Address("10.9.9.9")}, "outside its subnet"),
        ({"secondary_ipv4s": (IPv4Address("10.0.1.5"),)}, "outside its subnet"),
        ({"ipv4_prefixes": (IPv4Network("10.0.2.0/28"),)}, "IPv4 prefix"),
        ({"ipv6_addresses": (IPv6Address("2600:1f18:9::1"),)}, "IPv6 address"),
        ({"ipv6_prefixes": (IPv6Network("2600:1f18:9::/80"),)}, "IPv6 prefix"),
    ],
)
def test_addresses_outside_their_subnet(bad: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InputError, match=fragment) as raised:
        plan_of(inventory_of(eni(0), eni(1, **bad)))
    assert eni(1).eni_id in str(raised.value) and "i-00000000000000001" in str(raised.value)


def test_two_enis_with_one_mac() -> None:
    with pytest.raises(InputError, match="MAC"):
        plan_of(inventory_of(eni(0), eni(1, mac=eni(0).mac)))


# --- output ------------------------------------------------------------------------------


def test_digest_is_stable_and_follows_the_routing(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["centos7-same-24"]
    assert plan.digest() == replace(plan, name="renamed").digest()  # names are not routing
    moved = replace(plan, enis=(plan.enis[0], replace(plan.enis[1], table=10002)))
    assert moved.digest() != plan.digest()


def test_plan_json(sandbox_plans: dict[str, InstancePlan]) -> None:
    document = plan_json(sandbox_plans["centos7-same-24"])
    assert document["status"] == "managed"
    assert document["digest"].startswith("sha256:")
    assert document["guard"] == {"group": 10000, "priority": 9999}
    assert document["enis"][1]["rules"] == [
        {"from": "10.0.0.254/32", "table": 10001, "priority": 10001}
    ]
    assert plan_json(sandbox_plans["bastion"])["digest"] is None


# --- properties over random inventories ---------------------------------------------------


@st.composite
def instances(draw: st.DrawFn) -> Inventory:
    slots = draw(
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(0, 14)), min_size=1, max_size=8, unique=True
        )
    )
    slots = [(0, 0), *[s for s in slots if s != (0, 0)]]
    hosts = iter(draw(st.permutations(range(4, 250))))
    enis = []
    for n, (card, device) in enumerate(slots):
        subnet = draw(st.sampled_from([SUBNET_A, SUBNET_B]))
        assert subnet.cidr is not None
        secondaries = tuple(
            subnet.cidr.network_address + next(hosts) for _ in range(draw(st.integers(0, 3)))
        )
        owned_by_service = draw(st.booleans()) and n > 0 and draw(st.booleans())
        enis.append(
            eni(
                n,
                subnet,
                card=card,
                device=device,
                primary_ipv4=subnet.cidr.network_address + next(hosts),
                secondary_ipv4s=secondaries,
                requester_managed=owned_by_service,
            )
        )
    return inventory_of(*enis)


@settings(max_examples=150, deadline=None)
@given(instances(), st.integers(MIN_TABLE_BASE, MAX_TABLE_BASE))
def test_properties(inventory: Inventory, base: int) -> None:
    plan = plan_of(inventory, table_base=base)
    instance = inventory.instances[0]
    managed_ids = {e.eni_id for e in plan.enis}
    unmanaged = [e for e in instance.enis if e.eni_id not in managed_ids]
    if plan.status != MANAGED:
        assert not plan.rules
        return
    # tables unique per ENI and equal to base + 100*card + device
    tables = [e.table for e in plan.enis]
    assert len(set(tables)) == len(tables)
    for eni_plan in plan.enis:
        assert eni_plan.table == base + 100 * eni_plan.network_card_index + eni_plan.device_index
    # every owned address of a managed ENI has exactly one rule, to its own table
    for source in instance.enis:
        if source.eni_id not in managed_ids:
            continue
        table = next(e.table for e in plan.enis if e.eni_id == source.eni_id)
        for address in source.ipv4_addresses:
            matching = [r for r in plan.rules if r.source == ip_network(address)]
            assert [(r.table, r.priority) for r in matching] == [(table, table)]
    # no rule for an ENI that is not managed
    for skipped in unmanaged:
        for address in skipped.ipv4_addresses:
            assert all(r.source != ip_network(address) for r in plan.rules)
    assert plan.guard is not None and plan.guard.priority < min(tables)
