"""A moto account for the AWS source's tests (in process, offline, paging like AWS), and
what they share: counting requests and injecting errors through `client_hook` (botocore's
`before-send` event sees every attempt, and a handler registered first that returns a
response stands in for AWS: moto answers through the same event)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from moto import mock_aws

from eniplan.model import Inventory
from tests.helpers.moto_paging import faithful_paging

ACCOUNT = "123456789012"  # moto's account for the default credentials
REGION = "eu-west-1"

# Every variable that could point botocore at real credentials, a profile or an endpoint.
AWS_VARIABLES = (
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


def without_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials, profile or endpoint from the machine running the tests."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask IMDS


@contextmanager
def paging_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A moto account paging like AWS, reached with fake credentials (after
    `without_aws_config`)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # moto's ~1,000 bundled AMIs cost seconds per region and account: register our own.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws(), faithful_paging():
        yield


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


class Raw:
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
    return AWSResponse("https://ec2.amazonaws.com/", status, HTTPHeaders(), Raw(body))


def sts_error(code: str, status: int) -> AWSResponse:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>injected {code}</Message>"
        "</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse("https://sts.amazonaws.com/", status, HTTPHeaders(), Raw(body))


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
