"""eniplan as a process: `python -m eniplan`, what each command imports at start-up (in a fresh
interpreter), and AWS over HTTP with moto's server (as with LocalStack)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from eniplan.sources.sandbox import load_scenario
from tests.helpers import FIXTURES
from tests.helpers.moto_server import fake_aws_environment

# What the commands must not import: the AWS SDK and moto (AWS and sandbox sources only),
# rich (tables on a terminal), YAML (scenarios, renderers), the renderers and the lab.
HEAVY = (
    "boto3",
    "botocore",
    "moto",
    "rich",
    "yaml",
    "eniplan.sources.aws",
    "eniplan.lab",
    "eniplan.render.cloudinit",
    "eniplan.render.terraform",
    "eniplan.render.netplan",
)
# Modules each command needs, so that a command that imports nothing cannot pass.
_PROBE = """
import sys
from eniplan.cli import main
try:
    main(sys.argv[2:])
except SystemExit:
    pass
with open(sys.argv[1], "w") as out:
    out.write("\\n".join(sorted(sys.modules)))
"""


def eniplan_process(env: dict[str, str] | None, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m eniplan ARGS` in a child process (with `env`, or this one's)."""
    return subprocess.run(
        [sys.executable, "-m", "eniplan", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_python_dash_m_and_help() -> None:
    result = eniplan_process(None, "--help")
    assert result.returncode == 0
    for command in ("collect", "inspect", "demo"):
        assert command in result.stdout
    result = eniplan_process(None, "collect", "--help")
    assert "Examples:" in result.stdout and "--role-arn" in result.stdout


# --- start-up: a command imports what it needs, when it needs it -------------------------


def imported_by(tmp_path: Path, *args: str) -> set[str]:
    """The modules a fresh process holds after running `eniplan ARGS`."""
    listing = tmp_path / "modules.txt"
    # no .eniplan.yaml (reading one takes YAML): not the suite's empty one, none above tmp_path
    env = {key: value for key, value in os.environ.items() if key != "ENIPLAN_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(listing), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return set(listing.read_text().splitlines())


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY)


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("audit", "--help")])
def test_version_and_help_import_no_command_machinery(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    modules = imported_by(tmp_path, *args)
    assert "click" in modules and "eniplan.cli" in modules
    assert heavy(modules) == []
    assert "eniplan.audit" not in modules and "eniplan.sources.files" not in modules


def test_check_plan_imports_no_aws_sdk_nor_rich(tmp_path: Path) -> None:
    plan = FIXTURES / "plans" / "headline.json"
    modules = imported_by(tmp_path, "check-plan", str(plan), "--format", "json")
    assert "eniplan.checkplan" in modules
    assert heavy(modules) == []


def test_audit_of_files_imports_no_aws_sdk(tmp_path: Path) -> None:
    dumps = FIXTURES / "awscli" / "flat"
    modules = imported_by(tmp_path, "audit", "--inventory", str(dumps), "--format", "json")
    assert "eniplan.audit" in modules and "eniplan.sources.files" in modules
    assert [m for m in heavy(modules) if not m.startswith("eniplan.render")] == []


def test_collect_over_http_with_endpoint_url(moto_server: str, tmp_path: Path) -> None:
    ec2 = boto3.client(
        "ec2",
        region_name="eu-central-1",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)[
        "Instances"
    ][0]["InstanceId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=instance, DeviceIndex=1)

    env = fake_aws_environment(tmp_path)
    snapshot = tmp_path / "http.json"
    result = eniplan_process(
        env,
        "collect",
        "--endpoint-url",
        moto_server,
        "--region",
        "eu-central-1",
        "-o",
        str(snapshot),
    )
    assert result.returncode == 0, result.stderr
    shown = eniplan_process(
        env, "inspect", "--inventory", str(snapshot), "--instance-id", instance, "--format", "json"
    )
    instances = json.loads(shown.stdout)["instances"]
    assert [len(i["enis"]) for i in instances] == [2]

    # the standard AWS_ENDPOINT_URL works too, without the option
    env["AWS_ENDPOINT_URL"] = moto_server
    result = eniplan_process(
        env, "inspect", "--region", "eu-central-1", "--instance-id", instance, "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    assert [i["instance_id"] for i in json.loads(result.stdout)["instances"]] == [instance]


def test_sandbox_ignores_the_users_aws_settings(tmp_path: Path) -> None:
    env = fake_aws_environment(tmp_path)
    env.update(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_PROFILE="does-not-exist")
    result = eniplan_process(env, "inspect", "--sandbox", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["instances"]) == len(load_scenario("default").instances)


def test_unreachable_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    env = fake_aws_environment(tmp_path)
    env["AWS_MAX_ATTEMPTS"] = "1"  # the standard variable is honoured; no minute of retries
    result = eniplan_process(
        env, "inspect", "--endpoint-url", "http://127.0.0.1:9", "--region", "eu-west-1"
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
