"""check-plan on plans that the real Terraform CLI and hashicorp/aws provider made: the
configurations in tests/fixtures/tfreal planned against moto, recorded in
tests/fixtures/plans (tests/helpers/realplan.py; tests/tools/test_recorded_plans.py
plans them again and fails when a recording differs)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from eniplan.checkplan import check_plan
from eniplan.checkplan.tfplan import read_plan
from tests.helpers import FIXTURES
from tests.helpers.cli_runner import run
from tests.helpers.realplan import recorded


def report(plan: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code, out, err = run(["check-plan", str(plan), "--format", "json", *args], capsys)
    assert code in (0, 1), err
    return code, json.loads(out)


def as_the_cli_writes(plan: Path) -> str:
    """A recording (indented, to read) as `terraform show -json` prints it: one line."""
    return json.dumps(json.loads(plan.read_text()), separators=(",", ":"))


def by_address(document: Any) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for finding in document["findings"]:
        found.setdefault(finding["address"], []).append(finding)
    return found


def test_new_two_eni_instance_without_user_data_is_high_and_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The provider marks the unset user_data unknown: the configuration sets none, so
    it is no user data (ENI001 high, exit 1), not 'cannot be verified' (ENI005)."""
    plan = recorded("headline")
    raw = json.loads(plan.read_text())
    (web,) = [r for r in raw["resource_changes"] if r["address"] == "aws_instance.web"]
    assert web["change"]["after_unknown"]["user_data"] is True  # what the provider emits
    code, document = report(plan, capsys)
    assert code == 1
    (finding,) = document["findings"]
    assert (finding["rule_id"], finding["severity"], finding["address"]) == (
        "ENI001",
        "high",
        "aws_instance.web",
    )
    assert finding["eni_ids"] == [
        "aws_network_interface.primary",
        "aws_network_interface.secondary",
    ]
    assert "no user data" in finding["message"]
    code, _ = report(plan, capsys, "--fail-on", "never")
    assert code == 0


@pytest.fixture
def cases() -> Path:
    return recorded("cases")


def test_findings_of_every_way_to_give_an_instance_enis(
    cases: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = report(cases, capsys)
    assert code == 1
    found = by_address(document)
    rules = {
        address: [f["rule_id"] for f in items]
        for address, items in found.items()
        if "judged" not in address  # test_audit_and_check_plan_judge_user_data_alike
    }
    assert rules == {
        # a dynamic "network_interface" block in a module, ENIs the call passes in
        "module.dynamic.aws_instance.this[0]": ["ENI001"],
        # an aws_network_interface_attachment to module.web.id; the module's subnet is an
        # expression of its variables (not known before apply)
        "module.web.aws_instance.this[0]": ["ENI002"],
        # for_each: each instance its own ENI; each.value subnets are not known
        'aws_instance.node["a"]': ["ENI002"],
        'aws_instance.node["b"]': ["ENI002"],
        # for_each over a set: aws_instance.set[each.value]
        'aws_instance.set["x"]': ["ENI001"],
        'aws_instance.set["y"]': ["ENI001"],
        # element(aws_instance.worker.*.id, count.index): ENI i on instance i
        "aws_instance.worker[0]": ["ENI002"],
        "aws_instance.worker[1]": ["ENI002"],
        # a launch template's two interfaces in two subnets
        "aws_instance.from_template": ["ENI002"],
        # the ENI nothing routes to
        "aws_network_interface.stray": ["ENI003"],
        # waived by its ENI's tag (test_a_tag_on_the_eni_waives_as_in_audit)
        "aws_instance.waived": ["ENI001"],
        # keyed by ENI, the instance in each.value: said, not guessed
        'aws_network_interface_attachment.pair["eth1"]': ["ENI005"],
        'aws_network_interface_attachment.pair["eth2"]': ["ENI005"],
    }
    dynamic = found["module.dynamic.aws_instance.this[0]"][0]
    assert dynamic["eni_ids"] == ["aws_network_interface.dyn[0]", "aws_network_interface.dyn[1]"]
    assert found["module.web.aws_instance.this[0]"][0]["eni_ids"] == [
        "module.web.aws_instance.this[0] primary",
        "aws_network_interface.web_extra",
    ]
    for key in ("0", "1"):
        assert found[f"aws_instance.worker[{key}]"][0]["eni_ids"] == [
            f"aws_instance.worker[{key}] primary",
            f"aws_network_interface.worker[{key}]",
        ]
    for key in ("x", "y"):
        assert found[f'aws_instance.set["{key}"]'][0]["eni_ids"][1] == (
            f'aws_network_interface.set["{key}"]'
        )
    pair = found['aws_network_interface_attachment.pair["eth1"]'][0]
    assert 'aws_instance.pair["p"], aws_instance.pair["q"]' in pair["message"]
    assert "does not show which" in pair["message"]
    stray = found["aws_network_interface.stray"][0]
    assert stray["eni_ids"] == ["aws_network_interface.stray"]


def test_left_alone_with_the_reason(cases: Path) -> None:
    result = check_plan(read_plan(str(cases)))
    excluded = dict(result.report.excluded)
    # Amazon Linux 2023 from a data.aws_ami name filter: amazon-ec2-net-utils routes it
    assert "amazon-ec2-net-utils" in excluded["aws_instance.al2023"]
    assert "al2023-ami-2023.5" in excluded["aws_instance.al2023"]
    # eniplan's marker in a constant user_data
    assert "constant user_data" in excluded["aws_instance.marker"]
    # the route reaches the router's ENI through module.router.eni_id
    assert "a route targets it" in excluded["module.router.aws_network_interface.this"]


def test_module_variable_left_at_a_null_default_is_no_user_data(cases: Path) -> None:
    """module.web's instance has `user_data = var.user_data`, which the call does not set
    (default null): no user data, not 'known only after apply'."""
    result = check_plan(read_plan(str(cases)))
    (web,) = [f for f in result.report.findings if f.address == "module.web.aws_instance.this[0]"]
    assert web.details["user_data"] == "no user data"


def _same_findings(left: Any, right: Any) -> None:
    assert [(f["rule_id"], f["address"]) for f in left["findings"]] == [
        (f["rule_id"], f["address"]) for f in right["findings"]
    ]


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b"\xef\xbb\xbf"),  # PowerShell 7's `Out-File -Encoding utf8BOM`
        ("utf-16-le", b"\xff\xfe"),  # Windows PowerShell's `>`
        ("utf-16-be", b"\xfe\xff"),
        ("utf-32-le", b"\xff\xfe\x00\x00"),
    ],
)
def test_plans_in_other_encodings_are_read(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    encoding: str,
    bom: bytes,
) -> None:
    plan = recorded("headline")
    _, expected = report(plan, capsys)
    converted = tmp_path / "plan.json"
    converted.write_bytes(bom + as_the_cli_writes(plan).encode(encoding))
    code, document = report(converted, capsys)
    assert code == 1
    _same_findings(document, expected)
    # and from stdin
    _same_findings(run_stdin(converted.read_bytes(), capsys), expected)


def run_stdin(data: bytes, capsys: pytest.CaptureFixture[str]) -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        code, out, err = run(["check-plan", "-", "--format", "json"], capsys)
    assert code in (0, 1), err
    return json.loads(out)


def test_setup_terraform_wrapper_output_is_read(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`terraform show -json tfplan > plan.json` under hashicorp/setup-terraform with its
    wrapper on: the command line first, the JSON, then the wrapper's workflow commands."""
    plan = recorded("headline")
    _, expected = report(plan, capsys)
    text = as_the_cli_writes(plan)
    wrapped = tmp_path / "plan.json"
    wrapped.write_text(
        "[command]/home/runner/work/_temp/0b8f/terraform-bin show -json tfplan\n"
        f"{text}\n"
        "::debug::Terraform exited with code 0.\n"
        f"::debug::stdout: {text[:200]}\n"
        "::debug::stderr: \n"
        "::debug::exitcode: 0\n"
    )
    code, document = report(wrapped, capsys)
    assert code == 1
    _same_findings(document, expected)


USER_DATA = FIXTURES / "tfreal" / "user_data"
# the verdict audit and check-plan give each file: covered only where persistent
JUDGED = {
    "first_boot_rule.sh": False,  # `ip rule add` in a first-boot script: gone at reboot
    "net_utils.sh": True,  # installs amazon-ec2-net-utils
    "mime_eniplan.txt": True,  # eniplan's part inside MIME
    "netplan_policy.yaml": True,  # writes netplan routing-policy
}


def test_audit_and_check_plan_judge_user_data_alike(
    cases: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from eniplan.userdata import analyse

    assert sorted(p.name for p in USER_DATA.iterdir()) == sorted(JUDGED)
    for name, covered in JUDGED.items():
        assert analyse((USER_DATA / name).read_bytes()).covered is covered, name
    # provider 5.x keeps a digest of file(): without the files, nothing can be verified
    _, document = report(cases, capsys)
    judged = {a: f for a, f in by_address(document).items() if "judged" in a}
    assert {a: [f["rule_id"] for f in fs] for a, fs in judged.items()} == {
        f'aws_instance.judged["{name}"]': ["ENI005"] for name in JUDGED
    }
    # with them (--user-data), each is judged as audit judges it
    _, document = report(cases, capsys, "--user-data", str(USER_DATA))
    judged = {a: f for a, f in by_address(document).items() if "judged" in a}
    assert {a: [f["rule_id"] for f in fs] for a, fs in judged.items()} == {
        'aws_instance.judged["first_boot_rule.sh"]': ["ENI001"]
    }
    (finding,) = judged['aws_instance.judged["first_boot_rule.sh"]']
    assert "first boot only: not persistent" in finding["message"]
    excluded = {e["subject"]: e["reason"] for e in document["excluded"]}
    assert "amazon-ec2-net-utils" in excluded['aws_instance.judged["net_utils.sh"]']
    assert "eniplan dynamic user data" in excluded['aws_instance.judged["mime_eniplan.txt"]']
    assert "netplan routing-policy" in excluded['aws_instance.judged["netplan_policy.yaml"]']


def test_a_tag_on_the_eni_waives_as_in_audit(cases: Path) -> None:
    result = check_plan(read_plan(str(cases)))
    (waived,) = [f for f in result.report.findings if f.address == "aws_instance.waived"]
    assert waived.rule_id == "ENI001" and waived.suppressed
    assert waived.suppression_reason == (
        "eniplan:ignore on aws_network_interface.waived: the appliance routes its own ENIs"
    )
    assert "aws_network_interface.waived" in waived.eni_ids


@pytest.mark.parametrize(
    ("image", "instance", "left_alone"),
    [
        # an image record of Amazon Linux 2023: amazon-ec2-net-utils routes every ENI
        ({"Name": "al2023-ami-2023.6.20241010.0-kernel-6.1-x86_64"}, None, "amazon-ec2-net-utils"),
        # an image record of Debian 12: no agent, ENI001 as without the snapshot
        ({"Name": "debian-12-amd64-20240717-1811"}, None, None),
        # no image record (deregistered), an instance of it on Windows: EC2Launch
        (None, {"PlatformDetails": "Windows"}, "EC2Launch"),
    ],
)
def test_the_os_of_an_ami_id_from_the_inventory(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    image: dict[str, str] | None,
    instance: dict[str, str] | None,
    left_alone: str | None,
) -> None:
    """`ami = var.ami` (an AMI ID): the plan does not show the OS; the snapshot given
    with --inventory does, and audit's left-alone rules apply."""
    plan = recorded("headline")
    raw = json.loads(plan.read_text())
    (web,) = [r for r in raw["resource_changes"] if r["address"] == "aws_instance.web"]
    ami_id = web["change"]["after"]["ami"]
    _, without = report(plan, capsys)
    assert [f["rule_id"] for f in without["findings"]] == ["ENI001"]
    assert f"AMI {ami_id} is not in the plan" in without["findings"][0]["message"]
    if image is not None:
        (tmp_path / "images.json").write_text(
            json.dumps({"Images": [{"ImageId": ami_id, "PlatformDetails": "Linux/UNIX", **image}]})
        )
    if instance is not None:
        dump = {
            "Reservations": [
                {
                    "OwnerId": "123456789012",
                    "Instances": [
                        {
                            "InstanceId": "i-0aaaaaaaaaaaaaaa1",
                            "ImageId": ami_id,
                            "InstanceType": "t3.small",
                            "State": {"Name": "running"},
                            "Placement": {"AvailabilityZone": "eu-west-1a"},
                            "NetworkInterfaces": [],
                            **instance,
                        }
                    ],
                }
            ]
        }
        (tmp_path / "instances.json").write_text(json.dumps(dump))
    code, document = report(plan, capsys, "--inventory", str(tmp_path))
    excluded = {e["subject"]: e["reason"] for e in document["excluded"]}
    if left_alone is None:
        assert code == 1
        (finding,) = document["findings"]
        assert finding["rule_id"] == "ENI001"
        assert finding["details"]["os"] == "debian"
        assert "no agent installs it on this OS (debian, version 12)" in finding["message"]
        assert finding["details"]["os_evidence"].startswith(f"--inventory: AMI {ami_id} (debian-12")
    else:
        assert code == 0 and document["findings"] == []
        assert left_alone in excluded["aws_instance.web"]
        assert "--inventory" in excluded["aws_instance.web"]


def test_static_user_data_on_a_new_instance_is_stale(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """eniplan's static user data counts only where it matches the ENIs the plan gives
    the instance: on a new instance with new ENIs it cannot (ENI004, saying why). The
    planning options come from the marker, or, from an older eniplan's marker that records
    none, are check-plan's (eniplan's defaults), and the finding says which."""
    plan = recorded("static")
    code, document = report(plan, capsys)
    assert code == 0  # ENI004 is medium
    found = {f["address"]: f for f in document["findings"]}
    assert {a: f["rule_id"] for a, f in found.items()} == {
        "aws_instance.copied": "ENI004",
        "aws_instance.older": "ENI004",
    }
    for finding in found.values():
        assert (
            "no longer matches the ENIs: the plan creates the instance and its ENIs"
            in finding["message"]
        )
        assert "i-0123456789abcdef0" in finding["message"]
    assert found["aws_instance.copied"]["details"]["plan_options"]["source"] == "marker"
    older = found["aws_instance.older"]["details"]["plan_options"]
    assert older["source"] == "check-plan"
    assert older["note"] == (
        "its marker does not record the planning options (older eniplan): planned with "
        "eniplan's defaults (check-plan takes none)"
    )
    assert document["excluded"] == []


def rule_table(document: Any) -> dict[str, list[str]]:
    return {a: [f["rule_id"] for f in fs] for a, fs in by_address(document).items()}


def test_fleet_of_modules_with_for_each_and_auto_scaling_groups(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """tests/fixtures/tfreal/fleet: an ec2-instance module (terraform-aws-modules' shape)
    called with for_each over a map, its ENIs made with for_each and passed in by
    `[each.key]`; launch templates with two interfaces launched by auto scaling groups
    (one of them by an instance too); ENIs attached to a for_each module's instances by
    `module.bastion[each.key].id`."""
    code, document = report(recorded("fleet"), capsys)
    assert code == 1
    assert rule_table(document) == {
        # each module instance gets the ENIs of its own key: api's both in subnet a
        'module.server["api"].aws_instance.this[0]': ["ENI001"],
        # db's in subnets a and b (ignore_ami_changes: the module's other instance)
        'module.server["db"].aws_instance.ignore_ami[0]': ["ENI002"],
        # the template's interfaces, in subnets a and b: the instance launched from it,
        # and the template itself for the instances its auto scaling group launches
        "aws_instance.canary": ["ENI002"],
        "aws_launch_template.app": ["ENI002"],
        # launched by a mixed instances policy only: two interfaces in subnet a
        "aws_launch_template.workers": ["ENI001"],
        # instance_id = module.bastion[each.key].id (the plan lists `module.bastion`):
        # the instance of the same key, primary in subnet a, the ENI in subnet b
        'module.bastion["x"].aws_instance.this[0]': ["ENI002"],
        'module.bastion["y"].aws_instance.this[0]': ["ENI002"],
        # an auto scaling module's template (dynamic "network_interfaces"), one subnet
        "module.asg_plain.aws_launch_template.this": ["ENI001"],
    }
    excluded = {e["subject"]: e["reason"] for e in document["excluded"]}
    # the same module with eniplan's module's user_data_base64 as its template's user_data
    assert excluded == {
        "module.asg_routed.aws_launch_template.this": "2 ENIs, policy routing from eniplan "
        "dynamic user data (1.0), the launch template's user_data"
    }
    found = {f["address"]: f for f in document["findings"]}
    for key in ("api", "db"):
        (finding,) = [f for a, f in found.items() if a.startswith(f'module.server["{key}"]')]
        assert finding["eni_ids"] == [
            f'aws_network_interface.eth0["{key}"]',
            f'aws_network_interface.eth1["{key}"]',
        ]
        assert "not known before apply" not in finding["message"]
    for key in ("x", "y"):
        assert found[f'module.bastion["{key}"].aws_instance.this[0]']["eni_ids"] == [
            f'module.bastion["{key}"].aws_instance.this[0] primary',
            f'aws_network_interface.bastion["{key}"]',
        ]
    assert found["aws_launch_template.app"]["eni_ids"] == [
        "aws_launch_template.app network_interfaces[0]",
        "aws_launch_template.app network_interfaces[1]",
    ]


def test_platform_user_data_templates_nested_module_and_nat_routes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """tests/fixtures/tfreal/platform: templatefile() of persistent network configuration,
    eniplan's module two levels down, and NAT ENIs (source/dest check off) that routes
    target through a module variable and through for_each, or that nothing targets; an
    instance given its second ENI by a module that takes the instance's ID."""
    code, document = report(recorded("platform"), capsys)
    assert code == 1
    assert rule_table(document) == {
        # its ENI attached by a module given the instance's ID (instance_id =
        # var.instance_id): primary in subnet a, the module's ENI in subnet b
        "aws_instance.worker": ["ENI002"],
        # templatefile() as user_data: provider 5.x plans only its digest
        "aws_instance.networkd": ["ENI005"],
        # templatefile() of the ENI's address: known only after apply
        "aws_instance.nm": ["ENI005"],
        # the NAT ENI no route targets
        "aws_network_interface.nat_c": ["ENI003"],
    }
    found = {f["address"]: f for f in document["findings"]}
    assert found["aws_instance.worker"]["eni_ids"] == [
        "aws_instance.worker primary",
        'module.worker_enis.aws_network_interface.this["storage"]',
    ]
    assert "holds only its digest" in found["aws_instance.networkd"]["message"]
    assert "known only after apply" in found["aws_instance.nm"]["message"]
    excluded = {e["subject"]: e["reason"] for e in document["excluded"]}
    # base64gzip(templatefile()) as user_data_base64: the plan holds the text
    assert "netplan routing-policy" in excluded["aws_instance.netplan"]
    # eniplan's module's output handed up by module.stack, and called two levels down
    assert "eniplan dynamic user data" in excluded["aws_instance.edge"]
    assert "eniplan's Terraform module" in excluded["module.stack.module.node.aws_instance.this"]
    # the route in module.private_routes targets var.nat_eni_id = nat_a's ID; the route
    # made with for_each targets each.value = nat_b's ID; module.zone_routes["a"]'s,
    # var.nat_eni_id = each.value of the call's for_each = nat_d's ID
    for eni in (
        "aws_network_interface.nat_a",
        "aws_network_interface.nat_b",
        "aws_network_interface.nat_d",
    ):
        assert excluded[eni] == "source/dest check off: a route targets it"


def test_replaced_moved_and_destroyed_instances(capsys: pytest.CaptureFixture[str]) -> None:
    """tests/fixtures/tfreal/lifecycle, planned from the state its before/ applied: an
    instance replaced (its AMI, Amazon Linux 2023 to Debian 12) keeps its two ENIs; an
    ENI's attachment replaced to move it from blue to green; instances destroyed, one
    with its ENI, one keeping its ENI (an aws_network_interface whose `attachment` the
    provider reads from AWS: the instance the ENI is attached to before apply)."""
    plan = recorded("lifecycle")
    raw = json.loads(plan.read_text())
    actions = {r["address"]: r["change"]["actions"] for r in raw["resource_changes"]}
    assert actions["aws_instance.app"] == ["delete", "create"]
    assert actions["aws_network_interface_attachment.floating"] == ["delete", "create"]
    assert actions["aws_instance.old"] == actions["aws_instance.retired"] == ["delete"]
    code, document = report(plan, capsys)
    assert code == 1
    assert rule_table(document) == {
        "aws_instance.app": ["ENI001"],
        "aws_instance.green": ["ENI001"],
    }
    found = {f["address"]: f for f in document["findings"]}
    assert found["aws_instance.app"]["eni_ids"] == [
        "aws_network_interface.app_eth0",
        "aws_network_interface.app_eth1",
    ]
    assert found["aws_instance.green"]["eni_ids"] == [
        "aws_instance.green primary",
        "aws_network_interface.floating",
    ]


def test_enis_on_two_network_cards(capsys: pytest.CaptureFixture[str]) -> None:
    """tests/fixtures/tfreal/cards: device index 0 on card 0 and on card 1. With the ENIs'
    IDs known (existing ENIs), the instance's two blocks were matched to the plan's by
    device index alone: both to the first, one ENI, no finding."""
    code, document = report(recorded("cards"), capsys)
    assert code == 1
    raw = json.loads(recorded("cards").read_text())
    (trainer,) = [r for r in raw["resource_changes"] if r["address"] == "aws_instance.trainer"]
    blocks = trainer["change"]["after"]["network_interface"]
    assert [(b["network_card_index"], b["device_index"]) for b in blocks] == [(0, 0), (1, 0)]
    assert rule_table(document) == {
        # existing ENIs outside the configuration: their subnets are not in the plan
        "aws_instance.trainer": ["ENI002"],
        "aws_instance.trainer_new": ["ENI002"],
    }
    found = {f["address"]: f for f in document["findings"]}
    assert found["aws_instance.trainer"]["eni_ids"] == sorted(
        b["network_interface_id"] for b in blocks
    )
    assert found["aws_instance.trainer_new"]["eni_ids"] == [
        "aws_network_interface.card0",
        "aws_network_interface.card1",
    ]


def test_instance_replaced_create_before_destroy(capsys: pytest.CaptureFixture[str]) -> None:
    """tests/fixtures/tfreal/replace: an AMI change replaces an instance, the new one
    created first; its attachment resource is replaced with it. The ENI's `attachment`
    (read from AWS) still names the old instance: not an instance outside the
    configuration (it was an ENI005 on the old instance's ID)."""
    plan = recorded("replace")
    raw = json.loads(plan.read_text())
    actions = {r["address"]: r["change"]["actions"] for r in raw["resource_changes"]}
    assert actions["aws_instance.cbd"] == ["create", "delete"]
    code, document = report(plan, capsys)
    assert code == 1
    assert rule_table(document) == {"aws_instance.cbd": ["ENI002"]}
    (finding,) = document["findings"]
    assert finding["eni_ids"] == ["aws_instance.cbd primary", "aws_network_interface.cbd_eth1"]
