"""A run that lost regions never passes a gate: a moto server behind a fault proxy with a
denied region, a slow one and a black hole. Every wait here is bounded: the black hole by
--timeout, the subprocesses by their own timeouts; no assertion is about elapsed time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli_runner import run
from tests.helpers.fault_proxy import fault_proxy
from tests.helpers.moto_server import fake_aws_environment

HOME, DENIED, SLOW, HOLE = "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1"
FAULTS = {DENIED: "deny", SLOW: "slow", HOLE: "blackhole"}


@pytest.fixture
def aws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in fake_aws_environment(tmp_path).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)


@pytest.fixture
def proxy_url(moto_server: str, aws_env: None) -> Iterator[str]:
    with fault_proxy(moto_server, FAULTS) as proxy:
        yield proxy.url


def _regions(*regions: str) -> list[str]:
    return [arg for region in regions for arg in ("--region", region)]


def test_a_denied_region_makes_the_run_partial(
    proxy_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["inspect", "--endpoint-url", proxy_url, *_regions(HOME, DENIED, SLOW), "--format"]
    code, out, err = run([*argv, "json"], capsys)
    assert code == 4, err
    document = json.loads(out)
    assert document["partial"] is True
    assert [p["region"] for p in document["problems"]] == [DENIED]
    assert document["problems"][0]["code"] == "UnauthorizedOperation"
    lines = err.strip().splitlines()
    assert any(DENIED in line and "UnauthorizedOperation" in line for line in lines), err
    assert lines[-1].startswith("eniplan: partial: 1 ") and "--allow-partial" in lines[-1]
    assert "Traceback" not in err

    code, _, err = run([*argv, "json", "--allow-partial"], capsys)
    assert code == 0, err


@pytest.mark.parametrize("output_format", ["json", "sarif", "junit", "table"])
def test_reports_carry_what_was_not_read(
    proxy_url: str, capsys: pytest.CaptureFixture[str], output_format: str
) -> None:
    argv = ["audit", "--endpoint-url", proxy_url, *_regions(HOME, DENIED)]
    code, out, err = run([*argv, "--format", output_format], capsys)
    assert code == 4, err
    if output_format == "json":
        document = json.loads(out)
        assert document["partial"] is True and DENIED in document["problems"][0]
    elif output_format == "sarif":
        (invocation,) = json.loads(out)["runs"][0]["invocations"]
        assert invocation["executionSuccessful"] is False
        notes = invocation["toolExecutionNotifications"]
        assert any(n["level"] == "error" and DENIED in n["message"]["text"] for n in notes)
    elif output_format == "junit":
        root = ET.fromstring(out)
        assert root.get("errors") == "1"
        (error,) = root.iter("error")
        assert DENIED in (error.text or "")
    else:
        assert "PARTIAL" in out and f"not read: 123456789012 {DENIED}" in out


def test_a_partial_gate_fails_even_with_findings_below_fail_on(
    proxy_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["audit", "--endpoint-url", proxy_url, *_regions(HOME, DENIED), "--fail-on", "never"]
    code, _, err = run([*argv, "--format", "json"], capsys)
    assert code == 4, err
    code, _, err = run([*argv, "--format", "json", "--allow-partial"], capsys)
    assert code == 0, err


def test_a_slow_region_is_read_and_a_black_hole_costs_the_deadline(
    proxy_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The black hole ends with the deadline (--timeout 3): the retry after the first 3 s
    read timeout is refused, not botocore's attempts of 3 s each (how long it takes is the
    benchmarks' business, not this test's)."""
    argv = ["inspect", "--endpoint-url", proxy_url, *_regions(HOME, SLOW, HOLE), "--timeout", "3"]
    code, out, err = run([*argv, "--format", "json"], capsys)
    assert code == 4, err
    document = json.loads(out)
    assert [p["region"] for p in document["problems"]] == [HOLE]
    (problem,) = document["problems"]
    assert problem["code"] == "DeadlineExceeded", problem
    assert "3 s deadline (--timeout)" in problem["message"], problem


def test_ctrl_c_ends_the_run_at_once(moto_server: str, tmp_path: Path) -> None:
    """A thread sits in the black hole with the run's deadline 600 s away: SIGINT ends the
    run (130, "interrupted", no snapshot) where only the interrupt can have ended it."""
    with fault_proxy(moto_server, FAULTS) as proxy:
        argv = [sys.executable, "-m", "eniplan", "collect", "--endpoint-url", proxy.url]
        process = subprocess.Popen(
            [*argv, *_regions(HOME, HOLE), "--timeout", "600", "-o", str(tmp_path / "snap.json")],
            env=fake_aws_environment(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while HOLE not in proxy.requests and time.monotonic() < deadline:
                time.sleep(0.05)  # until a thread sits in the black hole
            assert HOLE in proxy.requests
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=120)  # a guard against hanging, not a figure
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "eniplan: interrupted"
    assert "Traceback" not in err
    assert not (tmp_path / "snap.json").exists()


# --- an organization (--org-role) on the moto server ----------------------------------


def test_an_org_account_that_cannot_be_assumed_makes_the_run_partial(
    moto_server: str, aws_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    def client(service: Any, **credentials: Any) -> Any:
        return boto3.client(service, region_name=HOME, endpoint_url=moto_server, **credentials)

    org = client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    team = org.create_organizational_unit(ParentId=root, Name="team")["OrganizationalUnit"]["Id"]
    members = []
    for name in ("kept", "denied", "elsewhere"):
        status = org.create_account(AccountName=name, Email=f"{name}@example.com")
        members.append(status["CreateAccountStatus"]["AccountId"])
    kept, denied, elsewhere = members
    for account in (kept, denied):
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=team)
    for account in members:
        answer = client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/eniplan-read", RoleSessionName="seed"
        )["Credentials"]
        ec2 = client(
            "ec2",
            aws_access_key_id=answer["AccessKeyId"],
            aws_secret_access_key=answer["SecretAccessKey"],
            aws_session_token=answer["SessionToken"],
        )
        image = ec2.register_image(Name="org", RootDeviceName="/dev/xvda")["ImageId"]
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")

    with fault_proxy(moto_server, {}, denied_accounts={denied}) as proxy:
        snapshot = tmp_path / "team.json"
        argv = ["--endpoint-url", proxy.url, "--region", HOME, "--org-role", "eniplan-read"]
        code, _, err = run(["collect", *argv, "--org-ou", team, "-o", str(snapshot)], capsys)
        assert code == 4, err
        assert f"arn:aws:iam::{denied}:role/eniplan-read: AccessDenied" in err
        document = json.loads(snapshot.read_text())
        assert [a["account_id"] for a in document["accounts"]] == [kept]

        everyone = [*argv, "--exclude-account", "123456789012", "--format", "json"]
        code, out, err = run(["inspect", *everyone, "--allow-partial"], capsys)
        assert code == 0, err
        assert {i["account_id"] for i in json.loads(out)["instances"]} == {kept, elsewhere}
