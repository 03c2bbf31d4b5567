"""AWS API shapes -> inventory: a bad record is left out with a message naming the file,
field and value, and the rest stands; input that cannot be read as a whole is an InputError.

Each case starts from the AWS CLI output under tests/fixtures/awscli/by-region/us-east-1,
breaks one thing in one file, and reads the directory as `--inventory DIR` would.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from eniplan.errors import InputError
from eniplan.sources.collection import Collection, Shapes
from eniplan.sources.files import read_inventory_paths
from eniplan.sources.shapes import Where, build_inventory
from tests.helpers.awscli import (
    EAST,
    ENIS,
    IMAGES,
    INSTANCES,
    ROUTES,
    SUBNETS,
    Document,
    copy_region,
    load,
    write,
)

SEED_001 = "i-0c541472eb4304c4b"
TWO_SUBNETS = "i-05a1756c2579bfead"
SEED_ETH0 = "eni-0385f207b6d94400c"
SEED_ETH1 = "eni-0b208c6759bc760d5"
MULTI_ETH0 = "eni-09946ad99ed67b1e6"
SEED_SUBNET = "subnet-0585fdd9aadbe4c57"

Mutation = Callable[[Document], object]


def broken(
    tmp_path: Path, command: str, mutate: Mutation, *, without: tuple[str, ...] = ()
) -> tuple[Path, Path]:
    """A copy of us-east-1 with one file changed: (the directory, the changed file)."""
    directory = copy_region(tmp_path, without=without)
    document = load(command)
    mutate(document)
    return directory, write(directory / f"{command}.json", document)


def error_of(*paths: Path) -> str:
    """The InputError of input that cannot be read as a whole."""
    with pytest.raises(InputError) as raised:
        build_inventory(read_inventory_paths([str(p) for p in paths]))
    return str(raised.value)


def rejected_of(*paths: Path) -> str:
    """The first record left out (what it cost comes after it); the rest still stands."""
    inventory = build_inventory(read_inventory_paths([str(p) for p in paths]))
    assert inventory.rejected, "nothing was left out"
    assert inventory.instances, "the rest of the inventory stands"
    return inventory.rejected[0]


def reservation(document: Document, instance_id: str) -> Document:
    found: Document = next(
        r for r in document["Reservations"] if r["Instances"][0]["InstanceId"] == instance_id
    )
    return found


def eni_index(document: Document, eni_id: str) -> int:
    items = document["NetworkInterfaces"]
    return next(i for i, eni in enumerate(items) if eni["NetworkInterfaceId"] == eni_id)


def eni(document: Document, eni_id: str) -> Document:
    found: Document = document["NetworkInterfaces"][eni_index(document, eni_id)]
    return found


def subnet(document: Document, subnet_id: str) -> Document:
    found: Document = next(s for s in document["Subnets"] if s["SubnetId"] == subnet_id)
    return found


def test_the_fixture_itself_is_good(tmp_path: Path) -> None:
    inventory = build_inventory(read_inventory_paths([str(copy_region(tmp_path))]))
    assert len(inventory.instances) == 6


# --- one broken value: file, field path and value named --------------------------------

SEED_ENI = eni_index(load(ENIS), SEED_ETH0)
MULTI_ENI = eni_index(load(ENIS), MULTI_ETH0)


def _set(path: list[str | int], value: object) -> Mutation:
    def mutate(document: Document) -> None:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: list[str | int]) -> Mutation:
    def mutate(document: Document) -> None:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


FIRST: list[str | int] = ["Reservations", 0, "Instances", 0]
NI: list[str | int] = ["NetworkInterfaces", SEED_ENI]
MI: list[str | int] = ["NetworkInterfaces", MULTI_ENI]

CASES: list[tuple[str, str, Mutation, list[str]]] = [
    (
        "instance without InstanceId",
        INSTANCES,
        _delete([*FIRST, "InstanceId"]),
        ["Reservations[0].Instances[0]: missing required key 'InstanceId'"],
    ),
    (
        "invalid instance ID",
        INSTANCES,
        _set([*FIRST, "InstanceId"], "i-xyz"),
        ["Reservations[0].Instances[0].InstanceId: 'i-xyz' is not a valid i- ID"],
    ),
    (
        "instance ID that is an ENI ID",
        INSTANCES,
        _set([*FIRST, "InstanceId"], SEED_ETH0),
        [f"Reservations[0].Instances[0].InstanceId: '{SEED_ETH0}' is not a valid i- ID"],
    ),
    (
        "invalid image ID",
        INSTANCES,
        _set([*FIRST, "ImageId"], "ami-$(id)"),
        ["Reservations[0].Instances[0].ImageId: 'ami-$(id)' is not a valid ami- ID"],
    ),
    (
        "non-string tag value",
        INSTANCES,
        _set([*FIRST, "Tags", 0, "Value"], 42),
        ["Reservations[0].Instances[0].Tags[0].Value: 42 is not a tag value"],
    ),
    (
        "tag value too long",
        INSTANCES,
        _set([*FIRST, "Tags", 0, "Value"], "v" * 257),
        ["Reservations[0].Instances[0].Tags[0].Value: 'vvv", "is not a tag value"],
    ),
    (
        "tag without Key",
        INSTANCES,
        _delete([*FIRST, "Tags", 0, "Key"]),
        ["Reservations[0].Instances[0].Tags[0]: missing required key 'Key'"],
    ),
    (
        "invalid reservation owner",
        INSTANCES,
        _set(["Reservations", 0, "OwnerId"], "1111-2222-3333"),
        ["Reservations[0].OwnerId: '1111-2222-3333' is not an AWS account ID"],
    ),
    (
        "no placement",
        INSTANCES,
        _delete([*FIRST, "Placement"]),
        ["Reservations[0].Instances[0].Placement: missing required key 'AvailabilityZone'"],
    ),
    (
        "zone that is a region",
        INSTANCES,
        _set([*FIRST, "Placement", "AvailabilityZone"], "us-east-1"),
        ["Reservations[0].Instances[0].Placement.AvailabilityZone: 'us-east-1' is not an"],
    ),
    (
        "source/dest check as a string",
        INSTANCES,
        _set([*FIRST, "SourceDestCheck"], "false"),
        ["Reservations[0].Instances[0].SourceDestCheck: 'false' is not true or false"],
    ),
    (
        "instances not a list",
        INSTANCES,
        _set(["Reservations", 0, "Instances"], {"InstanceId": SEED_001}),
        ["Reservations[0].Instances: expected a list, got dict"],
    ),
    (
        "reservation not an object",
        INSTANCES,
        _set(["Reservations", 0], "r-0f2fef932ff1626bd"),
        ["Reservations[0]: expected an object, got str"],
    ),
    (
        "ENI without MacAddress",
        ENIS,
        _delete([*NI, "MacAddress"]),
        [f"NetworkInterfaces[{SEED_ENI}]: missing required key 'MacAddress'"],
    ),
    (
        "invalid MAC",
        ENIS,
        _set([*NI, "MacAddress"], "02:zz:cd:ef:01:23"),
        [f"NetworkInterfaces[{SEED_ENI}].MacAddress: '02:zz:cd:ef:01:23' is not a MAC address"],
    ),
    (
        "invalid primary address",
        ENIS,
        _set([*NI, "PrivateIpAddress"], "10.0.0.300"),
        [f"NetworkInterfaces[{SEED_ENI}].PrivateIpAddress: '10.0.0.300' is not an IPv4 address"],
    ),
    (
        "invalid secondary address",
        ENIS,
        _set([*MI, "PrivateIpAddresses", 1, "PrivateIpAddress"], "10.0.0.300"),
        [
            f"NetworkInterfaces[{MULTI_ENI}].PrivateIpAddresses[1].PrivateIpAddress: "
            "'10.0.0.300' is not an IPv4 address"
        ],
    ),
    (
        "primary differs from PrivateIpAddress",
        ENIS,
        _set([*NI, "PrivateIpAddresses", 0, "PrivateIpAddress"], "172.31.15.217"),
        [
            f"NetworkInterfaces[{SEED_ENI}].PrivateIpAddresses[0]: primary address "
            "172.31.15.217 differs from PrivateIpAddress 172.31.15.216"
        ],
    ),
    (
        "IPv4 prefix with host bits set",
        ENIS,
        _set([*MI, "Ipv4Prefixes", 0, "Ipv4Prefix"], "172.31.24.17/28"),
        [
            f"NetworkInterfaces[{MULTI_ENI}].Ipv4Prefixes[0].Ipv4Prefix: '172.31.24.17/28' "
            "is not an IPv4 CIDR block"
        ],
    ),
    (
        "IPv6 address with a scope ID",
        ENIS,
        _set([*MI, "Ipv6Addresses", 0, "Ipv6Address"], "fe80::1%$(reboot)"),
        [
            f"NetworkInterfaces[{MULTI_ENI}].Ipv6Addresses[0].Ipv6Address: 'fe80::1%$(reboot)' "
            "is not an IPv6 address"
        ],
    ),
    (
        "ENI with no address at all",
        ENIS,
        lambda d: eni(d, SEED_ETH0).update(PrivateIpAddress=None, PrivateIpAddresses=[]),
        [f"NetworkInterfaces[{SEED_ENI}]: ENI has no private IPv4 address and no IPv6 address"],
    ),
    (
        "invalid ENI ID",
        ENIS,
        _set([*NI, "NetworkInterfaceId"], "eni-0385F207B6D94400C"),
        [f"NetworkInterfaces[{SEED_ENI}].NetworkInterfaceId: 'eni-0385F207B6D94400C' is not"],
    ),
    (
        "device index as a string",
        ENIS,
        _set([*NI, "Attachment", "DeviceIndex"], "0"),
        [f"NetworkInterfaces[{SEED_ENI}].Attachment.DeviceIndex: '0' is not a non-negative"],
    ),
    (
        "negative network card",
        ENIS,
        _set([*NI, "Attachment", "NetworkCardIndex"], -1),
        [f"NetworkInterfaces[{SEED_ENI}].Attachment.NetworkCardIndex: -1 is not a non-negative"],
    ),
    (
        "attachment not an object",
        ENIS,
        _set([*NI, "Attachment"], "attached"),
        [f"NetworkInterfaces[{SEED_ENI}].Attachment: expected an object"],
    ),
    (
        "interface type with an escape sequence",
        ENIS,
        _set([*NI, "InterfaceType"], "\x1b]0;pwned\x07"),
        [f"NetworkInterfaces[{SEED_ENI}].InterfaceType: '\\x1b]0;pwned\\x07' is not printable"],
    ),
    (
        "ENI tag value not a string",
        ENIS,
        _set([*NI, "TagSet"], [{"Key": "team", "Value": None}]),
        [f"NetworkInterfaces[{SEED_ENI}].TagSet[0].Value: None is not a tag value"],
    ),
    (
        "subnet CIDR with host bits set",
        SUBNETS,
        _set(["Subnets", 0, "CidrBlock"], "172.31.0.5/20"),
        ["Subnets[0].CidrBlock: '172.31.0.5/20' is not an IPv4 CIDR block"],
    ),
    (
        "subnet CIDR without a prefix length",
        SUBNETS,
        _set(["Subnets", 0, "CidrBlock"], "172.31.0.0"),
        ["Subnets[0].CidrBlock: '172.31.0.0' is not an IPv4 CIDR block"],
    ),
    (
        "subnet IPv6 block with host bits set",
        SUBNETS,
        _set(["Subnets", 1, "Ipv6CidrBlockAssociationSet", 0, "Ipv6CidrBlock"], "2600:1f18::1/64"),
        [
            "Subnets[1].Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock: '2600:1f18::1/64' "
            "is not an IPv6 CIDR block"
        ],
    ),
    (
        "IPv6-only subnet whose block is gone",
        SUBNETS,
        _set(
            ["Subnets", 2, "Ipv6CidrBlockAssociationSet", 0, "Ipv6CidrBlockState", "State"],
            "disassociated",
        ),
        ["Subnets[2]: subnet has neither 'CidrBlock' nor an associated IPv6 CIDR block"],
    ),
    (
        "subnet without SubnetId",
        SUBNETS,
        _delete(["Subnets", 0, "SubnetId"]),
        ["Subnets[0]: missing required key 'SubnetId'"],
    ),
    (
        "subnet owner missing",
        SUBNETS,
        _delete(["Subnets", 4, "OwnerId"]),
        ["Subnets[4]: missing required key 'OwnerId'"],
    ),
    (
        "subnet tag key empty",
        SUBNETS,
        _set(["Subnets", 2, "Tags", 0, "Key"], ""),
        ["Subnets[2].Tags[0].Key: '' is not a tag key"],
    ),
    (
        "image ID invalid",
        IMAGES,
        _set(["Images", 0, "ImageId"], "ami-xyz"),
        ["Images[0].ImageId: 'ami-xyz' is not a valid ami- ID"],
    ),
    (
        "route target not an ENI ID",
        ROUTES,
        _set(["RouteTables", 1, "Routes", 2, "NetworkInterfaceId"], "eni-nat"),
        ["RouteTables[1].Routes[2].NetworkInterfaceId: 'eni-nat' is not a valid eni- ID"],
    ),
    (
        "route destination with a newline",
        ROUTES,
        _set(["RouteTables", 1, "Routes", 2, "DestinationCidrBlock"], "0.0.0.0/0\nreboot"),
        ["RouteTables[1].Routes[2]: destination: '0.0.0.0/0\\nreboot' is not printable"],
    ),
    (
        "route to an instance without a destination",
        ROUTES,
        _delete(["RouteTables", 1, "Routes", 2, "DestinationCidrBlock"]),
        ["RouteTables[1].Routes[2]: route has no DestinationCidrBlock"],
    ),
    (
        "route table associations not a list",
        ROUTES,
        _set(["RouteTables", 1, "Associations"], 3),
        ["RouteTables[1].Associations: expected a list, got int"],
    ),
    (
        "association subnet ID not a string",
        ROUTES,
        _set(["RouteTables", 1, "Associations", 0, "SubnetId"], [SEED_SUBNET]),
        ["RouteTables[1].Associations[0].SubnetId: ['subnet-0585fdd9aadbe4c57'] is not a valid"],
    ),
]


@pytest.mark.parametrize(
    ("command", "mutate", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_value(tmp_path: Path, command: str, mutate: Mutation, expected: list[str]) -> None:
    directory, changed = broken(tmp_path, command, mutate)
    message = rejected_of(directory)
    assert message.startswith(f"{changed}: "), message
    for part in expected:
        assert part in message, (part, message)
    assert "\n" not in message, "one line on stderr"


# --- what people write is data, whatever characters it holds -----------------------------


def test_odd_but_legal_tags_and_descriptions_are_data(tmp_path: Path) -> None:
    """EC2 takes any characters in a tag or a description: a tab, a newline, an escape
    sequence, a bidi override, 256 of them. They are carried as they are, never a reason
    to stop (every output escapes them)."""
    odd = "web\tapp\nrm -rf / \x1b]0;pwned\x07 \u202e [red]x[/red] " + "é" * 200
    odd = odd[:256]

    def tag(document: Document) -> None:
        document["Reservations"][0]["Instances"][0]["Tags"].append({"Key": "k\ty", "Value": odd})

    directory, _ = broken(tmp_path, INSTANCES, tag)
    enis = load(ENIS)
    enis["NetworkInterfaces"][SEED_ENI]["Description"] = odd
    write(directory / f"{ENIS}.json", enis)
    inventory = build_inventory(read_inventory_paths([str(directory)]))
    assert inventory.rejected == ()
    first = load(INSTANCES)["Reservations"][0]["Instances"][0]["InstanceId"]
    instance = inventory.instance(first)
    assert instance is not None and instance.tags["k\ty"] == odd
    assert inventory.enis[SEED_ETH0].description == odd


# --- describe-instances only: the embedded ENIs are checked ----------------------------


def test_embedded_eni_without_mac(tmp_path: Path) -> None:
    directory, changed = broken(
        tmp_path,
        INSTANCES,
        _delete([*FIRST, "NetworkInterfaces", 1, "MacAddress"]),
        without=(ENIS,),
    )
    message = rejected_of(directory)
    assert message == (
        f"{changed}: Reservations[0].Instances[0].NetworkInterfaces[1]: "
        "missing required key 'MacAddress'"
    )


def test_embedded_eni_with_invalid_address(tmp_path: Path) -> None:
    path = [*FIRST, "NetworkInterfaces", 0, "PrivateIpAddresses", 0, "PrivateIpAddress"]
    directory, changed = broken(tmp_path, INSTANCES, _set(path, "172.31.15.999"), without=(ENIS,))
    message = rejected_of(directory)
    assert message.startswith(f"{changed}: Reservations[0].Instances[0].NetworkInterfaces[0]")
    assert "'172.31.15.999' is not an IPv4 address" in message


def test_embedded_eni_attached_to_another_instance(tmp_path: Path) -> None:
    path = [*FIRST, "NetworkInterfaces", 0, "Attachment", "InstanceId"]
    directory, changed = broken(tmp_path, INSTANCES, _set(path, TWO_SUBNETS), without=(ENIS,))
    first = load(INSTANCES)["Reservations"][0]["Instances"][0]["InstanceId"]
    assert first != TWO_SUBNETS
    message = rejected_of(directory)
    assert message == (
        f"{changed}: Reservations[0].Instances[0].NetworkInterfaces[0].Attachment.InstanceId: "
        f"{TWO_SUBNETS} differs from the instance {first}"
    )


# --- ENIs and subnets that do not fit together ------------------------------------------


def test_eni_whose_subnet_is_not_in_the_inventory(tmp_path: Path) -> None:
    def drop_seed_subnet(document: Document) -> None:
        document["Subnets"] = [s for s in document["Subnets"] if s["SubnetId"] != SEED_SUBNET]

    directory, _ = broken(tmp_path, SUBNETS, drop_seed_subnet)
    message = error_of(directory)
    enis = load(ENIS)["NetworkInterfaces"]
    index = next(i for i, e in enumerate(enis) if e["SubnetId"] == SEED_SUBNET)
    eni_id = enis[index]["NetworkInterfaceId"]
    assert message.startswith(f"{directory / ENIS}.json: NetworkInterfaces[{index}]: ")
    assert f"ENI {eni_id} is in subnet {SEED_SUBNET}, which is not in the inventory" in message
    assert "aws ec2 describe-subnets" in message


def test_embedded_eni_whose_subnet_is_not_in_the_inventory(tmp_path: Path) -> None:
    directory = copy_region(tmp_path, without=(ENIS, SUBNETS))
    message = error_of(directory)
    first = load(INSTANCES)["Reservations"][0]["Instances"][0]
    eni = first["NetworkInterfaces"][0]
    assert message == (
        f"{directory / INSTANCES}.json: Reservations[0].Instances[0]: "
        f"ENI {eni['NetworkInterfaceId']} of {first['InstanceId']} is in subnet "
        f"{eni['SubnetId']}, which is not in the inventory "
        "(add the output of 'aws ec2 describe-subnets')"
    )


def test_two_enis_claim_one_slot(tmp_path: Path) -> None:
    directory, _ = broken(
        tmp_path, ENIS, lambda d: eni(d, SEED_ETH1)["Attachment"].update(DeviceIndex=0)
    )
    message = rejected_of(directory)
    index = load(INSTANCES)["Reservations"].index(reservation(load(INSTANCES), SEED_001))
    assert message.startswith(f"{directory / INSTANCES}.json: Reservations[{index}].Instances[0]")
    assert f"{SEED_ETH0} and {SEED_ETH1} both claim network card 0 device index 0" in message


def test_two_enis_share_a_mac(tmp_path: Path) -> None:
    mac = load(ENIS)["NetworkInterfaces"][SEED_ENI]["MacAddress"]
    directory, _ = broken(tmp_path, ENIS, lambda d: eni(d, SEED_ETH1).update(MacAddress=mac))
    message = rejected_of(directory)
    assert message.startswith(f"{directory / INSTANCES}.json: Reservations[")
    assert "two ENIs of the instance share one MAC address" in message


# --- duplicates -------------------------------------------------------------------------


def test_same_eni_in_two_network_interface_files(tmp_path: Path) -> None:
    directory = copy_region(tmp_path)
    again = directory / "describe-network-interfaces-again.json"
    shutil.copy(EAST / f"{ENIS}.json", again)
    message = error_of(directory)
    first_id = load(ENIS)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    # the directory is read in name order: "...-again.json" first
    assert message == (
        f"{directory / ENIS}.json: NetworkInterfaces[0]: duplicate ID {first_id}: "
        f"also at {again}: NetworkInterfaces[0]"
    )


def test_same_instance_in_two_files(tmp_path: Path) -> None:
    directory = copy_region(tmp_path)
    other = tmp_path / "elsewhere" / "instances.json"
    other.parent.mkdir()
    shutil.copy(EAST / f"{INSTANCES}.json", other)
    message = error_of(directory, other)
    first = load(INSTANCES)["Reservations"][0]["Instances"][0]["InstanceId"]
    assert message == (
        f"{other}: Reservations[0].Instances[0]: duplicate ID {first}: "
        f"also at {directory / INSTANCES}.json: Reservations[0].Instances[0]"
    )


def test_same_instance_twice_in_one_file(tmp_path: Path) -> None:
    def twice(document: Document) -> None:
        document["Reservations"].append(reservation(document, SEED_001))

    directory, changed = broken(tmp_path, INSTANCES, twice)
    last = len(load(INSTANCES)["Reservations"])
    message = error_of(directory)
    assert message.startswith(f"{changed}: Reservations[{last}].Instances[0]: ")
    assert f"duplicate ID {SEED_001}: also at {changed}: Reservations[" in message


def test_same_subnet_in_two_files(tmp_path: Path) -> None:
    directory = copy_region(tmp_path)
    write(directory / "more-subnets.json", {"Subnets": [subnet(load(SUBNETS), SEED_SUBNET)]})
    message = error_of(directory)
    assert f"duplicate ID {SEED_SUBNET}" in message
    assert str(directory / "more-subnets.json") in message


def test_the_same_image_twice_is_fine(tmp_path: Path) -> None:
    """A public AMI is listed by every account and region that uses it."""
    directory = copy_region(tmp_path)
    shutil.copy(EAST / f"{IMAGES}.json", directory / "describe-images-again.json")
    inventory = build_inventory(read_inventory_paths([str(directory)]))
    assert len(inventory.images) == len(load(IMAGES)["Images"])


# --- in memory: Shapes with an account and region (AWS source, snapshots) ---------------


def _located(account: str, region: str, **lists: list[Document]) -> Shapes:
    return Shapes(f"aws {account} {region}", account, region, dict(lists))


def test_located_shapes_take_account_and_region_from_the_listing() -> None:
    subnets = load(SUBNETS)["Subnets"]
    for item in subnets:
        del item["OwnerId"]
    reservations = load(INSTANCES)["Reservations"]
    for item in reservations:
        del item["OwnerId"]
    shapes = _located("999988887777", "us-east-1", Subnets=subnets, Reservations=reservations)
    inventory = build_inventory(Collection([shapes]))
    assert {s.account_id for s in inventory.subnets.values()} == {"999988887777"}
    assert {i.account_id for i in inventory.instances} == {"999988887777"}
    assert {i.region for i in inventory.instances} == {"us-east-1"}


def test_located_shapes_keep_the_owner_of_a_shared_subnet() -> None:
    shapes = _located("111122223333", "us-east-1", Subnets=load(SUBNETS)["Subnets"])
    inventory = build_inventory(Collection([shapes]))
    assert inventory.subnets["subnet-0bfe25507e9123308"].account_id == "444455556666"


def test_local_zone_region_in_located_shapes() -> None:
    shapes = _located("111122223333", "us-west-2", Subnets=load(SUBNETS, "us-west-2")["Subnets"])
    inventory = build_inventory(Collection([shapes]))
    zones = {s.availability_zone: s.region for s in inventory.subnets.values()}
    assert zones["us-west-2-lax-1a"] == "us-west-2"


def test_error_in_located_shapes_names_account_and_region() -> None:
    subnets = load(SUBNETS)["Subnets"]
    subnets[3]["CidrBlock"] = "172.31.96.1/24"
    shapes = _located("111122223333", "us-east-1", Subnets=subnets)
    inventory = build_inventory(Collection([shapes]))
    assert len(inventory.subnets) == len(subnets) - 1
    assert inventory.rejected == (
        "aws 111122223333 us-east-1: Subnets[3].CidrBlock: '172.31.96.1/24' is not an IPv4 "
        "CIDR block (expected a network like 10.0.1.0/24)",
    )


def test_secondary_addresses_listed_twice_count_once() -> None:
    enis = load(ENIS)["NetworkInterfaces"]
    addresses = enis[MULTI_ENI]["PrivateIpAddresses"]
    addresses.append(dict(addresses[1]))
    shapes = Shapes(
        "dump.json", lists={"NetworkInterfaces": enis, "Subnets": load(SUBNETS)["Subnets"]}
    )
    inventory = build_inventory(Collection([shapes]))
    multi = inventory.enis[MULTI_ETH0]
    assert multi.secondary_ipv4s == (IPv4Address("172.31.20.11"),)


def test_ipv6_association_states() -> None:
    subnets = load(SUBNETS)["Subnets"]
    dual = subnets[1]
    state = dual["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlockState"]
    results = {}
    for name in ("associated", "associating", "disassociating", "disassociated", "failed"):
        state["State"] = name
        shapes = Shapes("dump.json", lists={"Subnets": [dual]})
        results[name] = len(
            build_inventory(Collection([shapes])).subnets[dual["SubnetId"]].ipv6_cidrs
        )
    assert results == {
        "associated": 1,
        "associating": 1,
        "disassociating": 0,
        "disassociated": 0,
        "failed": 0,
    }


def test_where() -> None:
    where = Where("dump.json").at("Reservations").at(3).at("Instances").at(0).at("InstanceId")
    assert str(where) == "dump.json: Reservations[3].Instances[0].InstanceId"
    assert str(Where("dump.json")) == "dump.json"
    with pytest.raises(InputError, match=r"^dump\.json: Subnets\[1\]: bad$"):
        Where("dump.json").at("Subnets").at(1).fail("bad")


def test_empty_collection() -> None:
    inventory = build_inventory(Collection())
    assert inventory.instances == ()
    assert inventory.subnets == {}
    assert inventory.partial is False
