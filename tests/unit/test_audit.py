"""The audit's checks, handled-by detection, drift and waivers, on small built inventories
and on the sandbox account."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

import pytest

from eniplan.audit import AuditOptions, SourceArgs, audit, render_command
from eniplan.checks import REGISTRY, RULE_IDS
from eniplan.errors import InputError
from eniplan.findings import RULES, Finding, Report
from eniplan.model import Eni, Image, Instance, Inventory, RouteTable, Subnet, VpcRoute
from eniplan.plan import PlanOptions, plan_instance
from eniplan.render import cloudinit, dynamic
from eniplan.render.base import RenderOptions
from eniplan.userdata import decompressed

ACCOUNT, REGION, ZONE = "111122223333", "eu-west-1", "eu-west-1a"
VPC = "vpc-0aaaaaaaaaaaaaaa1"
SUBNET_A = Subnet(
    "subnet-0aaaaaaaaaaaaaaa1", VPC, ACCOUNT, REGION, ZONE, IPv4Network("10.1.0.0/24")
)
SUBNET_B = Subnet(
    "subnet-0bbbbbbbbbbbbbbb1", VPC, ACCOUNT, REGION, ZONE, IPv4Network("10.1.1.0/24")
)
IMAGES = {
    "debian": Image("ami-0d0d0d0d0d0d0d0d1", "debian-12-amd64-20240717-1811"),
    "al2023": Image("ami-0a0a0a0a0a0a0a0a1", "al2023-ami-2023.6.20241010.0-kernel-6.1-x86_64"),
    "ubuntu2404": Image(
        "ami-0b0b0b0b0b0b0b0b1", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64"
    ),
    "ubuntu2204": Image("ami-0c0c0c0c0c0c0c0c1", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64"),
    "windows": Image(
        "ami-0e0e0e0e0e0e0e0e1", "Windows_Server-2022-English-Full-Base", platform="windows"
    ),
}
INSTANCE_ID = "i-0123456789abcdef0"


def eni(
    index: int,
    subnet: Subnet = SUBNET_A,
    *,
    device: int | None = None,
    source_dest_check: bool = True,
    tags: Mapping[str, str] | None = None,
    interface_type: str = "interface",
    requester_managed: bool = False,
    instance_id: str = INSTANCE_ID,
) -> Eni:
    assert subnet.cidr is not None
    return Eni(
        eni_id=f"eni-{index:017x}",
        mac=f"02:00:00:00:00:{index:02x}",
        subnet_id=subnet.subnet_id,
        vpc_id=subnet.vpc_id,
        primary_ipv4=subnet.cidr.network_address + 10 + index,
        instance_id=instance_id,
        device_index=index if device is None else device,
        source_dest_check=source_dest_check,
        interface_type=interface_type,
        requester_managed=requester_managed,
        tags=dict(tags or {}),
    )


def instance(
    *enis: Eni,
    image: str = "debian",
    tags: Mapping[str, str] | None = None,
    user_data: bytes | None = b"",
    instance_id: str = INSTANCE_ID,
    image_id: str | None = None,
) -> Instance:
    return Instance(
        instance_id=instance_id,
        account_id=ACCOUNT,
        region=REGION,
        availability_zone=ZONE,
        image_id=image_id or IMAGES[image].image_id,
        instance_type="c5.large",
        state="running",
        enis=tuple(enis),
        tags={"Name": "web-1", **(tags or {})},
        user_data=user_data,
    )


def inventory(
    *instances: Instance, route_tables: tuple[RouteTable, ...] | None = None
) -> Inventory:
    tables = (
        (RouteTable("rtb-0aaaaaaaaaaaaaaa1", VPC, ACCOUNT, REGION, main=True),)
        if route_tables is None
        else route_tables
    )
    return Inventory(
        instances=instances,
        subnets={SUBNET_A.subnet_id: SUBNET_A, SUBNET_B.subnet_id: SUBNET_B},
        images={image.image_id: image for image in IMAGES.values()},
        route_tables=tables,
        enis={e.eni_id: e for i in instances for e in i.enis},
    )


def rules_of(report: Report, active_only: bool = True) -> list[str]:
    findings = report.active if active_only else report.findings
    return sorted(f.rule_id for f in findings)


def eniplan_user_data(
    inv: Inventory,
    *,
    force: bool = False,
    persist: str = "script",
    table_base: int = 10000,
    guard: bool = True,
) -> bytes:
    options = PlanOptions(table_base=table_base, guard=guard, force=force)
    plan = plan_instance(inv.instances[0], inv, options)
    (file,) = cloudinit.render(plan, RenderOptions(persist=persist)).files
    content = file.content
    return content.encode() if isinstance(content, str) else content


def old_marker(data: bytes) -> bytes:
    """The user data as eniplan wrote it before its marker recorded the planning options
    (as text: the static user data may be gzip, over EC2's 16 KB)."""
    text, problem = decompressed(data)
    assert text is not None, problem
    head, marker, rest = text.split(b"\n", 2)
    old = re.sub(rb" table-base=\d+ guard=o(?:n|ff)$", b"", marker)
    assert old != marker
    return b"\n".join((head, old, rest))


# --- the registry ------------------------------------------------------------------------


def test_registry_covers_eni001_to_eni004_from_the_catalogue() -> None:
    assert set(RULE_IDS) == {"ENI001", "ENI002", "ENI003", "ENI004"}
    assert all(rule in RULES for check in REGISTRY for rule in check.rule_ids)
    assert len(RULE_IDS) == len(set(RULE_IDS))  # no rule in two families


# --- ENI001 / ENI002 ---------------------------------------------------------------------


def test_eni001_two_enis_in_one_subnet() -> None:
    report = audit(inventory(instance(eni(0), eni(1))))
    (finding,) = report.findings
    assert finding.rule_id == "ENI001" and finding.severity == "high"
    assert finding.instance_id == INSTANCE_ID and "web-1" in finding.message
    assert SUBNET_A.subnet_id in finding.message and "\n" not in finding.message
    assert finding.eni_ids == (eni(0).eni_id, eni(1).eni_id)
    command = (
        f"eniplan render --instance-id {INSTANCE_ID} --target cloud-init --persist auto -o out/"
    )
    assert command in finding.remediation
    assert (finding.account_id, finding.region) == (ACCOUNT, REGION)


def test_eni002_enis_in_two_subnets() -> None:
    report = audit(inventory(instance(eni(0), eni(1, SUBNET_B))))
    assert rules_of(report) == ["ENI002"]
    assert SUBNET_B.subnet_id in report.findings[0].message


def test_both_when_two_share_a_subnet_and_a_third_is_elsewhere() -> None:
    report = audit(inventory(instance(eni(0), eni(1), eni(2, SUBNET_B))))
    assert rules_of(report) == ["ENI001", "ENI002"]


@pytest.mark.parametrize(
    "single",
    [
        instance(eni(0)),
        # the second ENI belongs to a service: one left for the OS
        instance(eni(0), eni(1, interface_type="efa-only")),
        instance(eni(0), eni(1, requester_managed=True)),
    ],
    ids=["single-eni", "efa-only", "requester-managed"],
)
def test_no_policy_routing_finding_with_one_eni_to_route(single: Instance) -> None:
    assert rules_of(audit(inventory(single))) == []


@pytest.mark.parametrize(
    ("image", "agent"),
    [
        ("al2023", "amazon-ec2-net-utils"),
        ("ubuntu2404", "cloud-init"),
        ("windows", "EC2Launch"),
    ],
)
def test_handled_by_an_agent_known_from_the_ami(image: str, agent: str) -> None:
    report = audit(inventory(instance(eni(0), eni(1), image=image)))
    assert report.findings == ()
    ((subject, reason),) = report.excluded
    assert subject == INSTANCE_ID and agent in reason


def test_ubuntu_before_24_04_is_not_handled() -> None:
    report = audit(inventory(instance(eni(0), eni(1), image="ubuntu2204")))
    assert rules_of(report) == ["ENI001"]


def test_unknown_ami_is_reported_as_unknown_not_safe() -> None:
    report = audit(inventory(instance(eni(0), eni(1), image_id="ami-0fffffffffffffff9")))
    (finding,) = report.findings
    assert finding.rule_id == "ENI001"
    assert "OS unknown" in finding.message and "ami-0fffffffffffffff9" in finding.message
    assert finding.details["os"] == "unknown"


def test_user_data_not_collected_is_said_and_not_safe() -> None:
    report = audit(inventory(instance(eni(0), eni(1), user_data=None)))
    (finding,) = report.findings
    assert finding.rule_id == "ENI001" and "user data unknown" in finding.message


def test_user_data_that_installs_net_utils_is_handled() -> None:
    data = b"#!/bin/bash\nyum install -y amazon-ec2-net-utils\n"
    report = audit(inventory(instance(eni(0), eni(1), user_data=data)))
    assert report.findings == ()
    assert "amazon-ec2-net-utils, installed by the user data" in report.excluded[0][1]


def test_eniplan_dynamic_user_data_is_covered_without_drift_check() -> None:
    data = b"#cloud-config\n# eniplan 0.2.0 mode=dynamic\n"
    report = audit(inventory(instance(eni(0), eni(1), user_data=data)))
    assert report.findings == ()
    assert "dynamic" in report.excluded[0][1]


def test_real_dynamic_user_data_is_covered() -> None:
    for table_base, guard in ((10000, True), (20000, False)):
        data = dynamic.user_data(table_base, guard).encode()
        report = audit(inventory(instance(eni(0), eni(1), user_data=data)))
        assert report.findings == ()
        assert "dynamic agent" in report.excluded[0][1]


def test_plan_options_reach_the_command() -> None:
    options = AuditOptions(plan=PlanOptions(table_base=20000, guard=False))
    (finding,) = audit(inventory(instance(eni(0), eni(1))), options).findings
    assert "--table-base 20000 --no-guard -o out/" in finding.remediation


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (SourceArgs(("--sandbox",)), "eniplan render --sandbox --instance-id"),
        (
            SourceArgs(("--inventory", "snap shot.json")),
            "eniplan render --inventory 'snap shot.json' --instance-id",
        ),
        (
            SourceArgs(
                ("--profile", "prod"),
                aws=True,
                role_by_account={ACCOUNT: f"arn:aws:iam::{ACCOUNT}:role/audit"},
            ),
            f"eniplan render --profile prod --region {REGION} --role-arn "
            f"arn:aws:iam::{ACCOUNT}:role/audit --instance-id",
        ),
        (
            SourceArgs(aws=True, org_role="audit/eniplan-read"),
            f"eniplan render --region {REGION} --role-arn "
            f"arn:aws:iam::{ACCOUNT}:role/audit/eniplan-read --instance-id",
        ),
    ],
    ids=["sandbox", "inventory-quoted", "aws-role", "aws-org-role"],
)
def test_the_command_names_the_source(source: SourceArgs, expected: str) -> None:
    (finding,) = audit(inventory(instance(eni(0), eni(1))), AuditOptions(source=source)).findings
    assert expected in finding.remediation
    assert finding.details["commands"] == [
        list(render_command(instance(eni(0)), AuditOptions(source=source)))
    ]


# --- ENI003 ------------------------------------------------------------------------------


def route_table(*routes: VpcRoute) -> tuple[RouteTable, ...]:
    return (RouteTable("rtb-0aaaaaaaaaaaaaaa1", VPC, ACCOUNT, REGION, routes=routes, main=True),)


def test_eni003_check_disabled_and_nothing_routes_to_it() -> None:
    report = audit(inventory(instance(eni(0), eni(1, source_dest_check=False))))
    assert rules_of(report) == ["ENI001", "ENI003"]
    finding = next(f for f in report.findings if f.rule_id == "ENI003")
    assert finding.severity == "medium" and finding.eni_ids == (eni(1).eni_id,)
    assert "no route table targets it" in finding.message
    assert "modify-network-interface-attribute" in finding.remediation
    assert "eniplan render" in finding.remediation  # policy routing first, then the check


def test_eni003_on_a_single_eni_instance_names_only_the_aws_command() -> None:
    (finding,) = audit(inventory(instance(eni(0, source_dest_check=False)))).findings
    assert finding.rule_id == "ENI003" and "eniplan render" not in finding.remediation


@pytest.mark.parametrize(
    "routes",
    [
        route_table(VpcRoute("0.0.0.0/0", eni_id=eni(0).eni_id)),
        route_table(VpcRoute("192.168.0.0/16", instance_id=INSTANCE_ID)),
    ],
    ids=["route-to-eni", "route-to-instance"],
)
def test_eni003_not_for_a_router(routes: tuple[RouteTable, ...]) -> None:
    report = audit(inventory(instance(eni(0, source_dest_check=False)), route_tables=routes))
    assert report.findings == ()


def test_eni003_route_to_another_eni_does_not_count() -> None:
    routes = route_table(VpcRoute("0.0.0.0/0", eni_id="eni-0ccccccccccccccc1"))
    report = audit(inventory(instance(eni(0, source_dest_check=False)), route_tables=routes))
    assert rules_of(report) == ["ENI003"]


def test_eni003_says_when_route_tables_were_not_collected() -> None:
    report = audit(inventory(instance(eni(0, source_dest_check=False)), route_tables=()))
    (finding,) = report.findings
    assert "were not collected" in finding.message
    assert finding.details["route_tables_collected"] is False


def test_eni003_instance_level_check_counts_for_the_primary() -> None:
    single = replace(instance(eni(0)), source_dest_check=False)
    (finding,) = audit(inventory(single)).findings
    assert finding.rule_id == "ENI003" and finding.eni_ids == (eni(0).eni_id,)


def test_eni003_not_for_enis_owned_by_a_service() -> None:
    owned = eni(1, source_dest_check=False, interface_type="branch")
    report = audit(inventory(instance(eni(0), owned)))
    assert report.findings == ()
    assert any(subject == owned.eni_id and "ECS" in reason for subject, reason in report.excluded)


# --- excluded: service-owned instances ---------------------------------------------------


def test_eks_node_is_excluded_with_the_reason() -> None:
    cni = eni(1, source_dest_check=False, tags={"node.k8s.amazonaws.com/instance_id": INSTANCE_ID})
    report = audit(inventory(instance(eni(0), cni)))
    assert report.findings == ()
    assert report.excluded == ((INSTANCE_ID, report.excluded[0][1]),)
    assert "VPC CNI" in report.excluded[0][1]


# --- ENI004 drift ------------------------------------------------------------------------


def test_static_user_data_that_matches_is_clean() -> None:
    inv = inventory(instance(eni(0), eni(1)))
    current = inventory(instance(eni(0), eni(1), user_data=eniplan_user_data(inv)))
    report = audit(current)
    assert report.findings == ()
    assert "eniplan static user data" in report.excluded[0][1]


def test_gzip_compressed_static_user_data_is_read() -> None:
    # 15 ENIs: the rendered user data is over 16 KB and gzip-compressed
    enis = [eni(n) for n in range(15)]
    inv = inventory(instance(*enis))
    data = eniplan_user_data(inv)
    assert data[:2] == b"\x1f\x8b"
    assert audit(inventory(instance(*enis, user_data=data))).findings == ()


def test_drift_when_an_address_changed() -> None:
    before = inventory(instance(eni(0), eni(1)))
    data = eniplan_user_data(before, persist="networkd")
    moved = replace(eni(1), secondary_ipv4s=(IPv4Address("10.1.0.99"),))
    report = audit(inventory(instance(eni(0), moved, user_data=data)))
    (finding,) = report.findings
    assert finding.rule_id == "ENI004" and finding.severity == "medium"
    assert "no longer matches" in finding.message
    # the command renders again with the persistence the user data was rendered with
    assert "--persist networkd" in finding.remediation
    assert finding.details["installed_digest"] != finding.details["current_digest"]
    assert report.excluded == ()  # not "left alone": it has a finding


def test_drift_when_an_eni_was_added() -> None:
    data = eniplan_user_data(inventory(instance(eni(0), eni(1))))
    report = audit(inventory(instance(eni(0), eni(1), eni(2, SUBNET_B), user_data=data)))
    assert rules_of(report) == ["ENI004"]


def test_drift_when_user_data_was_rendered_for_another_instance() -> None:
    data = eniplan_user_data(inventory(instance(eni(0), eni(1))))
    other = "i-0fedcba9876543210"
    report = audit(inventory(instance(eni(0), eni(1), user_data=data, instance_id=other)))
    (finding,) = report.findings
    assert finding.rule_id == "ENI004" and INSTANCE_ID in finding.message


def test_drift_when_nothing_is_left_to_route() -> None:
    data = eniplan_user_data(inventory(instance(eni(0), eni(1))))
    (finding,) = audit(inventory(instance(eni(0), user_data=data))).findings
    assert finding.rule_id == "ENI004" and "nothing to route" in finding.message


def test_user_data_rendered_with_force_on_an_agent_os_is_compared_with_force() -> None:
    inv = inventory(instance(eni(0), eni(1), image="al2023"))
    data = eniplan_user_data(inv, force=True)
    assert audit(inventory(instance(eni(0), eni(1), image="al2023", user_data=data))).findings == ()
    moved = replace(eni(1), secondary_ipv4s=(IPv4Address("10.1.0.99"),))
    report = audit(inventory(instance(eni(0), moved, image="al2023", user_data=data)))
    assert rules_of(report) == ["ENI004"]


def test_user_data_rendered_with_force_gets_force_in_the_remediation() -> None:
    inv = inventory(instance(eni(0), eni(1), image="al2023"))
    data = eniplan_user_data(inv, force=True)
    moved = replace(eni(1), secondary_ipv4s=(IPv4Address("10.1.0.99"),))
    (finding,) = audit(inventory(instance(eni(0), moved, image="al2023", user_data=data))).findings
    # `eniplan render` skips an OS whose agent routes the ENIs unless given --force
    assert "--force" in finding.details["commands"][0]


def test_options_the_user_data_was_rendered_with_are_no_drift() -> None:
    inv = inventory(instance(eni(0), eni(1)))
    data = eniplan_user_data(inv, table_base=20000, guard=False)
    report = audit(inventory(instance(eni(0), eni(1), user_data=data)))  # default audit
    assert report.findings == ()
    assert "eniplan static user data" in report.excluded[0][1]


def test_drift_with_options_renders_again_with_them() -> None:
    inv = inventory(instance(eni(0), eni(1)))
    data = eniplan_user_data(inv, table_base=20000, guard=False, persist="networkd")
    moved = replace(eni(1), secondary_ipv4s=(IPv4Address("10.1.0.99"),))
    (finding,) = audit(inventory(instance(eni(0), moved, user_data=data))).findings
    assert finding.rule_id == "ENI004"
    (command,) = finding.details["commands"]
    assert command[command.index("--persist") :] == [
        "--persist",
        "networkd",
        "--table-base",
        "20000",
        "--no-guard",
        "-o",
        "out/",
    ]
    assert "--table-base 20000 --no-guard -o out/" in finding.remediation
    assert finding.details["plan_options"]["source"] == "marker"
    assert (
        finding.details["plan_options"]["table_base"],
        finding.details["plan_options"]["guard"],
    ) == (20000, False)
    # what the command renders now is what the next audit finds in order
    expected = plan_instance(
        inventory(instance(eni(0), moved)).instances[0],
        inventory(instance(eni(0), moved)),
        PlanOptions(table_base=20000, guard=False),
    )
    assert finding.details["current_digest"] == f"sha256:{expected.digest()}"
    fixed = eniplan_user_data(inventory(instance(eni(0), moved)), table_base=20000, guard=False)
    assert audit(inventory(instance(eni(0), moved, user_data=fixed))).findings == ()


def test_marker_options_win_over_the_audits() -> None:
    inv = inventory(instance(eni(0), eni(1)))
    data = eniplan_user_data(inv)  # the defaults, recorded in the marker
    options = AuditOptions(plan=PlanOptions(table_base=20000, guard=False))
    assert audit(inventory(instance(eni(0), eni(1), user_data=data)), options).findings == ()
    moved = replace(eni(1), secondary_ipv4s=(IPv4Address("10.1.0.99"),))
    (finding,) = audit(inventory(instance(eni(0), moved, user_data=data)), options).findings
    assert "--table-base" not in finding.remediation and "--no-guard" not in finding.remediation


def test_old_marker_is_compared_with_the_audits_options() -> None:
    inv = inventory(instance(eni(0), eni(1)))
    default = old_marker(eniplan_user_data(inv))
    assert audit(inventory(instance(eni(0), eni(1), user_data=default))).findings == ()
    custom = old_marker(eniplan_user_data(inv, table_base=20000, guard=False))
    # as before: the audit's options, which give another plan than the user data's ...
    (finding,) = audit(inventory(instance(eni(0), eni(1), user_data=custom))).findings
    assert finding.rule_id == "ENI004"
    assert finding.details["plan_options"]["source"] == "audit"
    assert "does not record the planning options" in finding.details["plan_options"]["note"]
    assert "does not record the planning options" in finding.remediation
    # ... and the same options in the audit find it in order
    options = AuditOptions(plan=PlanOptions(table_base=20000, guard=False))
    report = audit(inventory(instance(eni(0), eni(1), user_data=custom)), options)
    assert report.findings == ()


@pytest.mark.parametrize(
    "fields", [b"table-base=abc guard=off", b"table-base=20000 guard=maybe", b"guard=off"]
)
def test_malformed_marker_options_fall_back_to_the_audits(fields: bytes) -> None:
    inv = inventory(instance(eni(0), eni(1)))
    data = old_marker(eniplan_user_data(inv, table_base=20000, guard=False))
    head, marker, rest = data.split(b"\n", 2)
    data = b"\n".join((head, marker + b" " + fields, rest))
    (finding,) = audit(inventory(instance(eni(0), eni(1), user_data=data))).findings
    assert finding.rule_id == "ENI004"  # planned with the defaults: another plan
    assert finding.details["plan_options"]["source"] == "audit"
    assert "malformed" in finding.details["plan_options"]["note"]
    assert "--table-base" not in finding.details["commands"][0]


# --- waivers -----------------------------------------------------------------------------


def test_instance_tag_waives_the_named_rule_only() -> None:
    tags = {"eniplan:ignore": "ENI003: a firewall appliance, see NET-42"}
    report = audit(inventory(instance(eni(0), eni(1, source_dest_check=False), tags=tags)))
    assert rules_of(report) == ["ENI001"]
    assert rules_of(report, active_only=False) == ["ENI001", "ENI003"]
    waived = next(f for f in report.findings if f.suppressed)
    assert (
        waived.suppression_reason
        == f"eniplan:ignore on {INSTANCE_ID}: a firewall appliance, see NET-42"
    )
    assert report.summary()["suppressed"] == 1


def test_eni_tag_waives_findings_that_name_the_eni() -> None:
    waived_eni = eni(1, source_dest_check=False, tags={"eniplan:ignore": "all: lab box"})
    report = audit(inventory(instance(eni(0), waived_eni)))
    # ENI001 names both ENIs, ENI003 the tagged one: both waived
    assert rules_of(report) == [] and rules_of(report, active_only=False) == ["ENI001", "ENI003"]
    other = eni(2, source_dest_check=False)
    report = audit(inventory(instance(eni(0), waived_eni, other)))
    active = [f for f in report.active]
    assert [(f.rule_id, f.eni_ids) for f in active] == [("ENI003", (other.eni_id,))]


def test_unknown_rule_ids_warn_and_do_not_crash() -> None:
    tags = {"eniplan:ignore": "ENI999, nonsense: typo"}
    report = audit(inventory(instance(eni(0), eni(1), tags=tags)))
    assert rules_of(report) == ["ENI001"]  # nothing waived
    (warning,) = report.warnings
    assert "ENI999" in warning and "nonsense" in warning and INSTANCE_ID in warning


def test_failing_follows_fail_on() -> None:
    inv = inventory(instance(eni(0, source_dest_check=False)))  # ENI003 only: medium
    assert audit(inv, AuditOptions(fail_on="high")).failing == ()
    assert len(audit(inv, AuditOptions(fail_on="medium")).failing) == 1
    assert audit(inv, AuditOptions(fail_on="never")).failing == ()
    with pytest.raises(InputError):
        audit(inv, AuditOptions(fail_on="critical"))


def test_an_instance_that_cannot_be_planned_is_a_problem_not_an_abort() -> None:
    # eniplan user data, then an address that is outside its subnet: the drift check must
    # plan the instance, cannot, and says so; the other instance is still audited
    data = eniplan_user_data(inventory(instance(eni(0), eni(1))))
    broken = replace(eni(1), primary_ipv4=IPv4Address("192.0.2.1"))
    other = "i-0aaaaaaaaaaaaaaa1"
    good = instance(eni(2, instance_id=other), eni(3, instance_id=other), instance_id=other)
    report = audit(inventory(instance(eni(0), broken, user_data=data), good))
    assert report.partial and INSTANCE_ID in report.problems[0]
    assert "outside its subnet" in report.problems[0]
    assert [f.instance_id for f in report.findings] == [other]


# --- the sandbox account -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox_report(sandbox_inventory: Inventory) -> Report:
    return audit(sandbox_inventory, AuditOptions(source=SourceArgs(("--sandbox",))))


def by_name(report: Report, inv: Inventory) -> dict[str, list[Finding]]:
    names = {i.instance_id: i.name for i in inv.instances}
    found: dict[str, list[Finding]] = {}
    for finding in report.findings:
        found.setdefault(names[finding.subject], []).append(finding)
    return found


def test_sandbox_audit_tells_each_story(
    sandbox_report: Report, sandbox_inventory: Inventory
) -> None:
    found = {
        name: sorted((f.rule_id, f.suppressed) for f in findings)
        for name, findings in by_name(sandbox_report, sandbox_inventory).items()
    }
    assert found["centos7-same-24"] == [("ENI001", False)]
    assert found["rhel-same-20"] == [("ENI001", False)]
    assert found["web-balanced"] == [("ENI001", False)]
    assert found["app-check-disabled"] == [("ENI001", False), ("ENI003", False)]
    assert found["multi-subnet"] == [("ENI002", False)]
    assert found["eniplan-drifted"] == [("ENI004", False)]
    assert found["appliance-waived"] == [("ENI002", True)]
    assert found["unknown-ami"] == [("ENI001", False)]
    for clean in (
        "nat-instance",
        "al2023-two-enis",
        "eniplan-static-ok",
        "ubuntu2404-two-enis",
        "bastion",
    ):
        assert clean not in found, clean
    names = {i.instance_id: i.name for i in sandbox_inventory.instances}
    excluded = {names[subject] for subject, _ in sandbox_report.excluded}
    assert excluded == {"al2023-two-enis", "eniplan-static-ok", "ubuntu2404-two-enis"}
    assert sandbox_report.warnings == () and not sandbox_report.partial


def test_triage_agrees_with_the_planner(sandbox_inventory: Inventory) -> None:
    from eniplan.plan import triage

    for item in sandbox_inventory.instances:
        for force in (False, True):
            options = PlanOptions(force=force)
            decided = triage(item, sandbox_inventory, options)
            plan = plan_instance(item, sandbox_inventory, options)
            assert decided.status == plan.status, item.name
            assert [e.eni_id for e in decided.managed] == [e.eni_id for e in plan.enis]
