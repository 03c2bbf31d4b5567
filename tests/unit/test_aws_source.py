"""The live AWS source against moto (in process, offline), with AWS-like paging.

Each test seeds a mock account, runs `eniplan.sources.aws.collect` and builds the inventory
from what came back. Requests are counted, and errors injected, through `client_hook`
(tests/helpers/moto_aws.py). A whole organization (`--org-role`, five moto accounts) is
read in tests/tools/test_aws_organization.py.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.retries.adaptive
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from eniplan.errors import InputError
from eniplan.sources.aws import PAGE_SIZE, AwsOptions, check_regions, collect
from eniplan.sources.shapes import build_inventory
from tests.helpers.moto_aws import (
    ACCOUNT,
    REGION,
    Requests,
    assumed,
    ec2,
    ec2_error,
    fail_regions,
    hooks,
    ids,
    paging_account,
    run,
    sts_error,
    without_aws_config,
)
from tests.helpers.moto_paging import MAX_RESULTS, faithful_paging

# --- fixtures --------------------------------------------------------------------------


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    without_aws_config(monkeypatch, tmp_path)


@pytest.fixture
def aws(no_aws_config: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with paging_account(monkeypatch):
        yield


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without sleeping, so retry tests take no wall time.

    Two sleeps: the jittered backoff before each retry, and adaptive mode's client-side rate
    limit, which after a throttle starts at 0.5 requests/s (no traffic measured yet).
    """
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0
    )
    monkeypatch.setattr(
        botocore.retries.adaptive.ClientRateLimiter,
        "on_sending_request",
        lambda self, request, **_: None,
    )


# --- the paging patch itself -----------------------------------------------------------


def test_faithful_paging_pages_and_is_undone(aws: None) -> None:
    client = ec2()
    vpc = client.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    for index in range(7):
        client.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{index}.0/24")
    total = len(client.describe_subnets()["Subnets"])  # no MaxResults: everything

    first = client.describe_subnets(MaxResults=5)
    assert len(first["Subnets"]) == 5
    rest = client.describe_subnets(MaxResults=5, NextToken=first["NextToken"])
    assert len(rest["Subnets"]) == total - 5 <= 5
    assert "NextToken" not in rest
    assert {s["SubnetId"] for s in first["Subnets"] + rest["Subnets"]} == {
        s["SubnetId"] for s in client.describe_subnets()["Subnets"]
    }
    with pytest.raises(client.exceptions.ClientError, match="InvalidParameterValue"):
        client.describe_route_tables(MaxResults=1000)  # AWS allows at most 100 here

    from moto.ec2.responses.subnets import Subnets

    assert getattr(Subnets.describe_subnets, "__wrapped__", None) is not None
    with faithful_paging():  # nesting keeps the patch until the outer block ends
        pass
    assert getattr(Subnets.describe_subnets, "__wrapped__", None) is not None


def test_faithful_paging_is_undone_on_exit() -> None:
    from moto.ec2.responses.subnets import Subnets

    before = Subnets.__dict__["describe_subnets"]
    with faithful_paging():
        assert Subnets.__dict__["describe_subnets"] is not before
    assert Subnets.__dict__["describe_subnets"] is before


# --- paging past the API maximum -------------------------------------------------------


def test_each_list_asks_for_the_largest_page_its_api_accepts(aws: None) -> None:
    run(ec2(), 2)
    asked: dict[str, object] = {}

    def record(client: Any) -> None:
        def page_size(params: dict[str, Any], model: Any, **_: Any) -> None:
            asked.setdefault(model.name, params.get("MaxResults"))

        client.meta.events.register("before-parameter-build.ec2", page_size)

    collection = collect(AwsOptions(regions=(REGION,)), client_hook=record)

    assert not collection.problems  # moto pages like AWS: a size out of range is refused
    largest = {
        "DescribeInstances": MAX_RESULTS["describe_instances"][1],
        "DescribeNetworkInterfaces": MAX_RESULTS["describe_network_interfaces"][1],
        "DescribeSubnets": MAX_RESULTS["describe_subnets"][1],
        "DescribeRouteTables": MAX_RESULTS["describe_route_tables"][1],
    }
    assert largest == {
        "DescribeInstances": 1000,
        "DescribeNetworkInterfaces": 1000,
        "DescribeSubnets": 1000,
        "DescribeRouteTables": 100,
    }
    assert {operation: asked.get(operation) for operation in largest} == largest


def test_pages_past_the_page_size_with_ceil_n_over_page_requests(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 10 (route tables 5) rather than the APIs' 1000 (100), the largest sizes the
    # test above checks are asked for: the same paging with 50 times fewer items to seed.
    page = {"DescribeInstances": 10, "DescribeNetworkInterfaces": 10, "DescribeSubnets": 10}
    page["DescribeRouteTables"] = 5
    for operation, size in zip(PAGE_SIZE, page.values(), strict=True):
        monkeypatch.setitem(PAGE_SIZE, operation, size)
    client = ec2()
    instance_ids = set(run(client, 23))  # 23 instances, 23 primary ENIs
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    for index in range(20):
        client.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index}.0/28")
    for _ in range(12):
        client.create_route_table(VpcId=vpc)
    expected = {
        "DescribeInstances": 23,
        "DescribeNetworkInterfaces": len(client.describe_network_interfaces()["NetworkInterfaces"]),
        "DescribeSubnets": len(client.describe_subnets()["Subnets"]),
        "DescribeRouteTables": len(client.describe_route_tables()["RouteTables"]),
    }
    assert expected["DescribeNetworkInterfaces"] == 23
    assert expected["DescribeSubnets"] > 20
    assert expected["DescribeRouteTables"] > 10

    requests = Requests()
    collection = collect(AwsOptions(regions=(REGION,)), client_hook=requests.hook)
    inventory = build_inventory(collection)

    for operation, count in expected.items():
        assert requests.of(operation) == math.ceil(count / page[operation]) > 1, operation
    assert requests.of("DescribeImages") == 1  # one AMI in use
    assert ids(inventory) == instance_ids
    assert len(inventory.subnets) == expected["DescribeSubnets"]
    assert len(inventory.route_tables) == expected["DescribeRouteTables"]
    [shapes] = collection.shapes
    assert len(shapes.items("NetworkInterfaces")) == 23
    enis = {eni.eni_id for instance in inventory.instances for eni in instance.enis}
    assert len(enis) == 23  # every ENI arrived, each joined to its instance
    assert not collection.problems


# --- several regions and accounts ------------------------------------------------------


def test_several_regions_are_grouped_by_region(aws: None) -> None:
    placed = {REGION: set(run(ec2(REGION), 2)), "us-east-1": set(run(ec2("us-east-1"), 3))}

    collection = collect(AwsOptions(regions=(REGION, "us-east-1")))
    inventory = build_inventory(collection)

    assert [(s.account_id, s.region) for s in collection.shapes] == [
        (ACCOUNT, REGION),
        (ACCOUNT, "us-east-1"),
    ]
    for shapes in collection.shapes:
        found = {
            instance["InstanceId"]
            for reservation in shapes.items("Reservations")
            for instance in reservation["Instances"]
        }
        assert found == placed[shapes.region or ""]
    assert ids(inventory) == placed[REGION] | placed["us-east-1"]
    for instance in inventory.instances:
        assert instance.account_id == ACCOUNT
        assert instance.instance_id in placed[instance.region]
        assert instance.availability_zone.startswith(instance.region)
        assert all(inventory.subnet(eni).region == instance.region for eni in instance.enis)


ROLE_A = "arn:aws:iam::111111111111:role/eniplan-read"
ROLE_B = "arn:aws:iam::222222222222:role/eniplan-read"


def test_assumed_roles_collect_each_account(aws: None) -> None:
    placed = {
        "111111111111": set(run(ec2(session=assumed(ROLE_A)), 2)),
        "222222222222": set(run(ec2(session=assumed(ROLE_B)), 3)),
    }
    run(ec2(), 1)  # in the caller's own account: not asked for, must not appear

    collection = collect(AwsOptions(regions=(REGION,), role_arns=(ROLE_A, ROLE_B)))
    inventory = build_inventory(collection)

    assert [s.account_id for s in collection.shapes] == ["111111111111", "222222222222"]
    assert ids(inventory) == placed["111111111111"] | placed["222222222222"]
    for instance in inventory.instances:
        assert instance.instance_id in placed[instance.account_id]
        assert instance.region == REGION
    assert not collection.problems


# --- failures --------------------------------------------------------------------------


def test_failing_region_becomes_a_problem_and_the_rest_stands(aws: None) -> None:
    kept = set(run(ec2(REGION), 2))
    run(ec2("us-east-1"), 2)

    collection = collect(
        AwsOptions(regions=(REGION, "us-east-1")), client_hook=fail_regions({"us-east-1"})
    )
    inventory = build_inventory(collection)

    [problem] = collection.problems
    assert (problem.account, problem.region, problem.code) == (
        ACCOUNT,
        "us-east-1",
        "UnauthorizedOperation",
    )
    assert "injected UnauthorizedOperation" in problem.message
    assert ids(inventory) == kept
    assert inventory.partial


def test_denied_assume_role_becomes_an_account_problem(aws: None) -> None:
    kept = set(run(ec2(session=assumed(ROLE_A)), 2))
    run(ec2(session=assumed(ROLE_B)), 2)

    def deny_role_b(client: Any) -> None:
        if client.meta.service_model.service_name != "sts":
            return

        def answer(request: Any, **_: Any) -> AWSResponse | None:
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            if urllib.parse.parse_qs(body or "").get("RoleArn") == [ROLE_B]:
                return sts_error("AccessDenied", 403)
            return None

        client.meta.events.register_first("before-send.sts.AssumeRole", answer)

    collection = collect(
        AwsOptions(regions=(REGION,), role_arns=(ROLE_A, ROLE_B)), client_hook=deny_role_b
    )

    [problem] = collection.problems
    assert (problem.account, problem.region, problem.code) == (ROLE_B, "", "AccessDenied")
    assert ids(build_inventory(collection)) == kept


def test_every_region_failing_is_an_input_error(aws: None) -> None:
    run(ec2(REGION), 1)
    with pytest.raises(InputError, match="no account or region could be read"):
        collect(
            AwsOptions(regions=(REGION, "us-east-1")),
            client_hook=fail_regions({REGION, "us-east-1"}, "AuthFailure"),
        )


def test_throttling_is_retried(aws: None, no_backoff: None) -> None:
    placed = set(run(ec2(), 3))
    attempts: list[str] = []

    def throttle_twice(client: Any) -> None:
        if client.meta.service_model.service_name != "ec2":
            return

        def answer(**_: Any) -> AWSResponse | None:
            attempts.append("DescribeNetworkInterfaces")
            if len(attempts) <= 2:
                return ec2_error("RequestLimitExceeded", 400)
            return None  # let moto answer

        client.meta.events.register_first("before-send.ec2.DescribeNetworkInterfaces", answer)

    requests = Requests()
    collection = collect(
        AwsOptions(regions=(REGION,)), client_hook=hooks(throttle_twice, requests.hook)
    )

    assert len(attempts) == 3
    assert requests.of("DescribeNetworkInterfaces") == 3
    assert not collection.problems
    [shapes] = collection.shapes
    assert len(shapes.items("NetworkInterfaces")) == 3
    assert ids(build_inventory(collection)) == placed


# --- server-side selection -------------------------------------------------------------


def test_instance_id_selects_server_side(aws: None) -> None:
    wanted, *_ = run(ec2(), 4)

    collection = collect(AwsOptions(regions=(REGION,), instance_ids=(wanted,)))

    # The raw answer already holds only the one instance: AWS did the selecting.
    [shapes] = collection.shapes
    assert [i["InstanceId"] for r in shapes.items("Reservations") for i in r["Instances"]] == [
        wanted
    ]
    assert ids(build_inventory(collection)) == {wanted}


def test_tag_selects_server_side(aws: None) -> None:
    client = ec2()
    routers = set(
        run(
            client,
            2,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "router"}]}
            ],
        )
    )
    run(client, 3)

    collection = collect(AwsOptions(regions=(REGION,), tags=(("role", "router"),)))

    [shapes] = collection.shapes
    assert len([i for r in shapes.items("Reservations") for i in r["Instances"]]) == 2
    inventory = build_inventory(collection)
    assert ids(inventory) == routers
    assert all(instance.tags["role"] == "router" for instance in inventory.instances)


# --- regions and credentials -----------------------------------------------------------


@pytest.mark.parametrize("region", ["eu-wset-1", "not a region"])
def test_check_regions_refuses_unknown_names(region: str) -> None:
    with pytest.raises(InputError, match="--region"):
        check_regions((region,))


def test_check_regions_accepts_real_regions() -> None:
    assert check_regions((REGION, "us-east-1", REGION)) == (REGION, "us-east-1")


def test_no_credentials_is_an_input_error(no_aws_config: None) -> None:
    sent: list[str] = []

    def watch(client: Any) -> None:
        client.meta.events.register("before-send", lambda event_name, **_: sent.append(event_name))

    with pytest.raises(InputError, match="credentials"):
        collect(
            # An unused local port: nothing could leave the machine even if signing went on.
            AwsOptions(regions=(REGION,), endpoint_url="http://127.0.0.1:9"),
            client_hook=watch,
        )
    assert sent == []


def test_an_unknown_ami_leaves_the_image_unknown_and_keeps_the_region() -> None:
    """One deregistered or no-longer-shared AMI must not cost the whole region."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
        known = ec2.describe_instances()["Reservations"][0]["Instances"][0]
        gone = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
        from moto.backends import get_backend

        get_backend("ec2")["123456789012"]["eu-west-1"].get_instance(
            gone["InstanceId"]
        ).image_id = "ami-0000000000000dead"
        inventory = build_inventory(collect(AwsOptions(regions=("eu-west-1",))))
    assert not inventory.problems
    by_id = {i.instance_id: i for i in inventory.instances}
    assert inventory.image(by_id[gone["InstanceId"]]) is None
    assert inventory.image(by_id[known["InstanceId"]]) is not None


def test_enis_of_unselected_instances_are_not_unattached() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        first, second = (
            ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
            for _ in range(2)
        )
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]
        free = ec2.create_network_interface(SubnetId=subnet["SubnetId"])["NetworkInterface"]
        options = AwsOptions(regions=("eu-west-1",), instance_ids=(first["InstanceId"],))
        inventory = build_inventory(collect(options)).select(options.instance_ids)
    assert [i.instance_id for i in inventory.instances] == [first["InstanceId"]]
    assert [e.eni_id for e in inventory.unattached_enis] == [free["NetworkInterfaceId"]]
    assert second["InstanceId"] not in {e.instance_id for e in inventory.unattached_enis}
    # still known by ID, attached to the instance left out
    second_eni = second["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert inventory.enis[second_eni].instance_id == second["InstanceId"]
