"""`eniplan check-plan`: every way a plan gives an instance ENIs, user data verdicts, ENI003,
waivers, formats and exit codes, and bad input.

The plans are real: the Terraform CLI and hashicorp/aws 5.100.0 planned the
configurations of tests/fixtures/tfreal against moto, recorded in tests/fixtures/plans
(scripts/record-plans; tests/tools/test_recorded_plans.py fails when a recording differs
from what they write now). Hand-built input only where the test is about malformed
input, or about a provider 6.x shape that no provider installable here writes."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from eniplan.checkplan import check_plan, digests_of_files
from eniplan.checkplan.tfplan import module_key, parse_plan, parse_resource_ref
from eniplan.checks.policy_routing import compare_subnets
from eniplan.cli import cli, main
from eniplan.errors import InputError
from eniplan.findings import Finding
from eniplan.model import Inventory
from eniplan.plan import PlanOptions, plan_instance
from eniplan.render import cloudinit, dynamic
from eniplan.userdata import find_marker
from tests.helpers import REPO
from tests.helpers.realplan import FIXTURES, recorded
from tests.helpers.tfplan_builder import PlanBuilder, const, ref

SHAPES, EXISTING = "shapes", "existing"
MARKED = (FIXTURES / SHAPES / "marked.yaml").read_text()
PLAIN = "#!/bin/sh\necho hello\n"


def world() -> dict[str, str]:
    """The IDs of the seeded account the recordings were planned against (var.world)."""
    document = json.loads(recorded(SHAPES).read_text())
    return dict(document["variables"]["world"]["value"])


def check(name: str, **options: Any) -> dict[str, Finding]:
    """The findings of check-plan on a recorded plan, suppressed ones too, by address."""
    plan = parse_plan(recorded(name).read_bytes(), str(recorded(name)))
    findings = check_plan(plan, **options).report.findings
    found = {f.address or "": f for f in findings}
    assert len(found) == len(findings)
    return found


def excluded(name: str, **options: Any) -> dict[str, str]:
    plan = parse_plan(recorded(name).read_bytes(), str(recorded(name)))
    return dict(check_plan(plan, **options).report.excluded)


def rules(found: dict[str, Finding], prefix: str = "") -> dict[str, str]:
    return {a: f.rule_id for a, f in found.items() if a.startswith(prefix) and not f.suppressed}


# --- the paths from instance to ENI (real plans: tests/fixtures/tfreal/shapes, existing)


def test_inline_network_interface_blocks_same_subnet() -> None:
    finding = check(SHAPES)["aws_instance.inline"]
    assert (finding.rule_id, finding.severity) == ("ENI001", "high")
    assert finding.eni_ids == ("aws_network_interface.eth0", "aws_network_interface.eth1")
    subnet = world()["subnet_a"]
    assert f"2 ENIs in subnet {subnet} without policy routing" in finding.message


def test_eni_attachment_block_with_count_links_each_instance_to_its_own_eni() -> None:
    found = check(SHAPES)
    # two ENIs in one subnet (the same aws_subnet, its ID unknown), each its own ENI
    assert rules(found, "aws_instance.counted") == {
        "aws_instance.counted[0]": "ENI001",
        "aws_instance.counted[1]": "ENI001",
    }
    for index in (0, 1):
        assert found[f"aws_instance.counted[{index}]"].eni_ids == (
            f"aws_instance.counted[{index}] primary",
            f"aws_network_interface.counted[{index}]",
        )


def test_known_ids_link_existing_resources() -> None:
    """The imported instance, its imported ENI attached by the instance's ID."""
    finding = check(EXISTING)["aws_instance.known"]
    assert finding.rule_id == "ENI002"
    assert finding.eni_ids == ("aws_instance.known primary", "aws_network_interface.attached")


def test_attachment_to_an_instance_outside_the_configuration_cannot_be_verified() -> None:
    found = check(SHAPES)
    finding = found["aws_network_interface_attachment.outside"]
    assert (finding.rule_id, finding.instance_id) == ("ENI005", "i-0fedcba9876543210")
    assert not finding.suppressed
    assert "not in this configuration" in finding.message
    assert "eniplan:ignore" in finding.remediation
    # waived by a tag on the ENI (the instance is not here to carry it)
    waived = found["aws_network_interface_attachment.outside_waived"]
    assert waived.suppressed and waived.suppression_reason == (
        "eniplan:ignore on aws_network_interface.outside_waived: AMI does it"
    )


def test_for_each_module_instances_and_eniplan_module_user_data() -> None:
    assert rules(check(SHAPES), "module.") == {
        'module.legacy[0].aws_instance.web["a"]': "ENI005",
        'module.app["blue"].aws_network_interface.side[0]': "ENI003",
    }
    assert excluded(SHAPES)['module.app["blue"].aws_instance.web["a"]'] == (
        "2 ENIs, policy routing from eniplan's Terraform module"
    )


def test_launch_templates() -> None:
    found = check(SHAPES)
    assert rules(found, "aws_launch_template") == {"aws_launch_template.unknown_data": "ENI005"}
    # an instance launched from the plain template: reported once, at the instance
    assert found["aws_instance.from_template"].rule_id == "ENI002"
    assert found["aws_launch_template.unknown_data"].details["subnets"] == "same"
    assert "eniplan dynamic user data" in excluded(SHAPES)["aws_launch_template.covered"]


# user data as a constant (shapes: aws_instance.verdict_NAME): covered or not
VERDICTS = {
    "marked": True,
    "dynamic": True,
    # a first-boot script's rules are gone after a reboot: not persistent, not covered
    "rule_by_hand": False,
    "rule_priority_first": False,
    "netplan_policy": True,  # a netplan file inside cloud-config
    "policy_in_a_comment": False,
    "net_utils_package": True,
    "net_utils_yum": True,
    "plain": False,
    "eniplan_in_a_comment": False,
    "marker_indented": False,
}


def test_user_data_text_verdicts() -> None:
    found = rules(check(SHAPES), "aws_instance.verdict_")
    assert found == {
        f"aws_instance.verdict_{name}": "ENI001"
        for name, covered in VERDICTS.items()
        if not covered
    }
    reasons = excluded(SHAPES)
    for name, covered in VERDICTS.items():
        assert (f"aws_instance.verdict_{name}" in reasons) is covered, name


def test_user_data_base64_and_digest_of_a_given_file() -> None:
    assert "user_data_base64" in excluded(SHAPES)["aws_instance.encoded"]
    # provider 5.x plans a computed user_data as its SHA-1 digest: not verified ...
    assert check(SHAPES)["aws_instance.from_file"].rule_id == "ENI005"
    # ... unless a file given with --user-data has that digest
    digests = digests_of_files([("user-data.yaml", MARKED.encode()), ("other", PLAIN.encode())])
    assert sorted({verdict[:2] for verdict in digests.values()}) == [
        ("covered", "eniplan dynamic user data (0.1.0), from user-data.yaml"),
        ("not-covered", "user data without policy routing, from other"),
    ]
    assert "aws_instance.from_file" not in check(SHAPES, user_data_digests=digests)
    assert (
        "from user-data.yaml"
        in excluded(SHAPES, user_data_digests=digests)["aws_instance.from_file"]
    )


# --- ENI003 ----------------------------------------------------------------------------


def test_source_dest_check_disabled_without_a_route() -> None:
    found = check(SHAPES)
    eni003 = {a: f for a, f in found.items() if f.rule_id == "ENI003" and not f.suppressed}
    assert sorted(eni003) == [
        "aws_instance.nat",
        "aws_network_interface.router",
        'module.app["blue"].aws_network_interface.side[0]',
    ]
    assert all(f.severity == "medium" for f in eni003.values())
    # routes by reference, and to an instance's primary ENI
    reasons = excluded(SHAPES)
    for routed in ("aws_network_interface.routed_by_ref", "aws_instance.nat_routed"):
        assert reasons[routed] == "source/dest check off: a route targets it"
    # routes by the ID of an existing ENI: an aws_route, a route table's inline route
    assert [f.rule_id for f in check(EXISTING).values()].count("ENI003") == 0
    reasons = excluded(EXISTING)
    for routed in ("routed_by_id", "routed_by_table"):
        assert reasons[f"aws_network_interface.{routed}"] == (
            "source/dest check off: a route targets it"
        )


def test_eni003_waived_on_the_eni() -> None:
    finding = check(SHAPES)["aws_network_interface.appliance"]
    assert finding.rule_id == "ENI003" and finding.suppressed
    assert finding.suppression_reason == (
        "eniplan:ignore on aws_network_interface.appliance: GWLB appliance"
    )


def test_deleted_and_forgotten_resources_are_gone() -> None:
    """The state's ENIs on the second instance, their check off: one deleted, one
    forgotten (neither counts, nor is ENI003), one replaced (counts)."""
    found = check(EXISTING)
    assert found["aws_instance.second"].eni_ids == (
        "aws_instance.second primary",
        "aws_network_interface.replaced",
    )
    assert not [a for a in found if "deleted" in a or "forgotten" in a]


def test_subnets_by_expression() -> None:
    """Subnets whose IDs exist only after apply: the same module output is the same
    subnet, and so is aws_subnet.all[count.index] on an instance and its ENI of the same
    index (resolved to aws_subnet.all[0]); element() of several, whose index the
    references do not show, leaves it undetermined."""
    found = check(SHAPES)
    assert {
        address: (found[address].rule_id, found[address].details["subnets"])
        for address in ("aws_instance.same", "aws_instance.undetermined", "aws_instance.indexed[0]")
    } == {
        "aws_instance.same": ("ENI001", "same"),
        "aws_instance.undetermined": ("ENI002", "undetermined"),
        "aws_instance.indexed[0]": ("ENI001", "same"),
    }


# --- provider 6.x: what its documentation says it plans, on a real 5.100.0 plan -------
# (6.x cannot be installed here: these shapes are not generated by the real provider)


def test_provider_6_plans_user_data_as_text() -> None:
    """AWS provider 6.0 plans `user_data` as the text, not its SHA-1 (its upgrade guide):
    the recorded 5.100.0 plan with the digests of two computed user_data replaced by
    their texts."""
    document = json.loads(recorded(SHAPES).read_text())
    texts = {
        "aws_instance.from_file": MARKED,
        'module.legacy[0].aws_instance.web["a"]': "#!/bin/sh\n# other routing\n",
    }
    for change in document["resource_changes"]:
        if change["address"] in texts:
            after = change["change"]["after"]
            assert after["user_data"] == hashlib.sha1(texts[change["address"]].encode()).hexdigest()
            after["user_data"] = texts[change["address"]]
    plan = parse_plan(json.dumps(document).encode(), "plan.json")
    result = check_plan(plan).report
    found = {f.address: f.rule_id for f in result.active}
    assert "aws_instance.from_file" not in found
    assert found['module.legacy[0].aws_instance.web["a"]'] == "ENI001"
    assert "eniplan dynamic user data" in dict(result.excluded)["aws_instance.from_file"]


def test_provider_6_primary_network_interface_and_attachment_resource() -> None:
    """Hand-built: provider 6.10+'s `primary_network_interface` block, which 5.100.0 does
    not have (so no real plan here can hold it), in the shape of its `network_interface`
    block; the second ENI through an aws_network_interface_attachment."""
    builder = PlanBuilder()
    for name in ("a", "b"):
        builder.resource("aws_subnet", name, {}, expressions={}, unknown={"id": True})
    for name, subnet in (("primary", "aws_subnet.a"), ("secondary", "aws_subnet.b")):
        builder.resource(
            "aws_network_interface",
            name,
            {"source_dest_check": True},
            expressions={"subnet_id": ref(f"{subnet}.id", subnet)},
            unknown={"id": True, "subnet_id": True},
        )
    builder.resource(
        "aws_instance",
        "web",
        {"ami": "ami-0123456789abcdef0", "source_dest_check": True},
        expressions={
            "ami": const("ami-0123456789abcdef0"),
            "primary_network_interface": [
                {"network_interface_id": ref("aws_network_interface.primary.id")}
            ],
        },
        unknown={"id": True, "primary_network_interface": [{"network_interface_id": True}]},
    )
    builder.resource(
        "aws_network_interface_attachment",
        "secondary",
        {"device_index": 1, "network_card_index": 0},
        expressions={
            "instance_id": ref("aws_instance.web.id", "aws_instance.web"),
            "network_interface_id": ref("aws_network_interface.secondary.id"),
            "device_index": const(1),
        },
        unknown={"instance_id": True, "network_interface_id": True, "id": True},
    )
    (finding,) = check_plan(parse_plan(builder.dumps().encode(), "p")).report.active
    assert (finding.rule_id, finding.address) == ("ENI002", "aws_instance.web")
    assert finding.eni_ids == ("aws_network_interface.primary", "aws_network_interface.secondary")
    assert finding.details["subnets"] == "different"
    assert finding.details["user_data"] == "no user data"


# --- waivers, formats, exit codes ------------------------------------------------------


def test_waiver_suppresses_with_its_reason() -> None:
    plan = parse_plan(recorded(SHAPES).read_bytes(), "p")
    result = check_plan(plan)
    found = {f.address: f for f in result.report.findings}
    waived = found["aws_instance.waived"]
    assert waived.rule_id == "ENI005" and waived.suppressed
    assert waived.suppression_reason == (
        "eniplan:ignore on aws_instance.waived: ansible installs the routing"
    )
    # a tag naming other rules waives nothing here, and an unknown rule ID is a warning
    other = found["aws_instance.waived_other"]
    assert other.rule_id == "ENI005" and not other.suppressed
    (warning,) = result.warnings
    assert "aws_instance.waived_other" in warning and "ENI999" in warning


def test_cli_exit_codes_formats_and_output_file(tmp_path: Path) -> None:
    """The static recording: two ENI004 (medium)."""
    runner = CliRunner()
    path = str(recorded("static"))
    result = runner.invoke(cli, ["check-plan", path, "--format", "json"])
    assert result.exit_code == 0, result.output  # ENI004 is medium, --fail-on high
    document = json.loads(result.stdout)
    assert [f["address"] for f in document["findings"]] == [
        "aws_instance.copied",
        "aws_instance.older",
    ]
    assert document["command"] == "check-plan"
    result = runner.invoke(
        cli,
        [
            "check-plan",
            path,
            "--fail-on",
            "medium",
            "-o",
            str(tmp_path / "r.json"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 1
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["failing"] == 2
    result = runner.invoke(cli, ["check-plan", path, "--fail-on", "never", "--format", "json"])
    assert result.exit_code == 0


# --- malformed input: hand-written on purpose (no provider writes it) ------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("PK\x03\x04binary", "binary plan file"),
        ("\x00\xff\xfe", "not JSON"),
        ("terraform plan output", "not JSON"),
        ('{"format_version": "1.2", "planned_values": {"root_module": {', "truncated"),
        ("[1, 2]", "not a Terraform plan"),
        ('{"hello": "world"}', "no format_version"),
        (
            '{"format_version": "2.0", "planned_values": {}}',
            "format_version '2.0' is not supported",
        ),
        ('{"format_version": "0.0", "planned_values": {}}', "not supported"),
        ('{"format_version": 1.2, "planned_values": {}}', "expected a string"),
        ('{"format_version": "1.0", "values": {}}', "state, not a plan"),
        ('{"format_version": "1.0", "resource_changes": {}}', "resource_changes: expected a list"),
        (
            '{"format_version": "1.0", "resource_changes": [{"type": "aws_instance", "name": 1}]}',
            "expected string",
        ),
        (
            '{"format_version": "1.0", "resource_changes": [], '
            '"configuration": {"root_module": []}}',
            "configuration.root_module: expected an object",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        parse_plan(path.read_bytes(), str(path))
    # the CLI: one line on stderr, exit 2, no traceback
    with pytest.raises(SystemExit) as exit_info:
        main(["check-plan", str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"eniplan: error: {path}: ")


def test_cli_bad_input_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"format_version": "3.1", "planned_values": {}}')
    with pytest.raises(SystemExit) as exit_info:
        main(["check-plan", str(path)])
    assert exit_info.value.code == 2


# --- helpers ---------------------------------------------------------------------------


def test_addresses_and_references() -> None:
    assert module_key('module.a[0].module.b["x.y]"]') == "module.a.module.b"
    with pytest.raises(ValueError):
        module_key("module.a.aws_instance.x")
    parsed = parse_resource_ref('aws_instance.web["a.b"].primary_network_interface_id')
    assert parsed is not None and parsed.index == "a.b"
    assert parsed.attribute == "primary_network_interface_id"
    assert parse_resource_ref("var.subnet") is None
    assert parse_resource_ref("module.x.user_data") is None
    assert find_marker("#cloud-config\n# eniplan 0.1.0 instance=i-1 plan=x\n") is not None
    assert compare_subnets([]) == "different"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04\x14\x00\x08\x00\x08\x00\xff\xfe\x00\x00tfplan", "a binary plan file"),
        (b'{"format_version": "1.2", "x": "\xff\xfe"}', "not JSON text \\(not UTF-8, nor UTF-16"),
        (b"[command]/usr/bin/terraform-bin show -json tfplan\n::debug::exitcode: 1\n", "wrapper"),
        (
            b'[command]/usr/bin/terraform-bin show -json tfplan\n{"format_v',
            "terraform_wrapper: false",
        ),
        (b"", "the file is empty"),
    ],
)
def test_binary_and_non_utf8_files(
    tmp_path: Path, content: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tfplan"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        main(["check-plan", str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(message, err), err


def test_several_plans_make_one_report() -> None:
    first, second = str(recorded("static")), str(recorded("headline"))
    result = CliRunner().invoke(cli, ["check-plan", first, second, "--format", "json"])
    assert result.exit_code == 1  # ENI001 (high) in the second
    document = json.loads(result.stdout)
    found = {(f["rule_id"], f["location"]["path"]) for f in document["findings"]}
    assert found == {("ENI004", first), ("ENI001", second)}


def test_pre_commit_hook_runs_check_plan() -> None:
    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "eniplan-check-plan"
    assert hook["entry"].split() == ["eniplan", "check-plan"]
    pattern = re.compile(hook["files"])
    for name in ("plan.json", "infra/prod.tfplan.json", "tfplan.json", "x/staging.plan.json"):
        assert pattern.search(name), name
    for name in ("package.json", "planet.json", "plan.json.bak"):
        assert not pattern.search(name), name


def test_user_data_eniplan_renders_carries_a_marker_check_plan_accepts(
    sandbox_inventory: Inventory,
) -> None:
    instance = next(i for i in sandbox_inventory.instances if i.name == "multi-subnet")
    for options in (PlanOptions(), PlanOptions(table_base=20000, guard=False)):
        plan = plan_instance(instance, sandbox_inventory, options)
        text, _ = cloudinit.user_data(plan, "script")
        assert " table-base=" in text.splitlines()[1] and find_marker(text) is not None
    assert find_marker(dynamic.user_data(20000, guard=False)) is not None
