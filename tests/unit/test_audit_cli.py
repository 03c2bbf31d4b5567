"""`eniplan audit` as users meet it: sources, exit codes and --fail-on, -o, warnings, bad
input, and that the command a finding names really fixes it."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eniplan import userdata
from eniplan.sources import aws as aws_source
from eniplan.sources import sandbox
from eniplan.sources.files import snapshot_document
from tests.helpers.cli_runner import run

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sandbox account as a snapshot document (collected once)."""
    document = snapshot_document(sandbox.sandbox_collection("default"))
    return json.loads(json.dumps(document, default=str))  # type: ignore[no-any-return]


def write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def names_of(document: dict[str, Any]) -> dict[str, str]:
    """Instance ID -> Name tag, from a snapshot document."""
    names = {}
    for account in document["accounts"]:
        for region in account["regions"]:
            for reservation in region["Reservations"]:
                for item in reservation["Instances"]:
                    tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
                    names[item["InstanceId"]] = tags.get("Name", "")
    return names


def audit_json(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(["audit", *argv, "--format", "json"], capsys)
    return code, json.loads(out), err


# --- exit codes and --fail-on ------------------------------------------------------------


def test_snapshot_audit_matches_the_sandbox_stories(
    snapshot: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "snap.json", snapshot)
    code, document, err = audit_json(["--inventory", path], capsys)
    assert code == 1, err  # high findings, default --fail-on high
    names = names_of(snapshot)
    found = {(names[f["instance_id"]], f["rule_id"]) for f in document["findings"]}
    assert ("eniplan-drifted", "ENI004") in found and ("centos7-same-24", "ENI001") in found
    assert not any(name == "eniplan-static-ok" for name, _ in found)
    for item in document["findings"]:
        assert (
            f"eniplan render --inventory {path} --instance-id {item['instance_id']}"
            in (item["remediation"])
        )


@pytest.mark.parametrize(
    ("name", "fail_on", "expected"),
    [
        ("centos7-same-24", "high", 1),
        ("centos7-same-24", "never", 0),
        ("eniplan-drifted", "high", 0),  # ENI004 is medium
        ("eniplan-drifted", "medium", 1),
        ("eniplan-drifted", "info", 1),
        ("appliance-waived", "info", 0),  # suppressed findings never fail
        ("bastion", "info", 0),
    ],
)
def test_fail_on(
    snapshot: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    fail_on: str,
    expected: int,
) -> None:
    path = write(tmp_path / "snap.json", snapshot)
    code, document, err = audit_json(
        ["--inventory", path, "--tag", f"Name={name}", "--fail-on", fail_on], capsys
    )
    assert code == expected, err
    assert document["summary"]["fail_on"] == fail_on


def test_output_file_is_written_and_stdout_stays_empty(
    snapshot: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "snap.json", snapshot)
    target = tmp_path / "report.sarif"
    code, out, err = run(
        ["audit", "--inventory", path, "--format", "sarif", "-o", str(target)], capsys
    )
    assert code == 1 and out == ""
    assert f"wrote {target}" in err
    assert json.loads(target.read_text())["version"] == "2.1.0"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


@pytest.mark.parametrize("fmt", ["table", "junit", "github"])
def test_every_format_from_the_cli(
    snapshot: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    path = write(tmp_path / "snap.json", snapshot)
    code, out, err = run(["audit", "--inventory", path, "--format", fmt], capsys)
    assert code == 1, err
    assert out.strip()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--fail-on", "critical"], "--fail-on"),
        (["--format", "xml"], "--format"),
        (["-o", "/nonexistent-dir/report.json"], "does not exist"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    snapshot: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    fragment: str,
) -> None:
    path = write(tmp_path / "snap.json", snapshot)
    code, _, err = run(["audit", "--inventory", path, *argv], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eniplan: error: ") and fragment in lines[0]


# --- waivers from tags -------------------------------------------------------------------


def tag_instance(document: dict[str, Any], name: str, key: str, value: str) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    for account in changed["accounts"]:
        for region in account["regions"]:
            for reservation in region["Reservations"]:
                for item in reservation["Instances"]:
                    tags = item.setdefault("Tags", [])
                    if {"Key": "Name", "Value": name} in tags:
                        tags.append({"Key": key, "Value": value})
    return changed


def test_unknown_rule_id_in_a_tag_is_a_warning(
    snapshot: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tagged = tag_instance(snapshot, "web-balanced", "eniplan:ignore", "ENI01, ENI001: known")
    path = write(tmp_path / "snap.json", tagged)
    code, document, err = audit_json(["--inventory", path, "--tag", "Name=web-balanced"], capsys)
    assert code == 0  # ENI001 waived, the rest is clean
    assert "eniplan: warning:" in err and "ENI01" in err and "waive nothing" in err
    (finding,) = document["findings"]
    assert finding["suppressed"] and finding["suppression_reason"].endswith(": known")


# --- user data in files ------------------------------------------------------------------


def strip_user_data(document: dict[str, Any]) -> dict[str, Any]:
    old = copy.deepcopy(document)
    for account in old["accounts"]:
        for region in account["regions"]:
            region.pop("InstanceUserData", None)
    return old


def test_old_snapshot_without_user_data_loads_and_says_unknown(
    snapshot: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "old.json", strip_user_data(snapshot))
    code, document, err = audit_json(
        ["--inventory", path, "--tag", "Name=eniplan-static-ok"], capsys
    )
    assert code == 1, err
    (finding,) = document["findings"]
    assert finding["rule_id"] == "ENI001" and "user data unknown" in finding["message"]


def aws_cli_dumps(document: dict[str, Any], folder: Path) -> None:
    """The snapshot as the AWS CLI would have printed it: one file per command, and one
    describe-instance-attribute file per instance."""
    folder.mkdir()
    (region,) = document["accounts"][0]["regions"]
    for key in ("Reservations", "NetworkInterfaces", "Subnets", "Images", "RouteTables"):
        write(folder / f"{key}.json", {key: region[key]})
    for item in region["InstanceUserData"]:
        write(folder / f"user-data-{item['InstanceId']}.json", item)


def test_aws_cli_describe_instance_attribute_files(
    snapshot: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aws_cli_dumps(snapshot, tmp_path / "dumps")
    names = names_of(snapshot)
    code, document, err = audit_json(["--inventory", str(tmp_path / "dumps")], capsys)
    assert code == 1, err
    found = {(names[f["instance_id"]], f["rule_id"]) for f in document["findings"]}
    assert ("eniplan-drifted", "ENI004") in found
    assert not any(name == "eniplan-static-ok" for name, _ in found)


def test_bad_base64_user_data_names_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: dict[str, Any]
) -> None:
    aws_cli_dumps(snapshot, tmp_path / "dumps")
    bad = tmp_path / "dumps" / "user-data-bad.json"
    instance_id = snapshot["accounts"][0]["regions"][0]["InstanceUserData"][0]["InstanceId"]
    write(bad, {"InstanceId": instance_id, "UserData": {"Value": "not base64!"}})
    code, _, err = run(["audit", "--inventory", str(tmp_path / "dumps")], capsys)
    # that answer is left out (the instance's user data is then unknown): exit 4
    assert code == 4, err
    (line,) = [line for line in err.splitlines() if line.startswith("eniplan: warning: left")]
    assert str(bad) in line and "UserData.Value" in line and "base64" in line
    assert "Traceback" not in err


# --- the fix works -----------------------------------------------------------------------


def test_the_named_command_fixes_the_drift(
    snapshot: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "snap.json", snapshot)
    code, document, _ = audit_json(["--inventory", path, "--tag", "Name=eniplan-drifted"], capsys)
    (finding,) = document["findings"]
    (argv,) = finding["details"]["commands"]
    assert argv[:2] == ["eniplan", "render"] and argv[-2:] == ["-o", "out/"]
    out_dir = tmp_path / "out"
    code, _, err = run([*argv[1:-1], str(out_dir)], capsys)
    assert code == 0, err
    rendered = (out_dir / finding["instance_id"] / "user-data").read_bytes()
    marker = userdata.analyse(rendered).marker
    assert marker is not None and f"sha256:{marker.digest}" == finding["details"]["current_digest"]

    # put the new user data in place: the audit is clean
    fixed = copy.deepcopy(snapshot)
    for item in fixed["accounts"][0]["regions"][0]["InstanceUserData"]:
        if item["InstanceId"] == finding["instance_id"]:
            item["UserData"] = {"Value": base64.b64encode(rendered).decode()}
    path = write(tmp_path / "fixed.json", fixed)
    code, document, err = audit_json(["--inventory", path, "--tag", "Name=eniplan-drifted"], capsys)
    assert (code, document["findings"]) == (0, []), err


# --- against moto: the only per-instance call is describe_instance_attribute -------------


@pytest.fixture
def moto_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    for name in list(__import__("os").environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def seed(ec2: Any, singles: int, multis: int) -> list[str]:
    image = ec2.register_image(Name="debian-12-amd64-x", RootDeviceName="/dev/xvda")["ImageId"]
    vpc = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.5.0.0/24")["Subnet"]["SubnetId"]
    ec2.run_instances(ImageId=image, MinCount=singles, MaxCount=singles, SubnetId=subnet)
    multi = ec2.run_instances(
        ImageId=image,
        MinCount=multis,
        MaxCount=multis,
        UserData="#!/bin/sh\necho hello\n",
        NetworkInterfaces=[
            {"DeviceIndex": 0, "SubnetId": subnet},
            {"DeviceIndex": 1, "SubnetId": subnet},
        ],
    )
    return [i["InstanceId"] for i in multi["Instances"]]


class Counting:
    """Counts every EC2/STS request of every client eniplan makes, by operation."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: dict[str, int] = {}
        original = aws_source.AwsCollector._client

        def client(collector: Any, account: Any, service: str, region: str) -> Any:
            made = original(collector, account, service, region)
            made.meta.events.register("before-send", self._count)
            return made

        monkeypatch.setattr(aws_source.AwsCollector, "_client", client)

    def _count(self, event_name: str, **_: Any) -> None:
        operation = event_name.split(".")[-1]
        self.counts[operation] = self.counts.get(operation, 0) + 1


def test_audit_against_moto_makes_one_call_per_multi_eni_instance_only(
    moto_account: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    multi = seed(moto_account, singles=12, multis=5)
    counting = Counting(monkeypatch)
    code, document, err = audit_json(["--region", REGION], capsys)
    assert code == 1, err
    assert counting.counts.pop("DescribeInstanceAttribute") == len(multi)
    # everything else is one paged list call each, whatever the number of instances
    assert counting.counts == {
        "GetCallerIdentity": 1,
        "DescribeInstances": 1,
        "DescribeNetworkInterfaces": 1,
        "DescribeSubnets": 1,
        "DescribeRouteTables": 1,
        "DescribeImages": 1,
    }
    flagged = {f["instance_id"] for f in document["findings"]}
    assert flagged == set(multi)
    assert all("user data without policy routing" in f["message"] for f in document["findings"])
    assert f"--region {REGION} --instance-id" in document["findings"][0]["remediation"]


def test_user_data_denied_is_a_warning_and_user_data_unknown(
    moto_account: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    multi = seed(moto_account, singles=1, multis=2)
    original = aws_source.AwsCollector._client
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
        b"<Code>UnauthorizedOperation</Code><Message>not allowed</Message></Error></Errors>"
        b"<RequestID>x</RequestID></Response>"
    )

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    def deny(**_: Any) -> AWSResponse:
        return AWSResponse("https://ec2", 403, HTTPHeaders(), Raw())

    def client(collector: Any, account: Any, service: str, region: str) -> Any:
        made = original(collector, account, service, region)
        made.meta.events.register_first("before-send.ec2.DescribeInstanceAttribute", deny)
        return made

    monkeypatch.setattr(aws_source.AwsCollector, "_client", client)
    code, document, err = audit_json(["--region", REGION], capsys)
    assert code == 4  # partial: some user data could not be read (1 without it)
    assert "UnauthorizedOperation" in err and "user data is then unknown" in err
    assert document["partial"] is True
    assert {f["instance_id"] for f in document["findings"]} == set(multi)
    assert all("user data unknown" in f["message"] for f in document["findings"])
