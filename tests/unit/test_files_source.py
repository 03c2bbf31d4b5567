"""File sources: the JSON the AWS CLI prints, and eniplan snapshots.

The fixtures under tests/fixtures/awscli/ are what `aws ec2 describe-* --output json` (AWS CLI
v2) prints, key order included, for two regions: `by-region/REGION/COMMAND.json` and the
same files side by side in `flat/REGION.COMMAND.json`.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import pytest

from eniplan.errors import InputError
from eniplan.model import Eni, FetchProblem, Instance, Inventory
from eniplan.sources import files
from eniplan.sources.collection import SHAPE_KEYS, Collection, Shapes
from eniplan.sources.files import (
    SNAPSHOT_FORMAT,
    SNAPSHOT_VERSION,
    read_inventory_paths,
    snapshot_document,
    write_snapshot,
)
from eniplan.sources.shapes import build_inventory
from tests import helpers

FIXTURES = helpers.FIXTURES / "awscli"
BY_REGION = FIXTURES / "by-region"
FLAT = FIXTURES / "flat"
COMMANDS = (
    "describe-instances",
    "describe-network-interfaces",
    "describe-subnets",
    "describe-images",
    "describe-route-tables",
)

ACCOUNT = "111122223333"
SHARED_VPC_OWNER = "444455556666"

# instances, by Name tag
SEED_001 = "i-0c541472eb4304c4b"
TWO_SUBNETS = "i-05a1756c2579bfead"
P5 = "i-07fe00698dee89a87"
NAT = "i-0680ef2bad7b12d7f"
IPV6_ONLY = "i-042d815a6ec42fcf2"
SHARED = "i-0b495b29085719722"
SEED_000 = "i-06e73667b88896d88"
LAX = "i-0c65238b7178861a1"
EKS = "i-06b6c208d736fb0c6"

SUBNET_172_31_0 = "subnet-0585fdd9aadbe4c57"  # 172.31.0.0/20, us-east-1a
SUBNET_DUAL_STACK = "subnet-048625ffa3642c988"  # 172.31.16.0/20 + IPv6
SUBNET_IPV6_ONLY = "subnet-0c502dcf48d1b7206"
SUBNET_NAT = "subnet-0dd984920ee9c7401"
SUBNET_SHARED = "subnet-0bfe25507e9123308"  # owned by 444455556666
SUBNET_SEED_000 = "subnet-0fab534d82d223011"  # 10.0.0.0/24
SUBNET_EKS = "subnet-0cd0e1e9386db7d22"
SUBNET_LAX = "subnet-0ec71be9fa8bbc422"  # us-west-2-lax-1a

VPCE_ENI = "eni-0329a88e6d01b4397"
LEAKED_EKS_ENI = "eni-0df5e9847efd417bb"
NAT_ENI = "eni-076117afc6485a92c"


def fixture(region: str, command: str) -> str:
    return str(BY_REGION / region / f"{command}.json")


def load(region: str, command: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(Path(fixture(region, command)).read_text())
    return document


def dump(path: Path, document: object) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=4) + "\n")
    return str(path)


def build(*paths: str | Path) -> Inventory:
    return build_inventory(read_inventory_paths([str(p) for p in paths]))


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return build(BY_REGION)


def instance(inventory: Inventory, instance_id: str) -> Instance:
    found = inventory.instance(instance_id)
    assert found is not None, instance_id
    return found


def without_tags(eni: Eni) -> Eni:
    return replace(eni, tags={})


# --- reading files and directories -----------------------------------------------------


def test_directory_reads_every_json_file_recursively() -> None:
    collection = read_inventory_paths([str(BY_REGION)])
    origins = sorted(shapes.origin for shapes in collection.shapes)
    assert origins == sorted(
        str(BY_REGION / region / f"{command}.json")
        for region in ("us-east-1", "us-west-2")
        for command in COMMANDS
    )
    for shapes in collection.shapes:
        # AWS CLI output: account and region come from each item
        assert shapes.account_id is None
        assert shapes.region is None
        assert len(shapes.lists) == 1
        assert next(iter(shapes.lists)) in SHAPE_KEYS
    assert collection.problems == []


def test_explicit_files_and_directories_are_read_once() -> None:
    files = [fixture("us-east-1", command) for command in COMMANDS]
    collection = read_inventory_paths([*files, str(BY_REGION / "us-east-1"), files[0]])
    assert len(collection.shapes) == len(COMMANDS)


def _unordered(inventory: Inventory) -> Inventory:
    """Route tables and unattached ENIs come in the order of the files."""
    return replace(
        inventory,
        route_tables=tuple(sorted(inventory.route_tables, key=lambda t: t.route_table_id)),
        unattached_enis=tuple(sorted(inventory.unattached_enis, key=lambda e: e.eni_id)),
    )


def test_flat_and_per_region_layouts_give_the_same_inventory(inventory: Inventory) -> None:
    assert build(FLAT) == inventory
    reversed_files = build(*sorted(FLAT.glob("*.json"), reverse=True))
    assert reversed_files.instances == inventory.instances
    assert _unordered(reversed_files) == _unordered(inventory)


def test_instances(inventory: Inventory) -> None:
    names = {i.instance_id: i.name for i in inventory.instances}
    assert names == {
        SEED_001: "centos-seed-001",
        TWO_SUBNETS: "app-two-subnets",
        P5: "trainer-p5",
        NAT: "nat-instance",
        IPV6_ONLY: "ipv6-only-worker",
        SHARED: "win-shared-vpc",
        SEED_000: "centos-seed-000",
        LAX: "lax-edge",
        EKS: "demo-ng-node",
    }
    # by account, region, then named instances by name
    ordered = [(i.account_id, i.region, not i.name, i.name) for i in inventory.instances]
    assert ordered == sorted(ordered)
    seed = instance(inventory, SEED_001)
    assert seed.instance_type == "t3.medium"
    assert seed.state == "running"
    assert seed.image_id == "ami-0e85de1223347157d"
    assert seed.availability_zone == "us-east-1a"
    assert seed.vpc_id == "vpc-0122061905576ec92"
    assert seed.platform_details == "Linux/UNIX"
    assert seed.source_dest_check is True
    assert dict(seed.tags) == {"Name": "centos-seed-001", "Environment": "staging"}
    assert instance(inventory, SHARED).platform_details == "Windows"


def test_account_and_region_of_every_instance(inventory: Inventory) -> None:
    where = {
        i.instance_id: (i.account_id, i.region, i.availability_zone) for i in inventory.instances
    }
    assert where == {
        SEED_001: (ACCOUNT, "us-east-1", "us-east-1a"),
        TWO_SUBNETS: (ACCOUNT, "us-east-1", "us-east-1b"),
        P5: (ACCOUNT, "us-east-1", "us-east-1a"),
        NAT: (ACCOUNT, "us-east-1", "us-east-1a"),
        IPV6_ONLY: (ACCOUNT, "us-east-1", "us-east-1c"),
        SHARED: (ACCOUNT, "us-east-1", "us-east-1a"),
        SEED_000: (ACCOUNT, "us-west-2", "us-west-2a"),
        LAX: (ACCOUNT, "us-west-2", "us-west-2-lax-1a"),  # local zone: region derived
        EKS: (ACCOUNT, "us-west-2", "us-west-2b"),
    }


def test_account_and_region_of_every_subnet(inventory: Inventory) -> None:
    where = {
        s.subnet_id: (s.account_id, s.region, s.availability_zone)
        for s in inventory.subnets.values()
    }
    assert where == {
        SUBNET_172_31_0: (ACCOUNT, "us-east-1", "us-east-1a"),
        SUBNET_DUAL_STACK: (ACCOUNT, "us-east-1", "us-east-1b"),
        SUBNET_IPV6_ONLY: (ACCOUNT, "us-east-1", "us-east-1c"),
        SUBNET_NAT: (ACCOUNT, "us-east-1", "us-east-1a"),
        SUBNET_SHARED: (SHARED_VPC_OWNER, "us-east-1", "us-east-1a"),  # shared VPC
        SUBNET_SEED_000: (ACCOUNT, "us-west-2", "us-west-2a"),
        SUBNET_EKS: (ACCOUNT, "us-west-2", "us-west-2b"),
        SUBNET_LAX: (ACCOUNT, "us-west-2", "us-west-2-lax-1a"),
    }


def test_subnets_parsed(inventory: Inventory) -> None:
    seed = inventory.subnets[SUBNET_172_31_0]
    assert seed.cidr == IPv4Network("172.31.0.0/20")
    assert seed.router == IPv4Address("172.31.0.1")
    assert seed.ipv6_cidrs == ()
    assert seed.vpc_id == "vpc-0122061905576ec92"
    dual = inventory.subnets[SUBNET_DUAL_STACK]
    assert dual.ipv6_cidrs == (IPv6Network("2600:1f18:47a3:9e00::/64"),)
    assert isinstance(dual.ipv6_cidrs[0], IPv6Network)
    v6only = inventory.subnets[SUBNET_IPV6_ONLY]
    assert v6only.cidr is None
    assert v6only.router is None
    assert v6only.ipv6_cidrs == (IPv6Network("2600:1f18:47a3:9e01::/64"),)
    assert dict(inventory.subnets[SUBNET_LAX].tags) == {
        "Name": "lax-local-zone",
        "zone-type": "local-zone",
    }
    assert inventory.subnets[SUBNET_SEED_000].cidr == IPv4Network("10.0.0.0/24")


def test_seed_001_two_enis_in_one_subnet(inventory: Inventory) -> None:
    """The write-up's instance: eth0 172.31.15.216 and eth1 172.31.0.218 in 172.31.0.0/20."""
    seed = instance(inventory, SEED_001)
    assert [eni.eni_id for eni in seed.enis] == ["eni-0385f207b6d94400c", "eni-0b208c6759bc760d5"]
    eth0, eth1 = seed.enis
    assert eth0.primary_ipv4 == IPv4Address("172.31.15.216")
    assert eth1.primary_ipv4 == IPv4Address("172.31.0.218")
    assert isinstance(eth0.primary_ipv4, IPv4Address)
    assert {eth0.subnet_id, eth1.subnet_id} == {SUBNET_172_31_0}
    assert (eth0.mac, eth1.mac) == ("0e:93:42:94:21:0f", "0e:0e:fe:00:78:65")
    assert (eth0.slot, eth1.slot) == ((0, 0), (0, 1))
    assert seed.primary_eni == eth0
    assert eth0.is_primary and not eth1.is_primary
    assert eth1.description == "app traffic"
    assert eth0.instance_id == eth1.instance_id == SEED_001
    assert eth0.status == "in-use"
    assert eth0.interface_type == "interface"


def test_seed_000_macs_and_addresses(inventory: Inventory) -> None:
    seed = instance(inventory, SEED_000)
    assert [(str(e.primary_ipv4), e.mac) for e in seed.enis] == [
        ("10.0.0.124", "0e:1a:37:16:c5:22"),
        ("10.0.0.254", "0e:3b:ae:ab:4e:84"),
    ]
    assert inventory.subnet(seed.enis[1]).router == IPv4Address("10.0.0.1")


def test_enis_sorted_by_network_card_then_device_index(inventory: Inventory) -> None:
    # The JSON lists eth1 first, and the p5 ENIs as (1, 0), (0, 1), (0, 0).
    two = instance(inventory, TWO_SUBNETS)
    assert [eni.slot for eni in two.enis] == [(0, 0), (0, 1)]
    p5 = instance(inventory, P5)
    assert [eni.slot for eni in p5.enis] == [(0, 0), (0, 1), (1, 0)]
    assert [eni.eni_id for eni in p5.enis] == [
        "eni-0af8dc908c074126e",
        "eni-0ce17c0277bf7a3d0",
        "eni-07cc07bd32a084ba8",
    ]
    card1 = p5.enis[2]
    assert card1.network_card_index == 1
    assert card1.device_index == 0
    assert not card1.is_primary  # device index 0, but on network card 1
    assert card1.interface_type == "efa"
    assert p5.primary_eni == p5.enis[0]
    for item in inventory.instances:
        assert [eni.slot for eni in item.enis] == sorted(eni.slot for eni in item.enis)


def test_two_subnets_secondary_ip_prefix_and_ipv6(inventory: Inventory) -> None:
    eth0, eth1 = instance(inventory, TWO_SUBNETS).enis
    assert eth0.subnet_id == SUBNET_DUAL_STACK
    assert eth1.subnet_id == SUBNET_172_31_0
    assert eth0.primary_ipv4 == IPv4Address("172.31.20.10")
    assert eth0.secondary_ipv4s == (IPv4Address("172.31.20.11"),)
    assert eth0.ipv4_addresses == (IPv4Address("172.31.20.10"), IPv4Address("172.31.20.11"))
    assert eth0.ipv4_prefixes == (IPv4Network("172.31.24.16/28"),)
    assert eth0.ipv6_addresses == (IPv6Address("2600:1f18:47a3:9e00:9c1a:2b3c:4d5e:6f70"),)
    assert all(isinstance(a, IPv4Address) for a in eth0.ipv4_addresses)
    assert all(isinstance(p, IPv4Network) for p in eth0.ipv4_prefixes)
    assert all(isinstance(a, IPv6Address) for a in eth0.ipv6_addresses)
    assert eth1.secondary_ipv4s == ()
    assert eth1.ipv4_prefixes == ()
    assert eth1.ipv6_addresses == ()


def test_eks_enis_secondary_ips_and_tags(inventory: Inventory) -> None:
    eth0, eth1 = instance(inventory, EKS).enis
    assert eth0.secondary_ipv4s == (IPv4Address("10.0.17.6"), IPv4Address("10.0.17.7"))
    assert eth1.secondary_ipv4s == (IPv4Address("10.0.18.10"), IPv4Address("10.0.18.11"))
    assert eth1.description == f"aws-K8S-{EKS}"
    assert eth1.tags["cluster.k8s.amazonaws.com/name"] == "demo"
    assert eth1.tags["node.k8s.amazonaws.com/instance_id"] == EKS


def test_ipv6_only_eni(inventory: Inventory) -> None:
    worker = instance(inventory, IPV6_ONLY)
    (eni,) = worker.enis
    assert eni.primary_ipv4 is None
    assert eni.ipv4_addresses == ()
    assert eni.ipv6_addresses == (IPv6Address("2600:1f18:47a3:9e01:51c2:8d3e:aa04:7b19"),)
    assert eni.subnet_id == SUBNET_IPV6_ONLY
    assert worker.primary_eni == eni


def test_nat_instance_and_route_table(inventory: Inventory) -> None:
    nat = instance(inventory, NAT)
    assert nat.source_dest_check is False
    assert nat.enis[0].source_dest_check is False
    assert nat.enis[0].eni_id == NAT_ENI
    targeting = [
        (table.route_table_id, route)
        for table in inventory.route_tables
        for route in table.routes
        if route.eni_id == NAT_ENI or route.instance_id == NAT
    ]
    assert len(targeting) == 1
    table_id, route = targeting[0]
    assert table_id == "rtb-09fdb1213f4ef42fb"
    assert (route.destination, route.eni_id, route.instance_id) == ("0.0.0.0/0", NAT_ENI, NAT)


def test_route_tables(inventory: Inventory) -> None:
    tables = {t.route_table_id: t for t in inventory.route_tables}
    assert set(tables) == {
        "rtb-095379591a4e6651a",
        "rtb-09fdb1213f4ef42fb",
        "rtb-0ad06abda8af3d0e5",
    }
    main_east = tables["rtb-095379591a4e6651a"]
    # only routes to an ENI or an instance are kept (local, IGW, EIGW, gateway endpoints not)
    assert (main_east.main, main_east.routes, main_east.subnet_ids) == (True, (), ())
    assert (main_east.account_id, main_east.region) == (ACCOUNT, "us-east-1")
    private = tables["rtb-09fdb1213f4ef42fb"]
    assert private.main is False
    assert private.subnet_ids == (SUBNET_172_31_0, SUBNET_DUAL_STACK, SUBNET_IPV6_ONLY)
    assert private.vpc_id == "vpc-0122061905576ec92"
    assert private.region == "us-east-1"
    west = tables["rtb-0ad06abda8af3d0e5"]
    assert (west.main, west.account_id, west.region) == (True, ACCOUNT, "us-west-2")
    assert west.subnet_ids == (SUBNET_SEED_000, SUBNET_LAX)
    # a blackhole route to a deleted ENI (only an ENI ID, no instance)
    assert [(r.destination, r.eni_id, r.instance_id) for r in west.routes] == [
        ("10.99.0.0/16", "eni-042b73630cc9c7869", None)
    ]


def test_images(inventory: Inventory) -> None:
    assert len(inventory.images) == 8
    windows = inventory.image(instance(inventory, SHARED))
    assert windows is not None
    assert windows.platform == "windows"
    assert windows.platform_details == "Windows"
    assert windows.owner_id == "801119661308"
    assert windows.name == "Windows_Server-2022-English-Full-Base-2024.05.15"
    centos = inventory.image(instance(inventory, SEED_001))
    assert centos is not None
    assert centos.platform == ""
    assert centos.description == "CentOS-7-2111-20220825_1.x86_64"
    assert centos.owner_id == "125523088429"
    for item in inventory.instances:
        assert inventory.image(item) is not None, item.instance_id


def test_unattached_and_requester_managed_enis(inventory: Inventory) -> None:
    unattached = {eni.eni_id: eni for eni in inventory.unattached_enis}
    assert set(unattached) == {VPCE_ENI, LEAKED_EKS_ENI}
    vpce = unattached[VPCE_ENI]
    assert vpce.requester_managed is True
    assert vpce.interface_type == "vpc_endpoint"
    assert vpce.instance_id is None
    assert vpce.device_index == 1  # attached to an AWS-owned ("amazon-aws") instance
    assert vpce.primary_ipv4 == IPv4Address("172.31.9.87")
    assert vpce.description.startswith("VPC Endpoint Interface vpce-")
    leaked = unattached[LEAKED_EKS_ENI]
    assert leaked.status == "available"
    assert leaked.instance_id is None
    assert leaked.device_index is None
    assert leaked.slot == (0, -1)
    assert leaked.requester_managed is False
    assert leaked.description.startswith("aws-K8S-i-")
    attached = {eni.eni_id for item in inventory.instances for eni in item.enis}
    assert not attached & set(unattached)
    for item in inventory.instances:
        for eni in item.enis:
            assert eni.requester_managed is False
            assert eni.instance_id == item.instance_id
            assert eni.subnet_id in inventory.subnets


def test_problems_are_empty_for_files(inventory: Inventory) -> None:
    assert inventory.problems == ()
    assert inventory.partial is False


def test_select(inventory: Inventory) -> None:
    picked = inventory.select(instance_ids=[SEED_000, SEED_001])
    assert [i.instance_id for i in picked.instances] == [SEED_001, SEED_000]
    assert picked.subnets == inventory.subnets
    by_tag = inventory.select(tags=[("Name", "lax-edge")])
    assert [i.instance_id for i in by_tag.instances] == [LAX]


# --- describe-instances without describe-network-interfaces ----------------------------


def test_instances_and_subnets_alone(inventory: Inventory) -> None:
    paths = [
        fixture(region, command)
        for region in ("us-east-1", "us-west-2")
        for command in ("describe-instances", "describe-subnets")
    ]
    alone = build(*paths)
    assert [i.instance_id for i in alone.instances] == [i.instance_id for i in inventory.instances]
    for embedded, full in zip(alone.instances, inventory.instances, strict=True):
        # describe-instances has no TagSet on its ENIs; every other field is the same
        assert [without_tags(e) for e in embedded.enis] == [without_tags(e) for e in full.enis]
        assert replace(embedded, enis=()) == replace(full, enis=())
    assert alone.subnets == inventory.subnets
    assert alone.unattached_enis == ()
    assert alone.images == {}
    assert alone.route_tables == ()
    assert instance(alone, EKS).enis[1].tags == {}


def test_embedded_enis_of_one_instance_alone(tmp_path: Path) -> None:
    document = load("us-east-1", "describe-instances")
    document["Reservations"] = [
        r for r in document["Reservations"] if r["Instances"][0]["InstanceId"] == P5
    ]
    only = build(dump(tmp_path / "p5.json", document), fixture("us-east-1", "describe-subnets"))
    assert [i.instance_id for i in only.instances] == [P5]
    assert [e.slot for e in only.instances[0].enis] == [(0, 0), (0, 1), (1, 0)]


# --- snapshots -------------------------------------------------------------------------


def test_snapshot_round_trip_of_cli_output(tmp_path: Path, inventory: Inventory) -> None:
    snapshot = tmp_path / "snapshot.json"
    write_snapshot(read_inventory_paths([str(BY_REGION)]), snapshot)
    document = json.loads(snapshot.read_text())
    assert document["format"] == SNAPSHOT_FORMAT
    assert document["version"] == SNAPSHOT_VERSION
    assert document["partial"] is False
    # AWS CLI output has no account or region of its own: kept as null, taken from each item
    assert [a["account_id"] for a in document["accounts"]] == [None]
    assert build(snapshot) == inventory


def _located_collection() -> Collection:
    """What the AWS source gives: one Shapes per account and region, datetimes from boto3."""
    collection = Collection()
    for region in ("us-east-1", "us-west-2"):
        lists = {}
        for command in COMMANDS:
            document = load(region, command)
            (key,) = document
            lists[key] = document[key]
        attachment = lists["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]["Attachment"]
        attachment["AttachTime"] = dt.datetime(2024, 5, 14, 9, 21, 37, tzinfo=dt.timezone.utc)
        collection.shapes.append(Shapes(f"aws {ACCOUNT} {region}", ACCOUNT, region, lists))
    collection.problems.append(
        FetchProblem(
            SHARED_VPC_OWNER, "", "AccessDenied", "not authorized to perform: sts:AssumeRole"
        )
    )
    collection.problems.append(
        FetchProblem(ACCOUNT, "ap-south-2", "UnauthorizedOperation", "opt-in region")
    )
    return collection


def test_snapshot_round_trip_of_located_shapes(tmp_path: Path) -> None:
    collection = _located_collection()
    expected = build_inventory(copy.deepcopy(collection))
    snapshot = tmp_path / "snapshot.json"
    write_snapshot(collection, snapshot)
    document = json.loads(snapshot.read_text())
    assert document["partial"] is True
    assert [a["account_id"] for a in document["accounts"]] == [ACCOUNT]
    assert [r["region"] for r in document["accounts"][0]["regions"]] == ["us-east-1", "us-west-2"]
    read = read_inventory_paths([str(snapshot)])
    assert [(s.account_id, s.region) for s in read.shapes] == [
        (ACCOUNT, "us-east-1"),
        (ACCOUNT, "us-west-2"),
    ]
    assert read.problems == collection.problems
    again = build_inventory(read)
    assert again == expected
    assert again.partial is True
    assert again.problems == tuple(collection.problems)


def test_snapshot_document_is_json_with_created_at() -> None:
    created = dt.datetime(2024, 5, 14, 12, 0, tzinfo=dt.timezone.utc)
    document = snapshot_document(Collection(), created)
    assert document["created_at"] == "2024-05-14T12:00:00+00:00"
    assert document["accounts"] == []
    assert document["problems"] == []


def test_snapshot_and_cli_output_together(tmp_path: Path, inventory: Inventory) -> None:
    """One region from a snapshot, the other from AWS CLI output."""
    snapshot = tmp_path / "east.json"
    write_snapshot(read_inventory_paths([str(BY_REGION / "us-east-1")]), snapshot)
    assert build(snapshot, BY_REGION / "us-west-2") == inventory


def _snapshot(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "snapshot.json"
    write_snapshot(_located_collection(), path)
    document: dict[str, Any] = json.loads(path.read_text())
    return path, document


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(version=2), ["version", "2", "is not supported"]),
        (lambda d: d.update(version="1"), ["version", "'1'", "is not supported"]),
        (lambda d: d.pop("version"), ["version", "None", "is not supported"]),
        (lambda d: d.update(format="terraform-plan"), ["format", "'terraform-plan'"]),
        (lambda d: d.update(format=None), ["format", "None", SNAPSHOT_FORMAT]),
        (lambda d: d.pop("accounts"), ["accounts", "missing required key"]),
        (lambda d: d.update(accounts={}), ["accounts", "expected a list, got dict"]),
        (lambda d: d["accounts"].append("x"), ["accounts[1]", "expected an object, got str"]),
        (
            lambda d: d["accounts"][0].update(account_id="1111"),
            ["accounts[0].account_id", "'1111'", "12 digits"],
        ),
        (
            lambda d: d["accounts"][0].pop("account_id"),
            ["accounts[0].account_id", "missing required key"],
        ),
        (
            lambda d: d["accounts"][0].pop("regions"),
            ["accounts[0].regions", "missing required key"],
        ),
        (
            lambda d: d["accounts"][0]["regions"][1].update(region="us-west-2a"),
            ["accounts[0].regions[1].region", "'us-west-2a'", "region name"],
        ),
        (
            lambda d: d["accounts"][0]["regions"][0].update(Subnets={"Subnets": []}),
            ["accounts[0].regions[0].Subnets", "expected a list"],
        ),
        (lambda d: d.update(problems={"code": "x"}), ["problems", "expected a list"]),
        (lambda d: d.update(problems=["x"]), ["problems[0]", "expected an object"]),
    ],
    ids=[
        "version-2",
        "version-string",
        "no-version",
        "wrong-format",
        "null-format",
        "no-accounts",
        "accounts-object",
        "account-not-object",
        "bad-account-id",
        "no-account-id",
        "no-regions",
        "zone-as-region",
        "list-not-list",
        "problems-object",
        "problem-not-object",
    ],
)
def test_bad_snapshot(tmp_path: Path, change: Any, expected: list[str]) -> None:
    path, document = _snapshot(tmp_path)
    change(document)
    dump(path, document)
    with pytest.raises(InputError) as raised:
        build(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message, (part, message)


def test_bad_item_in_snapshot_names_account_and_region(tmp_path: Path) -> None:
    path, document = _snapshot(tmp_path)
    document["accounts"][0]["regions"][1]["NetworkInterfaces"][0]["MacAddress"] = "0e:zz"
    dump(path, document)
    inventory = build(path)  # that ENI is left out, and what needs it; the rest stands
    assert inventory.instances
    message = inventory.rejected[0]
    assert f"{path}: accounts[0].regions[1]: NetworkInterfaces[0].MacAddress: " in message
    assert "'0e:zz' is not a MAC address" in message


# --- files that are not inventory ------------------------------------------------------


def test_truncated_json(tmp_path: Path) -> None:
    text = Path(fixture("us-east-1", "describe-instances")).read_text()
    path = tmp_path / "describe-instances.json"
    path.write_text(text[: len(text) // 2])
    with pytest.raises(InputError) as raised:
        read_inventory_paths([str(path)])
    message = str(raised.value)
    assert message.startswith(f"{path}: not valid JSON: ")
    assert "at line" in message and "column" in message


# ASCII files are read as bytes, others as text: whitespace is what str.isspace() says in both
@pytest.mark.parametrize(
    "text", ["", "\n", "   \n\t\n", "\x0b\x0c\x1c\x1d\x1e\x1f\r\n", "\ufeff \n", "\u00a0\u2003\n"]
)
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "describe-subnets.json"
    path.write_text(text)
    with pytest.raises(InputError, match="file is empty") as raised:
        read_inventory_paths([str(path)])
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([{"SubnetId": "subnet-0585fdd9aadbe4c57"}], "expected a JSON object, got list"),
        ("Subnets", "expected a JSON object, got str"),
        (None, "expected a JSON object, got NoneType"),
        ({"Foo": []}, "neither an eniplan snapshot nor AWS CLI output"),
        ({}, "neither an eniplan snapshot nor AWS CLI output"),
        ({"Subnets": {"SubnetId": "x"}}, "Subnets: expected a list, got dict"),
        ({"Reservations": None}, "Reservations: expected a list, got NoneType"),
    ],
)
def test_not_aws_cli_output(tmp_path: Path, document: object, expected: str) -> None:
    path = dump(tmp_path / "dump.json", document)
    with pytest.raises(InputError) as raised:
        read_inventory_paths([path])
    assert str(raised.value).startswith(f"{path}: ")
    assert expected in str(raised.value)


def test_unknown_shape_lists_the_expected_keys(tmp_path: Path) -> None:
    path = dump(tmp_path / "foo.json", {"Foo": []})
    with pytest.raises(InputError) as raised:
        read_inventory_paths([path])
    for key in SHAPE_KEYS:
        assert key in str(raised.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"Subnets": [], "x": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(InputError, match="not text") as raised:
        read_inventory_paths([str(path)])
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"Subnets": ' + "[" * 100_000 + "]" * 100_000 + "}", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "expected a JSON object, got list"),
    ],
    ids=["deep-nesting", "deep-nesting-top"],
)
def test_hostile_json_is_an_input_error(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "hostile.json"
    path.write_text(text)
    with pytest.raises(InputError, match=expected) as raised:
        read_inventory_paths([str(path)])
    assert str(path) in str(raised.value)


def test_an_integer_beyond_python_s_limit_is_a_record_left_out(tmp_path: Path) -> None:
    path = tmp_path / "hostile.json"
    path.write_text('{"Subnets": [' + "1" * 5000 + "]}")
    inventory = build(path)
    assert inventory.rejected == (f"{path}: Subnets[0]: Number out of range",)


def test_directory_without_json_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("describe-instances output goes here\n")
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputError) as raised:
        read_inventory_paths([str(tmp_path)])
    assert str(raised.value) == f"{tmp_path}: directory holds no *.json file"


def test_nonexistent_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dump.json"
    with pytest.raises(InputError) as raised:
        read_inventory_paths([str(BY_REGION), str(missing)])
    assert str(raised.value) == f"{missing}: no such file or directory"


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    text = Path(fixture("us-west-2", "describe-subnets")).read_text()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    collection = read_inventory_paths(["-"])
    assert [s.origin for s in collection.shapes] == ["<stdin>"]
    assert len(collection.shapes[0].items("Subnets")) == 3


def test_stdin_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    with pytest.raises(InputError, match=r"^<stdin>: file is empty"):
        read_inventory_paths(["-"])


def test_a_file_is_read_for_every_list_of_records_and_no_other() -> None:
    """The lists a snapshot region or an AWS CLI dump may hold are the collection's
    SHAPE_KEYS: one list, in one place."""
    assert files._Lists.__struct_fields__ == SHAPE_KEYS
