"""A shared VPC: one subnet (and its ENIs) listed by the owner and by a participant."""

from __future__ import annotations

import pytest

from eniplan.errors import InputError
from eniplan.sources.collection import Collection, Shapes
from eniplan.sources.shapes import build_inventory

OWNER, PARTICIPANT = "111111111111", "222222222222"

SUBNET = {
    "SubnetId": "subnet-0123456789abcdef0",
    "VpcId": "vpc-0123456789abcdef0",
    "CidrBlock": "10.1.0.0/24",
    "AvailabilityZone": "eu-west-1a",
    "OwnerId": OWNER,
}
ENI = {
    "NetworkInterfaceId": "eni-0123456789abcdef0",
    "MacAddress": "02:11:22:33:44:55",
    "SubnetId": SUBNET["SubnetId"],
    "VpcId": SUBNET["VpcId"],
    "PrivateIpAddress": "10.1.0.10",
    "OwnerId": PARTICIPANT,
}


def listed_by(account: str) -> Shapes:
    return Shapes(
        f"aws {account} eu-west-1",
        account,
        "eu-west-1",
        {"Subnets": [dict(SUBNET)], "NetworkInterfaces": [dict(ENI)]},
    )


def test_a_subnet_seen_from_two_accounts_is_one_subnet_of_its_owner() -> None:
    inventory = build_inventory(Collection([listed_by(OWNER), listed_by(PARTICIPANT)]))
    assert list(inventory.subnets) == [SUBNET["SubnetId"]]
    assert inventory.subnets[SUBNET["SubnetId"]].account_id == OWNER
    assert [eni.eni_id for eni in inventory.unattached_enis] == [ENI["NetworkInterfaceId"]]


def test_the_same_subnet_twice_from_one_account_is_an_error() -> None:
    with pytest.raises(InputError, match="duplicate ID subnet-0123456789abcdef0"):
        build_inventory(Collection([listed_by(OWNER), listed_by(OWNER)]))


def test_the_same_subnet_in_two_cli_dumps_is_an_error() -> None:
    dumps = [Shapes(name, lists={"Subnets": [dict(SUBNET)]}) for name in ("a.json", "b.json")]
    with pytest.raises(InputError, match=r"b\.json: Subnets\[0\]: duplicate ID .* also at a\.json"):
        build_inventory(Collection(dumps))
