"""The command line as users meet it: exit codes, one-line errors, outputs, sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from eniplan.model import Inventory
from eniplan.plan import MANAGED, InstancePlan
from eniplan.sources.sandbox import load_scenario
from eniplan.userdata import decompressed
from tests.helpers import FIXTURES
from tests.helpers.cli_runner import assert_one_line_error, run


@pytest.fixture(scope="module")
def sandbox_json() -> dict[str, Any]:
    from click.testing import CliRunner

    from eniplan.cli import cli

    result = CliRunner().invoke(cli, ["inspect", "--sandbox", "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


# --- the sandbox -------------------------------------------------------------------------


def test_sandbox_inventory_holds_the_classic_cases(sandbox_json: dict[str, Any]) -> None:
    by_name = {i["name"]: i for i in sandbox_json["instances"]}
    assert sandbox_json["partial"] is False
    assert len(by_name) == len(load_scenario("default").instances)

    centos = by_name["centos7-same-24"]
    assert [e["primary_ipv4"] for e in centos["enis"]] == ["10.0.0.124", "10.0.0.254"]
    assert {e["subnet_cidr"] for e in centos["enis"]} == {"10.0.0.0/24"}
    assert centos["enis"][0]["router"] == "10.0.0.1"
    assert "CentOS" in centos["image"]["name"]

    rhel = by_name["rhel-same-20"]
    assert {e["subnet_cidr"] for e in rhel["enis"]} == {"172.31.0.0/20"}
    assert rhel["image"]["platform_details"] == "Red Hat Enterprise Linux"

    assert by_name["al2023-two-enis"]["image"]["name"].startswith("al2023-ami-")
    assert by_name["web-balanced"]["tags"]["role"] == "web"

    nat = by_name["nat-instance"]
    assert nat["source_dest_check"] is False
    assert nat["enis"][0]["source_dest_check"] is False

    fix = by_name["app-check-disabled"]
    assert [e["source_dest_check"] for e in fix["enis"]] == [True, False]

    multi = by_name["multi-subnet"]
    first, second = multi["enis"]
    assert first["subnet_cidr"] != second["subnet_cidr"]
    assert first["secondary_ipv4s"] == ["10.0.0.51"]
    assert second["secondary_ipv4s"] == ["10.0.1.51", "10.0.1.52"]
    assert second["ipv4_prefixes"] == ["10.0.1.96/28"]
    assert len(second["ipv6_addresses"]) == 1
    assert second["subnet_ipv6_cidrs"]
    assert [(e["network_card_index"], e["device_index"]) for e in multi["enis"]] == [(0, 0), (0, 1)]

    singles = [i for i in by_name.values() if len(i["enis"]) == 1]
    assert len(singles) >= 4
    multi_eni = [i for i in by_name.values() if len(i["enis"]) > 1]
    assert sandbox_json["summary"]["multi_eni_instances"] == len(multi_eni) >= 6


def test_sandbox_is_deterministic(
    sandbox_json: dict[str, Any], uncached_sandbox: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # sandbox_json came from an earlier seeding of the scenario; this one is seeded afresh
    code, out, _ = run(["inspect", "--sandbox", "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out)["instances"] == sandbox_json["instances"]


def test_selection_by_instance_id_and_tag(
    sandbox_json: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    web = next(i for i in sandbox_json["instances"] if i["name"] == "web-balanced")
    code, out, _ = run(
        ["inspect", "--sandbox", "--instance-id", web["instance_id"], "--format", "json"], capsys
    )
    assert code == 0
    assert [i["name"] for i in json.loads(out)["instances"]] == ["web-balanced"]

    code, out, _ = run(["inspect", "--sandbox", "--tag", "role=web", "--format", "json"], capsys)
    assert [i["name"] for i in json.loads(out)["instances"]] == ["web-balanced"]

    code, out, _ = run(["inspect", "--sandbox", "--multi-eni-only", "--format", "json"], capsys)
    assert all(len(i["enis"]) > 1 for i in json.loads(out)["instances"])


def test_collect_then_read_offline(
    tmp_path: Path, sandbox_json: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = tmp_path / "snap.json"
    code, _, err = run(["collect", "--sandbox", "-o", str(snapshot)], capsys)
    assert code == 0, err
    assert "wrote" in err
    document = json.loads(snapshot.read_text())
    assert document["format"] == "eniplan-snapshot" and document["version"] == 1
    assert document["accounts"][0]["regions"][0]["region"] == "eu-west-1"
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left nothing behind

    code, out, _ = run(["inspect", "--inventory", str(snapshot), "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out)["instances"] == sandbox_json["instances"]


# --- bad usage and bad input: one line, exit 2 -------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["inspect", "--inventory", "/nonexistent/x.json"], ["/nonexistent/x.json"]),
        (["inspect", "--region", "eu-wset-1"], ["--region", "eu-wset-1"]),
        (["inspect", "--region", "eu-west-1;rm"], ["--region"]),
        (["inspect", "--sandbox", "--inventory", "x.json"], ["--sandbox", "--inventory"]),
        (["inspect", "--sandbox", "--region", "eu-west-1"], ["--region"]),
        (["inspect", "--sandbox", "--tag", "novalue"], ["--tag", "KEY=VALUE"]),
        (["inspect", "--sandbox", "--instance-id", "i-$(reboot)"], ["--instance-id"]),
        (["inspect", "--role-arn", "arn:aws:iam::1:role/x"], ["--role-arn"]),
        (["inspect", "--org-role", "r;id", "--region", "eu-west-1"], ["--org-role", "r;id"]),
        (["inspect", "--org-role", "r", "--exclude-account", "12345"], ["--exclude-account"]),
        (["inspect", "--org-role", "r", "--org-ou", "ou-x"], ["--org-ou", "ou-x"]),
        (["inspect", "--exclude-account", "111122223333"], ["--exclude-account", "--org-role"]),
        (["inspect", "--org-ou", "ou-abcd-12345678"], ["--org-ou", "--org-role"]),
        (
            ["inspect", "--org-role", "r", "--role-arn", "arn:aws:iam::111122223333:role/r"],
            ["--org-role", "--role-arn"],
        ),
        (["inspect", "--sandbox", "--org-role", "r"], ["--org-role", "--sandbox"]),
        (["inspect", "--sandbox", "no-such-scenario"], ["no-such-scenario"]),
        (["inspect", "--sandbox=no-such-scenario"], ["no-such-scenario"]),
        (["inspect", "--endpoint-url", "ftp://x", "--region", "eu-west-1"], ["--endpoint-url"]),
        (["collect", "--sandbox"], ["-o"]),
        (["collect", "--inventory", "x.json", "-o", "y.json"], ["collect"]),
        (["inspect", "--format", "yaml", "--sandbox"], ["yaml"]),
        (["no-such-command"], ["no-such-command"]),
    ],
)
def test_bad_usage_is_one_line_exit_2(
    argv: list[str], fragments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, *fragments)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"Reservations": [', "not valid JSON"),
        ("", "empty"),
        ("[]", "expected a JSON object"),
        ('{"Volumes": []}', "neither an eniplan snapshot nor AWS CLI output"),
        ('{"format": "eniplan-snapshot", "version": 99, "accounts": []}', "version"),
        ('{"Subnets": {"SubnetId": "subnet-12345678"}}', "Subnets: expected a list, got dict"),
    ],
)
def test_bad_inventory_file_is_one_line_exit_2(
    tmp_path: Path, content: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, _, err = run(["inspect", "--inventory", str(path)], capsys)
    assert_one_line_error(code, err, str(path), fragment)


@pytest.mark.parametrize("command", ["inspect", "audit", "plan"])
def test_a_broken_record_is_left_out_and_the_rest_processed(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad MAC in one ENI of an AWS CLI dump: that ENI and its instance are left out,
    each named on stderr; the other instances are processed; exit 4."""
    dumps = tmp_path / "us-east-1"
    dumps.mkdir()
    fixtures = FIXTURES / "awscli" / "by-region" / "us-east-1"
    for source in fixtures.glob("*.json"):
        (dumps / source.name).write_text(source.read_text())
    enis_file = dumps / "describe-network-interfaces.json"
    enis = json.loads(enis_file.read_text())
    broken = enis["NetworkInterfaces"][0]
    broken["MacAddress"] = "02:zz:00:00:00:01"
    enis_file.write_text(json.dumps(enis))
    owner = broken["Attachment"]["InstanceId"]
    code, out, err = run([command, "--inventory", str(dumps), "--format", "json"], capsys)
    assert code == 4, err
    assert "Traceback" not in err
    left_out = [line for line in err.splitlines() if line.startswith("eniplan: warning: left out")]
    assert f"{enis_file}: NetworkInterfaces[0].MacAddress: '02:zz:00:00:00:01'" in left_out[0]
    assert any(f"its ENI {broken['NetworkInterfaceId']} was left out" in x for x in left_out)
    listed = json.dumps(json.loads(out))
    assert owner not in listed
    others = {
        r["Instances"][0]["InstanceId"]
        for r in json.loads((dumps / "describe-instances.json").read_text())["Reservations"]
    } - {owner}
    assert others and all(other in listed for other in others if command != "audit")


def test_snapshot_is_not_half_written_when_collect_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = tmp_path / "snap.json"
    snapshot.write_text("previous")
    code, _, _err = run(["collect", "--sandbox", "nope", "-o", str(snapshot)], capsys)
    assert code == 2
    assert snapshot.read_text() == "previous"


# --- all regions: the enabled ones only ----------------------------------------------------


def test_all_regions_reads_only_enabled_regions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import mock_aws

    from eniplan.sources.aws import AwsCollector

    read: list[str] = []
    original = AwsCollector._region

    def recording(self: AwsCollector, account: Any, region: str) -> Any:
        read.append(region)
        return original(self, account, region)

    monkeypatch.setattr(AwsCollector, "_region", recording)
    # moto's ~1,000 bundled AMIs cost a second or more in each of the ~20 regions read
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="ap-southeast-2")
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
        opted_out = [
            r["RegionName"]
            for r in ec2.describe_regions(AllRegions=True)["Regions"]
            if r["OptInStatus"] == "not-opted-in"
        ]
        code, out, err = run(["inspect", "--all-regions", "--format", "json"], capsys)
    assert code == 0, err
    regions = {i["region"] for i in json.loads(out)["instances"]}
    assert regions == {"ap-southeast-2"}
    assert opted_out  # moto lists some; none of them may have been read
    assert "ap-southeast-2" in read and len(read) > 10
    assert not set(read) & set(opted_out)


# --- plan ---------------------------------------------------------------------------------


def test_plan_text_reads_like_the_ip_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["plan", "--sandbox", "--tag", "Name=centos7-same-24"], capsys)
    assert code == 0, err
    assert "ip rule add from 10.0.0.254 lookup 10001 priority 10001" in out
    assert "ip route replace default via 10.0.0.1 dev eth1 table 10001" in out
    assert "ip route replace 10.0.0.0/24 dev eth1 src 10.0.0.254 table 10001" in out
    assert "suppress_ifgroup 10000 priority 9999" in out


def test_plan_json_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        ["plan", "--sandbox", "--format", "json", "--table-base", "20000", "--no-guard"], capsys
    )
    assert code == 0, err
    plans = {p["name"]: p for p in json.loads(out)["plans"]}
    assert plans["al2023-two-enis"]["status"] == "handled-elsewhere"
    assert plans["bastion"]["status"] == "nothing-to-do"
    centos = plans["centos7-same-24"]
    assert centos["guard"] is None
    assert [e["table"] for e in centos["enis"]] == [20000, 20001]


def test_plan_bad_table_base_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["plan", "--sandbox", "--table-base", "40000"], capsys)
    assert_one_line_error(code, err, "--table-base", "40000")


def test_render_needs_a_directory_for_several_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["render", "--sandbox", "--target", "iproute2"], capsys)
    assert code == 2 and "-o DIR" in err.strip().splitlines()[-1]


def test_render_of_an_instance_left_alone_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        ["render", "--sandbox", "--tag", "Name=bastion", "--target", "netplan"], capsys
    )
    assert code == 2
    assert "single ENI" in err and "nothing to render" in err


def test_iproute2_for_an_instance_left_alone_is_the_teardown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        ["render", "--sandbox", "--tag", "Name=bastion", "--target", "iproute2"], capsys
    )
    assert code == 0, err
    assert out.startswith("#!/bin/sh\n") and "\nN=0\n" in out and "\nGUARD=  #" in out
    assert "single ENI" in err and "removes what an earlier eniplan script installed" in err


def test_render_one_file_to_stdout(
    capsys: pytest.CaptureFixture[str], sandbox_inventory: Inventory
) -> None:
    code, out, err = run(
        ["render", "--sandbox", "--tag", "Name=centos7-same-24", "--target", "iproute2"], capsys
    )
    assert code == 0, err
    assert out.startswith("#!/bin/sh\n")
    (instance,) = sandbox_inventory.select(tags=[("Name", "centos7-same-24")]).instances
    secondary = next(eni for eni in instance.enis if not eni.is_primary)
    assert f"mac_2={secondary.mac}" in out  # the secondary ENI, found by MAC


def test_render_to_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox_plans: dict[str, InstancePlan]
) -> None:
    code, _, err = run(
        ["render", "--sandbox", "--target", "cloud-init", "--persist", "auto", "-o", str(tmp_path)],
        capsys,
    )
    assert code == 0, err
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("user-data"))
    managed = [plan for plan in sandbox_plans.values() if plan.status == MANAGED]
    assert len(written) == len(managed)  # every managed sandbox instance
    assert "skipped, handled-elsewhere" in err  # al2023-two-enis, said so
    first, problem = decompressed((tmp_path / written[0]).read_bytes())  # gzip past 16 KB
    assert first is not None, problem
    assert first.startswith(b"#cloud-config\n# eniplan ")
    code, _, err = run(
        [
            "render",
            "--sandbox",
            "--tag",
            "Name=web-balanced",
            "--target",
            "netplan",
            "-o",
            str(tmp_path / "np"),
        ],
        capsys,
    )
    assert code == 0, err
    assert list((tmp_path / "np").glob("i-*/etc/netplan/60-eniplan.yaml"))
