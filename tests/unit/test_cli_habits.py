"""CLI habits: `-o -` is stdout, `-o json` is refused with the hint --format, AWS_REGION is
honoured as AWS CLI v2 does, and tables stay whole in 80 columns."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from eniplan.audit import AuditOptions, SourceArgs, audit
from eniplan.cli import main
from eniplan.inventory.output import print_inventory
from eniplan.report.table import print_report
from eniplan.terminal import plain_console
from tests.helpers.builders import largest_instance
from tests.helpers.cli_runner import assert_one_line_error, run


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("habits") / "snap.json"
    try:
        main(["collect", "--sandbox", "-o", str(path)])
    except SystemExit as exit_:
        assert not exit_.code
    return path


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- -o - ------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["json", "sarif", "junit", "github", "table"])
def test_dash_is_stdout_for_reports(
    snapshot: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str], output_format: str
) -> None:
    argv = ["audit", "--inventory", str(snapshot), "--format", output_format, "-o", "-"]
    code, out, err = run(argv, capsys)
    assert code == 1, err  # the sandbox has high findings
    assert "ENI001" in out
    if output_format in ("json", "sarif"):
        json.loads(out)
    assert list(in_tmp.iterdir()) == []  # no file named '-'
    assert "wrote" not in err


def test_dash_is_stdout_for_collect_and_render(
    snapshot: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["collect", "--sandbox", "-o", "-"], capsys)
    assert code == 0, err
    assert json.loads(out)["format"] == "eniplan-snapshot"
    assert "wrote the snapshot to stdout" in err
    select = ["--inventory", str(snapshot), "--tag", "Name=web-balanced"]
    code, out, err = run(["render", *select, "--target", "iproute2", "-o", "-"], capsys)
    assert code == 0, err
    assert out.startswith("#!/bin/sh")
    assert list(in_tmp.iterdir()) == []


# --- -o FORMAT ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["audit", "--sandbox", "-o", "json"], "pass --format json"),
        (["audit", "--sandbox", "--output", "SARIF"], "pass --format sarif"),
        (["check-plan", "plan.json", "-o", "junit"], "pass --format junit"),
        (["doctor", "-o", "json"], "pass --format json"),
        (["collect", "--sandbox", "-o", "json"], "--format chooses formats"),
        (["render", "--sandbox", "--target", "netplan", "-o", "yaml"], "--format chooses"),
        (["terraform-module", "-o", "json"], "--format chooses formats"),
    ],
)
def test_a_format_name_is_not_an_output_path(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], argv: list[str], hint: str
) -> None:
    code, out, err = run(argv, capsys)
    line = assert_one_line_error(code, err, "is a format name", hint, "-o ./")
    assert "--format" in line
    assert out == ""
    assert list(in_tmp.iterdir()) == []


def test_a_command_that_writes_a_directory_refuses_stdout(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """terraform-module writes several files: `-o -` is refused, where it made a directory
    named '-'; `-o ./-` still reaches one."""
    code, out, err = run(["terraform-module", "-o", "-"], capsys)
    assert_one_line_error(code, err, "-o -", "several files", "-o ./-")
    assert out == ""
    assert list(in_tmp.iterdir()) == []
    code, _, err = run(["terraform-module", "-o", "./-"], capsys)
    assert code == 0, err
    assert (in_tmp / "-" / "main.tf").is_file()


def test_a_file_named_like_a_format_is_still_reachable(
    snapshot: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["audit", "--inventory", str(snapshot), "--format", "json", "-o", "./json"]
    code, _, err = run(argv, capsys)
    assert code == 1, err
    json.loads((in_tmp / "json").read_text())


# --- AWS_REGION --------------------------------------------------------------------------


@pytest.fixture
def moto_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_STS"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        yield


def _subnet_in(region: str) -> None:  # a subnet only this region has
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")


@pytest.mark.parametrize("default_region", [None, "us-east-1"])
def test_aws_region_is_honoured_before_aws_default_region(
    moto_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    default_region: str | None,
) -> None:
    _subnet_in("eu-west-3")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    if default_region:
        monkeypatch.setenv("AWS_DEFAULT_REGION", default_region)
    code, out, err = run(["collect", "-o", "-"], capsys)
    assert code == 0, err
    (account,) = json.loads(out)["accounts"]
    assert [region["region"] for region in account["regions"]] == ["eu-west-3"]
    cidrs = {subnet["CidrBlock"] for subnet in account["regions"][0]["Subnets"]}
    assert "10.9.1.0/24" in cidrs


def test_a_bad_aws_region_is_named(
    moto_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_REGION", "mars")
    code, _, err = run(["inspect"], capsys)
    assert_one_line_error(code, err, "AWS_REGION: 'mars' is not an AWS region name")


# --- 80 columns -------------------------------------------------------------------------


def test_inventory_in_80_columns_keeps_every_address_id_and_mac() -> None:
    inventory = largest_instance(enis=4, addresses=12)
    buffer = io.StringIO()
    print_inventory(plain_console(file=buffer, width=80), inventory)
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    words = set(re.split(r"[\s,]+", text))
    for eni in inventory.instances[0].enis:
        assert eni.eni_id in words and eni.mac in words
        for address in eni.ipv4_addresses:
            assert str(address) in words, address


def test_inventory_fits_one_row_per_eni_when_wide() -> None:
    inventory = largest_instance(enis=2, addresses=1)
    buffer = io.StringIO()
    print_inventory(plain_console(file=buffer, width=132), inventory)
    rows = [line for line in buffer.getvalue().splitlines() if "eni-" in line]
    assert len(rows) == 2
    assert all("02:00:00:00" in row and "10.20." in row for row in rows)


def test_fix_commands_are_never_hard_wrapped() -> None:
    inventory = largest_instance(enis=2, addresses=1)
    source = SourceArgs(("--inventory", "a/rather/long/path/to/the/snapshot-file.json"))
    report = audit(inventory, AuditOptions(source=source))
    buffer = io.StringIO()
    print_report(plain_console(file=buffer, width=80), report)
    fix_lines = [line for line in buffer.getvalue().splitlines() if "fix:" in line]
    assert fix_lines
    for line in fix_lines:
        assert "eniplan render --inventory a/rather/long/path/to/the/snapshot-file.json" in line
        assert "--instance-id i-0123456789abcdef0" in line
