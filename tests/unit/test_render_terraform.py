"""The terraform target and its HCL writer, checked by the real Terraform and python-hcl2."""

from __future__ import annotations

import dataclasses
import gzip

import pytest

from eniplan.audit import audit
from eniplan.model import Inventory, VpcRoute
from eniplan.plan import MANAGED, InstancePlan, plan_instance
from eniplan.render import TARGETS, hcl, terraform
from eniplan.render.base import RenderOptions
from tests.helpers.terraform_tools import (
    blocks,
    managed_plans,
    parse_hcl,
)


def test_registered_as_a_target() -> None:
    assert TARGETS["terraform"] == "eniplan.render.terraform"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("web-1 (prod)", "web_1_prod"), ("9lives", "x_9lives"), ("", "x"), ("${x}", "x"), ("É", "x")],
)
def test_sanitize_identifier(text: str, expected: str) -> None:
    assert hcl.sanitize_identifier(text) == expected


def test_references_take_identifiers_only() -> None:
    with pytest.raises(ValueError):
        hcl.reference("aws_instance", "x}${y")
    with pytest.raises(ValueError):
        hcl.dumps([hcl.Block("a b")])


def test_gzip_user_data_uses_filebase64(sandbox_plans: dict[str, InstancePlan]) -> None:
    from tests.helpers.builders import largest_instance_plan

    plan = largest_instance_plan(4, 60)
    rendering = terraform.render(plan, RenderOptions())
    by_name = {file.path: file for file in rendering.files}
    gz = by_name[f"eniplan_{plan.instance_id}.cloud-config.gz"]
    assert isinstance(gz.content, bytes)
    assert gzip.decompress(gz.content).startswith(b"#cloud-config\n# eniplan ")
    user_data_tf = by_name[f"eniplan_{plan.instance_id}_user_data.tf"].content
    assert isinstance(user_data_tf, str)
    assert "filebase64(" in user_data_tf and "user_data_base64 = local." in user_data_tf
    # without the inventory's ENI records: the plan's addresses, no security groups
    bare = dataclasses.replace(plan, eni_records={})
    bare_tf = terraform.enis_tf(bare)
    assert "security groups unknown" in bare_tf and "terraform import" in bare_tf
    parsed = parse_hcl(bare_tf)
    ips = [
        body["private_ip_list"]
        for body in blocks(parsed, "resource", "aws_network_interface").values()
    ]
    assert ips == [
        [f'"{a.ip}"' for a in eni.ipv4_addresses] for eni in plan.enis if not eni.is_primary
    ]


def test_unmanaged_plan_is_refused(sandbox_plans: dict[str, InstancePlan]) -> None:
    unmanaged = next(plan for plan in sandbox_plans.values() if plan.status != MANAGED)
    with pytest.raises(ValueError, match="nothing to render"):
        terraform.render(unmanaged, RenderOptions())


def test_persist_option_reaches_the_user_data(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = managed_plans(sandbox_plans)[0]
    for persist in ("script", "networkd"):
        rendering = terraform.render(plan, RenderOptions(persist=persist))
        (user_data,) = [f for f in rendering.files if ".cloud-config" in f.path]
        content = user_data.content  # gzip past EC2's 16 KB (the script's, with settle.sh)
        text = gzip.decompress(content) if isinstance(content, bytes) else content.encode()
        assert f" persist={persist} " in text.decode().splitlines()[1]


def test_check_stays_off_where_a_route_targets_the_eni(sandbox_inventory: Inventory) -> None:
    """app-check-disabled's eth1 has the check off: turned on while no route targets it,
    kept off (and said so) once a VPC route does, the one predicate ENI003 uses."""
    (instance,) = [i for i in sandbox_inventory.instances if i.name == "app-check-disabled"]
    (eth1,) = [eni for eni in instance.enis if not eni.source_dest_check]
    table = sandbox_inventory.route_tables[0]
    routed = dataclasses.replace(
        sandbox_inventory,
        route_tables=(
            dataclasses.replace(
                table, routes=(*table.routes, VpcRoute("10.99.0.0/16", eni_id=eth1.eni_id))
            ),
            *sandbox_inventory.route_tables[1:],
        ),
    )
    for inventory, expected in ((sandbox_inventory, True), (routed, False)):
        plan = plan_instance(instance, inventory)
        rendering = terraform.render(plan, RenderOptions())
        (enis_tf,) = [
            f.content for f in rendering.files if f.path.endswith(f"{instance.instance_id}.tf")
        ]
        assert isinstance(enis_tf, str)
        (body,) = blocks(parse_hcl(enis_tf), "resource", "aws_network_interface").values()
        assert body["source_dest_check"] is expected
        kept = [note for note in rendering.notes if "source_dest_check kept false" in note]
        assert kept == ([] if expected else [kept[0]])
        if not expected:
            assert kept[0].startswith(f"{eth1.eni_id}: ")
        # ENI003 agrees: a finding exactly where the snippet turns the check on
        findings = [f for f in audit(inventory).findings if f.rule_id == "ENI003"]
        assert any(eth1.eni_id in f.eni_ids for f in findings) is expected
