"""`eniplan check-plan`: every way a plan gives an instance ENIs, user data verdicts, ENI003,
waivers, formats and exit codes, and bad input."""

from __future__ import annotations

import base64
import gzip
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
from tests import helpers
from tests.helpers import REPO
from tests.helpers.tfplan_builder import PlanBuilder, const, ref

FIXTURES = helpers.FIXTURES / "tfplan"
SUBNET_A, SUBNET_B = "subnet-0a0a0a0a0a0a0a0a0", "subnet-0b0b0b0b0b0b0b0b0"
MARKED = (
    "#cloud-config\n# eniplan 0.1.0 instance=i-0123456789abcdef0 plan=sha256:00 persist=script\n"
    "runcmd: []\n"
)
DYNAMIC = "#!/bin/sh\n# eniplan 0.2.0 mode=dynamic\nexec /usr/local/sbin/eniplan-agent\n"
ROUTING_BY_HAND = "#!/bin/sh\nip rule add from 10.0.0.12 lookup 101 priority 101\n"
ROUTING_PRIORITY_FIRST = "#!/bin/sh\nip -4 rule add priority 101 from 10.0.0.12 table 101\n"
NETPLAN_POLICY = "#cloud-config\nwrite_files:\n- content: |\n    routing-policy:\n"
PLAIN = "#!/bin/sh\necho hello\n"


def run(builder: PlanBuilder, **options: Any) -> list[Finding]:
    plan = parse_plan(builder.dumps().encode(), "plan.json")
    return list(check_plan(plan, **options).report.active)


def rules(findings: list[Finding]) -> list[tuple[str, str]]:
    return sorted((f.rule_id, f.address or "") for f in findings)


def instance(
    builder: PlanBuilder,
    name: str = "web",
    *,
    user_data: Any = None,
    after: dict[str, Any] | None = None,
    expressions: dict[str, Any] | None = None,
    **options: Any,
) -> str:
    values: dict[str, Any] = {"ami": "ami-0123456789abcdef0", "source_dest_check": True}
    exprs: dict[str, Any] = {"ami": const("ami-0123456789abcdef0")}
    if user_data is not None:
        values["user_data"] = hashlib.sha1(user_data.encode()).hexdigest()
        exprs["user_data"] = const(user_data)
    values.update(after or {})
    exprs.update(expressions or {})
    return builder.resource("aws_instance", name, values, expressions=exprs, **options)


def eni(
    builder: PlanBuilder,
    name: str,
    subnet: str | None = SUBNET_A,
    *,
    subnet_ref: str | None = None,
    after: dict[str, Any] | None = None,
    expressions: dict[str, Any] | None = None,
    **options: Any,
) -> str:
    values: dict[str, Any] = {"source_dest_check": True}
    exprs: dict[str, Any] = {}
    unknown: dict[str, Any] = {"id": True}
    if subnet is not None:
        values["subnet_id"] = subnet
        exprs["subnet_id"] = const(subnet)
    if subnet_ref is not None:
        exprs["subnet_id"] = ref(f"{subnet_ref}.id", subnet_ref)
        unknown["subnet_id"] = True
    values.update(after or {})
    exprs.update(expressions or {})
    unknown.update(options.pop("unknown", None) or {})
    return builder.resource(
        "aws_network_interface", name, values, expressions=exprs, unknown=unknown, **options
    )


# --- the paths from instance to ENI ----------------------------------------------------


def test_inline_network_interface_blocks_same_subnet() -> None:
    builder = PlanBuilder()
    eni(builder, "eth0")
    eni(builder, "eth1")
    instance(
        builder,
        user_data=PLAIN,
        after={"network_interface": [{"device_index": 0}, {"device_index": 1}]},
        expressions={
            "network_interface": [
                {
                    "device_index": const(0),
                    "network_interface_id": ref("aws_network_interface.eth0.id"),
                },
                {
                    "device_index": const(1),
                    "network_interface_id": ref("aws_network_interface.eth1.id"),
                },
            ]
        },
        unknown={"network_interface": [{"network_interface_id": True}] * 2},
    )
    (finding,) = run(builder)
    assert (finding.rule_id, finding.address, finding.severity) == (
        "ENI001",
        "aws_instance.web",
        "high",
    )
    assert finding.eni_ids == ("aws_network_interface.eth0", "aws_network_interface.eth1")
    assert f"2 ENIs in subnet {SUBNET_A} without policy routing" in finding.message


def test_primary_network_interface_and_attachment_resource_different_subnets() -> None:
    builder = PlanBuilder()
    for name in ("a", "b"):
        builder.resource(
            "aws_subnet",
            name,
            {"vpc_id": "vpc-0123456789abcdef0"},
            expressions={},
            unknown={"id": True},
        )
    eni(builder, "primary", None, subnet_ref="aws_subnet.a")
    eni(builder, "secondary", None, subnet_ref="aws_subnet.b")
    instance(
        builder,
        expressions={
            "primary_network_interface": [
                {"network_interface_id": ref("aws_network_interface.primary.id")}
            ]
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
    (finding,) = run(builder)
    assert (finding.rule_id, finding.address) == ("ENI002", "aws_instance.web")
    assert finding.details["subnets"] == "different"
    assert finding.details["user_data"] == "no user data"


def test_eni_attachment_block_with_count_links_each_instance_to_its_own_eni() -> None:
    builder = PlanBuilder()
    builder.resource("aws_subnet", "shared", {}, expressions={}, unknown={"id": True})
    for index in (0, 1):
        instance(
            builder,
            index=index,
            user_data=PLAIN,
            expressions={"subnet_id": ref("aws_subnet.shared.id", "aws_subnet.shared")},
            unknown={"id": True, "subnet_id": True},
        )
        eni(
            builder,
            "extra",
            None,
            subnet_ref="aws_subnet.shared",
            index=index,
            after={"attachment": [{"device_index": 1}]},
            expressions={
                "attachment": [
                    {"instance": ref("aws_instance.web", "count.index"), "device_index": const(1)}
                ]
            },
        )
    findings = run(builder)
    # two ENIs in one subnet (the same aws_subnet, its ID unknown), each its own ENI
    assert rules(findings) == [("ENI001", "aws_instance.web[0]"), ("ENI001", "aws_instance.web[1]")]
    for index, finding in enumerate(sorted(findings, key=lambda f: f.address or "")):
        assert finding.eni_ids == (
            f"aws_instance.web[{index}] primary",
            f"aws_network_interface.extra[{index}]",
        )


def test_known_ids_link_existing_resources() -> None:
    builder = PlanBuilder()
    instance(
        builder,
        user_data=PLAIN,
        after={"id": "i-0123456789abcdef0", "subnet_id": SUBNET_A},
        actions=("no-op",),
    )
    eni(
        builder,
        "eth1",
        SUBNET_B,
        after={
            "id": "eni-0123456789abcdef0",
            "attachment": [{"instance": "i-0123456789abcdef0", "device_index": 1}],
        },
        actions=("update",),
    )
    assert rules(run(builder)) == [("ENI002", "aws_instance.web")]


def test_attachment_to_an_instance_outside_the_configuration_cannot_be_verified() -> None:
    builder = PlanBuilder()
    eni(builder, "eth1")
    builder.resource(
        "aws_network_interface_attachment",
        "eth1",
        {"instance_id": "i-0fedcba9876543210", "device_index": 1},
        expressions={
            "instance_id": const("i-0fedcba9876543210"),
            "network_interface_id": ref("aws_network_interface.eth1.id"),
        },
        unknown={"network_interface_id": True},
    )
    (finding,) = run(builder)
    assert (finding.rule_id, finding.instance_id) == ("ENI005", "i-0fedcba9876543210")
    assert finding.address == "aws_network_interface_attachment.eth1"
    assert "not in this configuration" in finding.message
    assert "eniplan:ignore" in finding.remediation
    # waived by a tag on the ENI (the instance is not here to carry it)
    builder.changes[0]["change"]["after"]["tags"] = {"eniplan:ignore": "ENI005: AMI does it"}
    plan = parse_plan(builder.dumps().encode(), "p")
    (waived,) = check_plan(plan).report.findings
    assert waived.suppressed and waived.suppression_reason == (
        "eniplan:ignore on aws_network_interface.eth1: AMI does it"
    )


def test_for_each_module_instances_and_eniplan_module_user_data() -> None:
    builder = PlanBuilder()
    builder.module("module.app", "./app")
    builder.module(
        "module.app.module.routing",
        "git::https://example.com/eniplan.git//terraform/modules/eni-policy-routing?ref=v1",
    )
    builder.module("module.legacy", "./legacy")
    builder.module("module.legacy.module.other", "./modules/other-routing")
    cases = (
        ('module.app["blue"]', "module.app", "routing"),
        ("module.legacy[0]", "module.legacy", "other"),
    )
    for module, _, child in cases:
        source = f"module.{child}.user_data"
        instance(
            builder,
            index="a",
            module=module,
            after={"subnet_id": SUBNET_A},
            expressions={"user_data": ref(source, f"module.{child}")},
            unknown={"id": True, "user_data": True},
        )
        eni(
            builder,
            "eth1",
            SUBNET_A,
            index="a",
            module=module,
            after={"attachment": [{"device_index": 1}]},
            expressions={
                "attachment": [
                    {"instance": ref('aws_instance.web["a"].id', 'aws_instance.web["a"]')}
                ]
            },
        )
    findings = run(builder)
    assert rules(findings) == [("ENI005", 'module.legacy[0].aws_instance.web["a"]')]
    result = check_plan(parse_plan(builder.dumps().encode(), "p")).report
    assert result.excluded == (
        (
            'module.app["blue"].aws_instance.web["a"]',
            "2 ENIs, policy routing from eniplan's Terraform module",
        ),
    )


def test_launch_templates() -> None:
    builder = PlanBuilder()
    marked = base64.b64encode(gzip.compress(MARKED.encode())).decode()
    for name, user_data in (
        ("covered", marked),
        ("plain", base64.b64encode(PLAIN.encode()).decode()),
    ):
        builder.resource(
            "aws_launch_template",
            name,
            {
                "user_data": user_data,
                "network_interfaces": [
                    {"device_index": 0, "subnet_id": SUBNET_A},
                    {"device_index": 1, "subnet_id": SUBNET_B},
                ],
            },
            expressions={"user_data": const(user_data)},
            unknown={"id": True},
        )
    # an instance launched from the plain template: reported once, at the instance
    builder.resource(
        "aws_launch_template",
        "unknown_data",
        {"network_interfaces": [{"device_index": 0}, {"device_index": 1}]},
        expressions={
            "user_data": ref("local.rendered"),
            "network_interfaces": [
                {"device_index": const(0), "subnet_id": ref("var.subnet")},
                {"device_index": const(1), "subnet_id": ref("var.subnet")},
            ],
        },
        unknown={"id": True, "user_data": True},
    )
    instance(
        builder,
        "from_template",
        expressions={"launch_template": [{"id": ref("aws_launch_template.plain.id")}]},
        unknown={"id": True, "launch_template": [{"id": True}]},
    )
    findings = run(builder)
    assert rules(findings) == [
        ("ENI002", "aws_instance.from_template"),
        ("ENI005", "aws_launch_template.unknown_data"),
    ]
    unknown = next(f for f in findings if f.rule_id == "ENI005")
    assert unknown.details["subnets"] == "same"  # the same expression: var.subnet


@pytest.mark.parametrize(
    ("text", "covered"),
    [
        (MARKED, True),
        (DYNAMIC, True),
        # a first-boot script's rules are gone after a reboot: not persistent, not covered
        (ROUTING_BY_HAND, False),
        (ROUTING_PRIORITY_FIRST, False),
        (NETPLAN_POLICY, True),  # a netplan file inside cloud-config
        ("#!/bin/sh\n# routing-policy: see the wiki\n", False),
        ("#cloud-config\npackages:\n  - amazon-ec2-net-utils\n", True),
        ("#!/bin/sh\nyum install -y amazon-ec2-net-utils\n", True),
        (PLAIN, False),
        ("#cloud-config\n# eniplan is great\n", False),
        ("x\n  # eniplan 1 instance=i-1\n", False),
    ],
)
def test_user_data_text_verdicts(text: str, covered: bool) -> None:
    builder = PlanBuilder()
    instance(builder, user_data=text, after={"subnet_id": SUBNET_A})
    eni(
        builder,
        "eth1",
        after={"attachment": [{"device_index": 1}]},
        expressions={"attachment": [{"instance": ref("aws_instance.web.id")}]},
    )
    assert rules(run(builder)) == ([] if covered else [("ENI001", "aws_instance.web")])


def test_user_data_base64_and_digest_of_a_given_file(tmp_path: Path) -> None:
    builder = PlanBuilder()
    instance(
        builder,
        "encoded",
        after={
            "subnet_id": SUBNET_A,
            "user_data_base64": base64.b64encode(MARKED.encode()).decode(),
        },
        expressions={"user_data_base64": ref("local.encoded")},
    )
    instance(
        builder,
        "from_file",
        after={"subnet_id": SUBNET_A, "user_data": hashlib.sha1(MARKED.encode()).hexdigest()},
        expressions={"user_data": ref("local.from_file", "path.module")},
    )
    for name in ("encoded", "from_file"):
        eni(
            builder,
            name,
            after={"attachment": [{"device_index": 1}]},
            expressions={"attachment": [{"instance": ref(f"aws_instance.{name}.id")}]},
        )
    assert rules(run(builder)) == [("ENI005", "aws_instance.from_file")]
    # AWS provider 6.x keeps the text in the plan
    for name, text in (("v6_marked", MARKED), ("v6_plain", PLAIN)):
        instance(
            builder,
            name,
            after={"subnet_id": SUBNET_A, "user_data": text},
            expressions={"user_data": ref("local.rendered")},
        )
        eni(
            builder,
            name,
            after={"attachment": [{"device_index": 1}]},
            expressions={"attachment": [{"instance": ref(f"aws_instance.{name}.id")}]},
        )
    assert rules(run(builder)) == [
        ("ENI001", "aws_instance.v6_plain"),
        ("ENI005", "aws_instance.from_file"),
    ]
    digests = digests_of_files([("user-data.yaml", MARKED.encode()), ("other", PLAIN.encode())])
    assert sorted({verdict[:2] for verdict in digests.values()}) == [
        ("covered", "eniplan dynamic user data (0.1.0), from user-data.yaml"),
        ("not-covered", "user data without policy routing, from other"),
    ]
    assert rules(run(builder, user_data_digests=digests)) == [("ENI001", "aws_instance.v6_plain")]


# --- ENI003 ----------------------------------------------------------------------------


def test_source_dest_check_disabled_without_a_route() -> None:
    builder = PlanBuilder()
    eni(builder, "router", after={"source_dest_check": False})
    eni(builder, "routed_by_id", after={"source_dest_check": False, "id": "eni-0aaaaaaaaaaaaaaaa"})
    eni(
        builder,
        "routed_by_table",
        after={"source_dest_check": False, "id": "eni-0bbbbbbbbbbbbbbbb"},
    )
    eni(builder, "routed_by_ref", after={"source_dest_check": False})
    instance(builder, "nat", after={"source_dest_check": False, "subnet_id": SUBNET_A})
    instance(builder, "nat_routed", after={"source_dest_check": False, "subnet_id": SUBNET_A})
    builder.resource(
        "aws_route", "by_id", {"network_interface_id": "eni-0aaaaaaaaaaaaaaaa"}, expressions={}
    )
    builder.resource(
        "aws_route_table",
        "inline",
        {"route": [{"cidr_block": "0.0.0.0/0", "network_interface_id": "eni-0bbbbbbbbbbbbbbbb"}]},
        expressions={},
    )
    builder.resource(
        "aws_route",
        "by_ref",
        {},
        expressions={"network_interface_id": ref("aws_network_interface.routed_by_ref.id")},
        unknown={"network_interface_id": True},
    )
    builder.resource(
        "aws_route",
        "nat",
        {},
        expressions={
            "network_interface_id": ref(
                "aws_instance.nat_routed.primary_network_interface_id", "aws_instance.nat_routed"
            )
        },
        unknown={"network_interface_id": True},
    )
    findings = run(builder)
    assert rules(findings) == [
        ("ENI003", "aws_instance.nat"),
        ("ENI003", "aws_network_interface.router"),
    ]
    assert all(f.severity == "medium" for f in findings)


# --- waivers, formats, exit codes ------------------------------------------------------


def waived_plan(tag: str) -> PlanBuilder:
    builder = PlanBuilder()
    instance(
        builder,
        after={"subnet_id": SUBNET_A, "tags": {"eniplan:ignore": tag}},
        expressions={"user_data": ref("local.x")},
        unknown={"user_data": True},
    )
    eni(
        builder,
        "eth1",
        after={"attachment": [{"device_index": 1}]},
        expressions={"attachment": [{"instance": ref("aws_instance.web.id")}]},
    )
    return builder


def test_waiver_suppresses_with_its_reason() -> None:
    plan = parse_plan(waived_plan("ENI005: ansible installs the routing").dumps().encode(), "p")
    result = check_plan(plan)
    (finding,) = result.report.findings
    assert finding.suppressed and finding.suppression_reason == (
        "eniplan:ignore on aws_instance.web: ansible installs the routing"
    )
    assert not result.report.active and not result.warnings
    other = check_plan(parse_plan(waived_plan("ENI003, ENI999").dumps().encode(), "p"))
    assert [f.rule_id for f in other.report.active] == ["ENI005"]
    assert other.warnings and "ENI999" in other.warnings[0]


def write_plan(tmp_path: Path, builder: PlanBuilder | str) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(builder if isinstance(builder, str) else builder.dumps())
    return path


def test_cli_exit_codes_formats_and_output_file(tmp_path: Path) -> None:
    runner = CliRunner()
    path = write_plan(tmp_path, waived_plan("ENI003: not this one"))
    result = runner.invoke(cli, ["check-plan", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output  # ENI005 is medium, --fail-on high
    document = json.loads(result.stdout)
    assert [f["address"] for f in document["findings"]] == ["aws_instance.web"]
    assert document["command"] == "check-plan"
    result = runner.invoke(
        cli,
        [
            "check-plan",
            str(path),
            "--fail-on",
            "medium",
            "-o",
            str(tmp_path / "r.json"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 1
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["failing"] == 1
    result = runner.invoke(cli, ["check-plan", str(path), "--fail-on", "never", "--format", "json"])
    assert result.exit_code == 0


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
    path = write_plan(tmp_path, '{"format_version": "3.1", "planned_values": {}}')
    with pytest.raises(SystemExit) as exit_info:
        main(["check-plan", str(path)])
    assert exit_info.value.code == 2


# --- static fixtures: format 0.1 and 1.2, planned_values only --------------------------


def test_format_0_1_fixture() -> None:
    plan = parse_plan((FIXTURES / "format-0.1.json").read_bytes(), "format-0.1.json")
    assert plan.format_version == "0.1"
    assert rules(list(check_plan(plan).report.active)) == [("ENI001", "aws_instance.web")]


def test_format_1_2_fixture_with_modules() -> None:
    plan = parse_plan((FIXTURES / "format-1.2.json").read_bytes(), "format-1.2.json")
    assert plan.format_version == "1.2"
    findings = list(check_plan(plan).report.active)
    assert rules(findings) == [
        ("ENI002", 'module.fleet["east"].aws_instance.node[0]'),
        ("ENI003", 'module.fleet["east"].aws_network_interface.side[0]'),
    ]


def test_planned_values_without_resource_changes() -> None:
    builder = PlanBuilder("1.0")
    instance(
        builder,
        user_data=PLAIN,
        after={"subnet_id": SUBNET_A, "id": "i-0123456789abcdef0"},
        module="module.m",
    )
    eni(
        builder,
        "eth1",
        SUBNET_A,
        module="module.m",
        after={
            "attachment": [{"instance": "i-0123456789abcdef0", "device_index": 1}],
            "id": "eni-0123456789abcdef0",
        },
    )
    plan = parse_plan(json.dumps(builder.document(resource_changes=False)).encode(), "p")
    assert rules(list(check_plan(plan).report.active)) == [("ENI001", "module.m.aws_instance.web")]


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


def test_several_plans_make_one_report(tmp_path: Path) -> None:
    first = tmp_path / "a.tfplan.json"
    first.write_text(waived_plan("ENI003: not this one").dumps())
    second = tmp_path / "b.tfplan.json"
    second.write_text((FIXTURES / "format-0.1.json").read_text())
    result = CliRunner().invoke(cli, ["check-plan", str(first), str(second), "--format", "json"])
    assert result.exit_code == 1  # ENI001 (high) in the second
    document = json.loads(result.stdout)
    found = {(f["rule_id"], f["location"]["path"]) for f in document["findings"]}
    assert found == {("ENI005", str(first)), ("ENI001", str(second))}


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


def test_deleted_and_forgotten_resources_are_gone() -> None:
    builder = PlanBuilder()
    instance(builder, user_data=PLAIN, after={"subnet_id": SUBNET_A, "id": "i-0123456789abcdef0"})
    for name, actions in (("deleted", ("delete",)), ("forgotten", ("forget",))):
        eni(
            builder,
            name,
            after={
                "source_dest_check": False,
                "attachment": [{"instance": "i-0123456789abcdef0", "device_index": 1}],
            },
            actions=actions,
        )
    assert run(builder) == []
    eni(
        builder,
        "replaced",
        after={"attachment": [{"instance": "i-0123456789abcdef0"}]},
        actions=("delete", "create"),
    )
    assert rules(run(builder)) == [("ENI001", "aws_instance.web")]


def test_eni003_waived_on_the_eni() -> None:
    builder = PlanBuilder()
    eni(
        builder,
        "appliance",
        after={"source_dest_check": False, "tags": {"eniplan:ignore": "ENI003: GWLB appliance"}},
    )
    plan = parse_plan(builder.dumps().encode(), "p")
    (finding,) = check_plan(plan).report.findings
    assert finding.rule_id == "ENI003" and finding.suppressed
    assert finding.suppression_reason == (
        "eniplan:ignore on aws_network_interface.appliance: GWLB appliance"
    )


def test_subnets_by_expression() -> None:
    """The same expression is the same subnet; an index or a function that references do
    not show (count.index, one of several subnets) leaves it undetermined."""
    builder = PlanBuilder()
    for index in (0, 1):
        builder.resource("aws_subnet", "all", {}, expressions={}, index=index, unknown={"id": True})
    cases = {
        "same": ("module.net.app_subnet_id", "module.net.app_subnet_id"),
        "undetermined": ("aws_subnet.all", "aws_subnet.all"),
    }
    for name, (first, second) in cases.items():
        instance(
            builder,
            name,
            user_data=PLAIN,
            expressions={"subnet_id": ref(first, first.rsplit(".", 1)[0])},
            unknown={"subnet_id": True, "id": True},
        )
        eni(
            builder,
            name,
            None,
            after={"attachment": [{"device_index": 1}]},
            expressions={
                "subnet_id": ref(second, second.rsplit(".", 1)[0]),
                "attachment": [{"instance": ref(f"aws_instance.{name}.id")}],
            },
            unknown={"subnet_id": True, "id": True},
        )
    instance(
        builder,
        "indexed",
        user_data=PLAIN,
        index=0,
        expressions={"subnet_id": ref("var.subnets", "count.index")},
        unknown={"subnet_id": True, "id": True},
    )
    eni(
        builder,
        "indexed",
        None,
        index=0,
        after={"attachment": [{"device_index": 1}]},
        expressions={
            "subnet_id": ref("var.subnets", "count.index"),
            "attachment": [{"instance": ref("aws_instance.indexed", "count.index")}],
        },
        unknown={"subnet_id": True, "id": True},
    )
    found = {f.address: (f.rule_id, f.details["subnets"]) for f in run(builder)}
    assert found == {
        "aws_instance.same": ("ENI001", "same"),
        "aws_instance.undetermined": ("ENI002", "undetermined"),
        "aws_instance.indexed[0]": ("ENI002", "undetermined"),
    }


def test_user_data_eniplan_renders_carries_a_marker_check_plan_accepts(
    sandbox_inventory: Inventory,
) -> None:
    instance = next(i for i in sandbox_inventory.instances if i.name == "multi-subnet")
    for options in (PlanOptions(), PlanOptions(table_base=20000, guard=False)):
        plan = plan_instance(instance, sandbox_inventory, options)
        text, _ = cloudinit.user_data(plan, "script")
        assert " table-base=" in text.splitlines()[1] and find_marker(text) is not None
    assert find_marker(dynamic.user_data(20000, guard=False)) is not None
