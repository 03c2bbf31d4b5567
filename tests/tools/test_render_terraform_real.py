"""`render --target terraform` proven by the real provider: the snippet, in a configuration
against a moto account holding the instance, plans as imports that change no ENI, and
applied leaves the next plan with no changes (tests/helpers/realplan.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.helpers.cli_runner import run
from tests.helpers.realplan import REGION, PlanFactory, real_plans  # noqa: F401  (the session fixture)


def _ec2(endpoint: str) -> Any:
    return boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _firewall(endpoint: str) -> tuple[str, str, str]:
    """An instance with two secondary ENIs: a VPC route targets the first, whose
    source/dest check is off (a firewall); the second has it on. (instance, routed, plain).

    The ENIs' private IPs are pinned: moto draws an unpinned one at random from the whole
    subnet, the network, router (.1), DNS (.2), reserved (.3) and broadcast addresses
    included, which AWS never assigns; render rightly refuses an ENI holding the router's
    address (its table would cut the path to IMDS), so a random draw made this test flaky."""
    ec2 = _ec2(endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="fw", Description="fw", VpcId=vpc)["GroupId"]
    image = ec2.describe_images(Owners=["self"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "fw"}]}],
    )["Instances"][0]["InstanceId"]
    enis = []
    for device, name in ((1, 'side "a" ${x}'), (2, "side-b")):
        eni = ec2.create_network_interface(
            SubnetId=subnet,
            Groups=[group],
            Description=f"eth{device}",
            PrivateIpAddress=f"10.42.1.{10 + device}",
            TagSpecifications=[
                {"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": name}]}
            ],
        )["NetworkInterface"]["NetworkInterfaceId"]
        ec2.attach_network_interface(
            NetworkInterfaceId=eni, InstanceId=instance, DeviceIndex=device
        )
        enis.append(eni)
    ec2.modify_network_interface_attribute(
        NetworkInterfaceId=enis[0], SourceDestCheck={"Value": False}
    )
    table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][
        0
    ]["RouteTableId"]
    ec2.create_route(
        RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=enis[0]
    )
    return instance, enis[0], enis[1]


def _differences(change: dict[str, Any]) -> dict[str, Any]:
    """The attributes a resource change changes: (before, after) by name."""
    before, after = change["change"]["before"] or {}, change["change"]["after"] or {}
    return {
        key: (before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def _resources(plan: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {
        change["change"]["importing"]["id"]: change
        for change in plan["resource_changes"]
        if change["type"] == type_
    }


def test_snippet_plans_as_imports_only_and_keeps_a_firewalls_check_off(
    real_plans: PlanFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    instance, routed, plain = _firewall(real_plans.endpoint)
    for key, value in real_plans.env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    out = tmp_path / "out"
    code, stdout, err = run(
        [
            "render",
            "--endpoint-url",
            real_plans.endpoint,
            "--region",
            REGION,
            "--instance-id",
            instance,
            "--target",
            "terraform",
            "-o",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    assert f"{routed}: source_dest_check kept false" in stdout + err
    assert f"{plain}: source_dest_check" not in stdout + err

    config = real_plans.root / f"adopt-{instance}"
    shutil.copytree(out / instance, config)
    plan = real_plans.plan_directory(config)

    # Provider 5.100.0 imports an aws_network_interface with private_ip_list_enabled and
    # ipv6_address_list_enabled null (its read does not set them); the snippet ignores
    # changes to those two, so the plan is "4 to import, 0 to add, 0 to change, 0 to
    # destroy": every resource an import with no change.
    changes = plan["resource_changes"]
    assert all("importing" in change["change"] for change in changes), changes
    assert len(changes) == 4
    for change in changes:
        assert (change["change"]["actions"], _differences(change)) == (["no-op"], {}), change
    interfaces = _resources(plan, "aws_network_interface")
    assert sorted(interfaces) == sorted((routed, plain))
    assert len(_resources(plan, "aws_network_interface_attachment")) == 2
    assert interfaces[routed]["change"]["after"]["source_dest_check"] is False
    assert interfaces[plain]["change"]["after"]["source_dest_check"] is True

    # applied, the ENIs are as they were, and the next plan is "No changes"
    before = _enis(real_plans.endpoint, routed, plain)
    real_plans.apply_plan(config)
    assert _enis(real_plans.endpoint, routed, plain) == before
    assert before[routed]["SourceDestCheck"] is False
    again = real_plans.plan_directory(config)
    assert [c["change"]["actions"] for c in again.get("resource_changes", [])] == [["no-op"]] * 4


def _enis(endpoint: str, *eni_ids: str) -> dict[str, Any]:
    found = _ec2(endpoint).describe_network_interfaces(NetworkInterfaceIds=list(eni_ids))
    return {eni["NetworkInterfaceId"]: eni for eni in found["NetworkInterfaces"]}


def test_adopted_instance_with_its_static_user_data_passes_check_plan(
    real_plans: PlanFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The snippet and the instance (imported, its user_data wired to the snippet's local
    as the snippet says) planned by the real provider: check-plan, given the snapshot and
    the user data file, finds eniplan's static user data matching the plan's ENIs (no
    finding); without the snapshot it cannot compare them, without the file it cannot
    read them (ENI005); once the plan edits an ENI's addresses they no longer match
    (ENI004)."""
    instance, routed, _ = _firewall(real_plans.endpoint)
    for key, value in real_plans.env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    source = ["--endpoint-url", real_plans.endpoint, "--region", REGION]
    snapshot = tmp_path / "snapshot.json"
    code, _, err = run(["collect", *source, "--instance-id", instance, "-o", str(snapshot)], capsys)
    assert code == 0, err
    out = tmp_path / "out"
    # --persist networkd: user data under EC2's 16 KB, so plain text, whose SHA-1 is all a
    # 5.x plan holds (the script's, with settle.sh, is gzip: user_data_base64, kept as is)
    render = ["render", *source, "--instance-id", instance, "--target", "terraform"]
    code, _, err = run([*render, "--persist", "networkd", "-o", str(out)], capsys)
    assert code == 0, err
    config = real_plans.root / f"adopt-all-{instance}"
    shutil.copytree(out / instance, config)
    user_data_tf = next(config.glob("*_user_data.tf")).read_text()
    local = user_data_tf.split("locals {", 1)[1].split("=", 1)[0].strip()
    described = _ec2(real_plans.endpoint).describe_instances(InstanceIds=[instance])
    record = described["Reservations"][0]["Instances"][0]
    (config / "instance.tf").write_text(
        f"""import {{
  to = aws_instance.adopted
  id = "{instance}"
}}

resource "aws_instance" "adopted" {{
  ami                         = "{record["ImageId"]}"
  instance_type               = "{record["InstanceType"]}"
  subnet_id                   = "{record["SubnetId"]}"
  user_data                   = local.{local}
  user_data_replace_on_change = false
}}
"""
    )
    plan = real_plans.plan_directory(config)
    (adopted,) = [c for c in plan["resource_changes"] if c["address"] == "aws_instance.adopted"]
    assert adopted["change"]["importing"]["id"] == instance
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    args = ["check-plan", str(plan_file), "--format", "json", "--fail-on", "info"]
    args += ["--user-data", str(next(config.glob("*.cloud-config.yaml")))]
    code, stdout, err = run([*args, "--inventory", str(snapshot)], capsys)
    document = json.loads(stdout)
    assert (code, document["findings"]) == (0, []), [f["message"] for f in document["findings"]]
    excluded = {e["subject"]: e["reason"] for e in document["excluded"]}
    assert "matches the plan's ENIs" in excluded["aws_instance.adopted"]
    assert "a route targets it" in excluded[f"aws_network_interface.{_name_of(plan, routed)}"]
    # without the user data file: provider 5.x plans only its digest, not recognised
    code, stdout, _ = run(
        [
            "check-plan",
            str(plan_file),
            "--format",
            "json",
            "--fail-on",
            "info",
            "--inventory",
            str(snapshot),
        ],
        capsys,
    )
    (unverified,) = json.loads(stdout)["findings"]
    assert (code, unverified["rule_id"], unverified["address"]) == (
        1,
        "ENI005",
        "aws_instance.adopted",
    )
    assert len(unverified["eni_ids"]) == 3
    # the same plan with an address added to an ENI (a change that edits it): the static
    # user data no longer matches (ENI004, saying why)
    interfaces = [c for c in plan["resource_changes"] if c["type"] == "aws_network_interface"]
    after = interfaces[0]["change"]["after"]
    after["private_ip_list"] = [*after["private_ip_list"], "10.42.1.99"]
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(plan))
    code, stdout, _ = run(
        [
            "check-plan",
            str(stale),
            "--format",
            "json",
            "--user-data",
            str(next(config.glob("*.cloud-config.yaml"))),
            "--inventory",
            str(snapshot),
        ],
        capsys,
    )
    (drift,) = json.loads(stdout)["findings"]
    assert (drift["rule_id"], drift["address"]) == ("ENI004", "aws_instance.adopted")
    assert "an address, ENI or subnet changed" in drift["message"]
    # without the snapshot: the user data cannot be compared with the ENIs (ENI005), and
    # the route to the firewall's ENI, outside the plan, is not seen (ENI003)
    code, stdout, _ = run(args, capsys)
    found = {f["rule_id"]: f for f in json.loads(stdout)["findings"]}
    assert (code, sorted(found)) == (1, ["ENI003", "ENI005"])
    assert "--inventory" in found["ENI005"]["message"]
    assert routed in found["ENI003"]["eni_ids"][0] or found["ENI003"]["address"].endswith(
        _name_of(plan, routed)
    )


def _name_of(plan: dict[str, Any], eni_id: str) -> str:
    return str(_resources(plan, "aws_network_interface")[eni_id]["name"])
