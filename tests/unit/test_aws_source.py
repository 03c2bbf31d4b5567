"""The live AWS source against moto (in process, offline), with AWS-like paging.

Each test seeds a mock account, runs `eniplan.sources.aws.collect` and builds the inventory
from what came back. Requests are counted, and errors injected, through `client_hook`:
botocore's `before-send` event sees every attempt, and a handler registered first that
returns a response stands in for AWS (moto answers through the same event).
"""

from __future__ import annotations

import math
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.retries.adaptive
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from moto import mock_aws

from eniplan.errors import InputError
from eniplan.model import Inventory
from eniplan.sources.aws import PAGE_SIZE, AwsOptions, check_regions, collect
from eniplan.sources.shapes import build_inventory
from tests.helpers.moto_paging import MAX_RESULTS, faithful_paging

ACCOUNT = "123456789012"  # moto's account for the default credentials
REGION = "eu-west-1"

# Every variable that could point botocore at real credentials, a profile or an endpoint.
_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_ENDPOINT_URL_STS",
)


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials, profile or endpoint from the machine running the tests."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask IMDS


@pytest.fixture
def aws(no_aws_config: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A moto account paging like AWS, reached with fake credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # moto's ~1,000 bundled AMIs cost seconds per region and account: register our own.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws(), faithful_paging():
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


# --- helpers ---------------------------------------------------------------------------


class Requests:
    """Counts every attempt per (service, region, operation), from any thread."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()

    def hook(self, client: Any) -> None:
        region = client.meta.region_name

        def count(event_name: str, **_: Any) -> None:
            _event, service, operation = event_name.split(".")
            with self._lock:
                self.counts[(service, region, operation)] += 1

        client.meta.events.register("before-send", count)

    def of(self, operation: str, region: str = REGION) -> int:
        return self.counts[("ec2", region, operation)]


class _Raw:
    """Just enough of a urllib3 response for botocore to read a body."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def ec2_error(code: str, status: int) -> AWSResponse:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>injected {code}</Message>"
        "</Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID>"
        "</Response>"
    ).encode()
    return AWSResponse("https://ec2.amazonaws.com/", status, HTTPHeaders(), _Raw(body))


def sts_error(code: str, status: int) -> AWSResponse:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>injected {code}</Message>"
        "</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse("https://sts.amazonaws.com/", status, HTTPHeaders(), _Raw(body))


def hooks(*each: Callable[[Any], None]) -> Callable[[Any], None]:
    def hook(client: Any) -> None:
        for one in each:
            one(client)

    return hook


def fail_regions(regions: set[str], code: str = "UnauthorizedOperation") -> Callable[[Any], None]:
    """Every EC2 call in these regions is refused with a 403."""

    def hook(client: Any) -> None:
        if client.meta.service_model.service_name == "ec2" and client.meta.region_name in regions:
            # First, so the injected answer wins over moto's (also a before-send handler).
            client.meta.events.register_first("before-send.ec2", lambda **_: ec2_error(code, 403))

    return hook


def ec2(region: str = REGION, session: boto3.Session | None = None) -> Any:
    return (session or boto3.Session()).client("ec2", region_name=region)


def an_ami(client: Any) -> str:
    return str(client.register_image(Name="eniplan-test", RootDeviceName="/dev/xvda")["ImageId"])


def run(client: Any, count: int, **kwargs: Any) -> list[str]:
    answer = client.run_instances(
        ImageId=an_ami(client), MinCount=count, MaxCount=count, InstanceType="t3.micro", **kwargs
    )
    return [instance["InstanceId"] for instance in answer["Instances"]]


def assumed(role_arn: str) -> boto3.Session:
    """A session with the role's credentials: moto files its resources under that account."""
    credentials = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="seed")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def ids(inventory: Inventory) -> set[str]:
    return {instance.instance_id for instance in inventory.instances}


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


# --- an organization (--org-role) -------------------------------------------------------

ORG_ROLE = "eniplan-read"


def an_organization() -> tuple[dict[str, str], dict[str, str]]:
    """An organization whose management account is the caller's: accounts "a" under OU
    "apps", "b" under its child OU "web", "c" at the root and "gone", closed; one instance
    in every account, the management account included. ({name: account}, {OU name: ID})."""
    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    apps = org.create_organizational_unit(ParentId=root, Name="apps")["OrganizationalUnit"]["Id"]
    web = org.create_organizational_unit(ParentId=apps, Name="web")["OrganizationalUnit"]["Id"]
    accounts = {"management": ACCOUNT}
    for name, parent in (("a", apps), ("b", web), ("c", root), ("gone", root)):
        status = org.create_account(AccountName=name, Email=f"{name}@example.com")
        account = status["CreateAccountStatus"]["AccountId"]
        if parent != root:
            org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=parent)
        accounts[name] = account
    for account in accounts.values():
        run(ec2(session=assumed(f"arn:aws:iam::{account}:role/{ORG_ROLE}")), 1)
    org.close_account(AccountId=accounts["gone"])
    return accounts, {"root": root, "apps": apps, "web": web}


def accounts_read(collection: Any) -> set[str]:
    return {shapes.account_id for shapes in collection.shapes}


def test_org_role_reads_every_active_account(aws: None) -> None:
    accounts, _ = an_organization()
    requests = Requests()

    collection = collect(
        AwsOptions(regions=(REGION, "us-east-1"), org_role=ORG_ROLE), client_hook=requests.hook
    )

    expected = {accounts[name] for name in ("management", "a", "b", "c")}  # not "gone"
    assert accounts_read(collection) == expected
    assert len(collection.shapes) == 2 * len(expected)
    assert {i.account_id for i in build_inventory(collection).instances} == expected
    assert not collection.problems
    assert requests.counts[("sts", REGION, "AssumeRole")] == len(expected)
    org_calls = {
        op: n for (service, _, op), n in requests.counts.items() if service == "organizations"
    }
    assert org_calls == {"ListAccounts": 1}  # 5 accounts: one page


def test_org_ou_is_recursive_and_exclude_account_leaves_out(aws: None) -> None:
    accounts, ous = an_organization()

    under_apps = collect(AwsOptions(regions=(REGION,), org_role=ORG_ROLE, org_ous=(ous["apps"],)))
    assert accounts_read(under_apps) == {accounts["a"], accounts["b"]}  # "web" is under "apps"

    both = (ous["web"], ous["apps"])  # named twice (web is under apps): read once
    excluded = collect(
        AwsOptions(
            regions=(REGION,),
            org_role=ORG_ROLE,
            org_ous=both,
            exclude_accounts=(accounts["b"],),
        )
    )
    assert accounts_read(excluded) == {accounts["a"]}
    assert len(excluded.shapes) == 1

    everyone_but = collect(
        AwsOptions(regions=(REGION,), org_role=ORG_ROLE, exclude_accounts=(ACCOUNT,))
    )
    assert accounts_read(everyone_but) == {accounts[name] for name in ("a", "b", "c")}


def test_org_accounts_that_fail_make_a_partial_collection(aws: None) -> None:
    accounts, _ = an_organization()
    denied, closed = accounts["a"], accounts["c"]
    closed_keys: set[str] = set()

    def account_faults(client: Any) -> None:
        service = client.meta.service_model.service_name
        if service == "sts":

            def refuse(request: Any, **_: Any) -> AWSResponse | None:
                body = request.body.decode() if isinstance(request.body, bytes) else request.body
                [arn] = urllib.parse.parse_qs(body or "")["RoleArn"]
                return sts_error("AccessDenied", 403) if f"::{denied}:" in arn else None

            def remember(parsed: Any, **_: Any) -> None:  # the closed account's credentials
                if f"::{closed}:" in parsed.get("AssumedRoleUser", {}).get("Arn", ""):
                    closed_keys.add(parsed["Credentials"]["AccessKeyId"])

            client.meta.events.register_first("before-send.sts.AssumeRole", refuse)
            client.meta.events.register("after-call.sts.AssumeRole", remember)
        elif service == "ec2":

            def suspended(request: Any, **_: Any) -> AWSResponse | None:
                key = request.headers["Authorization"].decode().split("Credential=")[1]
                return ec2_error("AuthFailure", 401) if key.split("/")[0] in closed_keys else None

            client.meta.events.register_first("before-send.ec2", suspended)

    collection = collect(
        AwsOptions(regions=(REGION,), org_role=ORG_ROLE), client_hook=account_faults
    )

    assert accounts_read(collection) == {accounts[n] for n in ("management", "b")}
    problems = {(p.account, p.region, p.code) for p in collection.problems}
    assert problems == {
        (f"arn:aws:iam::{denied}:role/{ORG_ROLE}", "", "AccessDenied"),
        (closed, REGION, "AuthFailure"),
    }
    assert build_inventory(collection).partial


def test_an_org_account_listed_with_an_unusable_id_is_a_problem(aws: None) -> None:
    accounts, _ = an_organization()

    def garble_first(client: Any) -> None:
        def garble(parsed: Any, **_: Any) -> None:
            parsed["Accounts"][0]["Id"] = "1234; reboot"

        if client.meta.service_model.service_name == "organizations":
            client.meta.events.register("after-call.organizations.ListAccounts", garble)

    collection = collect(AwsOptions(regions=(REGION,), org_role=ORG_ROLE), client_hook=garble_first)

    [problem] = collection.problems
    assert problem.account == "organization" and "'1234; reboot'" in problem.message
    assert "is not an AWS account ID" in problem.message
    # ListAccounts lists by joining time: the management account first, garbled here
    assert accounts_read(collection) == {accounts[name] for name in ("a", "b", "c")}


def test_an_organization_that_cannot_be_listed_is_an_input_error(aws: None) -> None:
    def refuse(client: Any) -> None:
        if client.meta.service_model.service_name == "organizations":
            body = b'{"__type": "AccessDeniedException", "Message": "injected"}'
            answer = AWSResponse("https://organizations/", 400, HTTPHeaders(), _Raw(body))
            client.meta.events.register_first("before-send", lambda **_: answer)

    with pytest.raises(InputError, match="management account or a delegated administrator"):
        collect(AwsOptions(regions=(REGION,), org_role=ORG_ROLE), client_hook=refuse)
    accounts, _ = an_organization()
    with pytest.raises(InputError, match="no ACTIVE account to read once --exclude-account"):
        collect(
            AwsOptions(
                regions=(REGION,), org_role=ORG_ROLE, exclude_accounts=tuple(accounts.values())
            )
        )


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
