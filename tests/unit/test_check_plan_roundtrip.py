"""The round trip: what `render --target terraform` writes, as it appears in a plan once
imported (and the instance wired to the user data as the snippet says), passes check-plan.

The plan is built from the emitted HCL itself (parsed by python-hcl2): every attribute of
every emitted resource becomes its configuration expression (constant or references) and,
the resources being imported, its known value after apply.
"""

from __future__ import annotations

import hashlib
import json
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from eniplan import __version__
from eniplan.checkplan import check_plan, digests_of_files
from eniplan.checkplan.tfplan import parse_plan, read_user_data_files
from eniplan.cli import cli
from eniplan.model import Inventory
from eniplan.plan import MANAGED, InstancePlan
from eniplan.render import render
from eniplan.render.base import RenderOptions
from eniplan.render.files import write_renderings
from tests.helpers.terraform_tools import parse_hcl
from tests.helpers.tfplan_builder import PlanBuilder, ref


def expression(value: Any) -> tuple[dict[str, Any], Any]:
    """(configuration expression, known value) of a python-hcl2 value."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        reference = value[2:-1]
        return ref(reference, reference.rsplit(".", 1)[0]), None
    constant = literal(value)
    return {"constant_value": constant}, constant


def literal(value: Any) -> Any:
    if isinstance(value, str):
        assert value.startswith('"'), value
        return json.loads(value)
    if isinstance(value, list):
        return [literal(item) for item in value]
    if isinstance(value, dict):
        return {literal(k) if k.startswith('"') else k: literal(v) for k, v in value.items()}
    return value


def emitted(parsed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for entry in parsed.get("resource", []):
        for type_, by_name in entry.items():
            if type_.strip('"') == kind:
                for name, body in by_name.items():
                    found[name.strip('"')] = {  # attributes: no meta-arguments
                        k: v for k, v in body.items() if not k.startswith("__") and k != "lifecycle"
                    }
    return found


def plan_of_rendering(plan: InstancePlan, directory: Path, provider: int = 6) -> PlanBuilder:
    """The plan; `provider`: the AWS provider's major version (6.x keeps the user data's
    text in the plan, 5.x its SHA-1 digest)."""
    parsed = parse_hcl((directory / f"eniplan_{plan.instance_id}.tf").read_text())
    imports = {item["to"].strip("${}"): literal(item["id"]) for item in parsed["import"]}
    builder = PlanBuilder("1.2")
    user_data_tf = parse_hcl((directory / f"eniplan_{plan.instance_id}_user_data.tf").read_text())
    (local,) = [name for entry in user_data_tf["locals"] for name in entry if name[0] != "_"]
    user_data = (directory / f"eniplan_{plan.instance_id}.cloud-config.yaml").read_text()
    primary = next(eni for eni in plan.enis if eni.is_primary)
    # the user's aws_instance, wired as eniplan_<id>_user_data.tf says
    builder.resource(
        "aws_instance",
        "adopted",
        {
            "id": plan.instance_id,
            "subnet_id": primary.subnet_id,
            "source_dest_check": True,
            "user_data": (
                user_data if provider >= 6 else hashlib.sha1(user_data.encode()).hexdigest()
            ),
        },
        expressions={"user_data": ref(f"local.{local}")},
        actions=("update",),
    )
    interfaces = emitted(parsed, "aws_network_interface")
    attachments = emitted(parsed, "aws_network_interface_attachment")
    assert interfaces and interfaces.keys() == attachments.keys()
    for name, body in interfaces.items():
        eni_id = imports[f"aws_network_interface.{name}"]
        pairs = {key: expression(value) for key, value in body.items()}
        attachment = {key: expression(value) for key, value in attachments[name].items()}
        after = {key: known for key, (_, known) in pairs.items()} | {
            "id": eni_id,
            "attachment": [
                {
                    "instance": attachment["instance_id"][1],
                    "device_index": attachment["device_index"][1],
                    "network_card_index": attachment.get("network_card_index", (None, 0))[1],
                    "attachment_id": imports[f"aws_network_interface_attachment.{name}"],
                }
            ],
        }
        builder.resource(
            "aws_network_interface",
            name,
            after,
            expressions={key: expr for key, (expr, _) in pairs.items()},
            actions=("no-op",),
        )
        attachment_after = {key: known for key, (_, known) in attachment.items()}
        attachment_after |= {
            "network_interface_id": eni_id,
            "id": imports[f"aws_network_interface_attachment.{name}"],
        }
        builder.resource(
            "aws_network_interface_attachment",
            name,
            attachment_after,
            expressions={key: expr for key, (expr, _) in attachment.items()},
            actions=("no-op",),
        )
    return builder


def test_emitted_snippets_pass_check_plan(
    sandbox_plans: dict[str, InstancePlan], sandbox_inventory: Inventory, tmp_path: Path
) -> None:
    plans = [plan for plan in sandbox_plans.values() if plan.status == MANAGED]
    assert len(plans) >= 3
    write_renderings(str(tmp_path), [render("terraform", p, RenderOptions()) for p in plans])
    for plan in plans:
        directory = tmp_path / plan.instance_id
        document = plan_of_rendering(plan, directory).dumps()
        parsed = parse_plan(document.encode(), "plan.json")
        # eniplan's static user data is compared with the plan's ENIs (the snapshot gives
        # what the plan does not hold: MACs, subnets): it matches
        report = check_plan(parsed, inventory=sandbox_inventory).report
        assert report.active == (), [f.message for f in report.active]
        assert report.excluded == (
            (
                "aws_instance.adopted",
                f"{len(plan.enis)} ENIs, policy routing from eniplan static user data "
                f"({__version__}), user_data in the plan (matches the plan's ENIs)",
            ),
        )
        # without the snapshot it cannot be compared: not verified
        (unverified,) = check_plan(parsed).report.active
        assert unverified.rule_id == "ENI005" and "--inventory" in unverified.message
        # an address the plan changes: the static user data is stale (ENI004, says why)
        changed = json.loads(document)
        eni = next(c for c in changed["resource_changes"] if c["type"] == "aws_network_interface")
        after = eni["change"]["after"]
        listed = after["private_ip_list"]
        added = next(
            str(IPv4Address(listed[0]) + step)
            for step in range(1, 200)
            if str(IPv4Address(listed[0]) + step) not in listed
        )
        after["private_ip_list"] = [*listed, added]
        stale = parse_plan(json.dumps(changed).encode(), "plan.json")
        (drift,) = check_plan(stale, inventory=sandbox_inventory).report.active
        assert (drift.rule_id, drift.address) == ("ENI004", "aws_instance.adopted")
        assert "an address, ENI or subnet changed" in drift.message
        assert check_plan(stale, inventory=sandbox_inventory).report.excluded == ()
        # AWS provider 5.x: the plan holds only the user data's digest
        old = plan_of_rendering(plan, directory, provider=5).dumps().encode()
        parsed = parse_plan(old, "plan.json")
        # without the user data file the digest cannot be recognised: ENI005, nothing else
        bare = check_plan(parsed, inventory=sandbox_inventory).report
        assert [(f.rule_id, f.address) for f in bare.active] == [("ENI005", "aws_instance.adopted")]
        assert len(bare.active[0].eni_ids) == len(plan.enis)
        # with it, clean
        digests = digests_of_files(read_user_data_files([str(directory)]))
        report = check_plan(parsed, user_data_digests=digests, inventory=sandbox_inventory).report
        assert report.active == (), [f.message for f in report.active]
        (excluded,) = report.excluded
        assert excluded[0] == "aws_instance.adopted"
        assert f"{len(plan.enis)} ENIs" in excluded[1]


def test_round_trip_through_the_cli(sandbox_plans: dict[str, InstancePlan], tmp_path: Path) -> None:
    plan = next(plan for plan in sandbox_plans.values() if plan.status == MANAGED)
    write_renderings(str(tmp_path), [render("terraform", plan, RenderOptions())])
    directory = tmp_path / plan.instance_id
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan_of_rendering(plan, directory, provider=5).dumps())
    runner = CliRunner()
    snapshot = tmp_path / "snapshot.json"
    assert runner.invoke(cli, ["collect", "--sandbox", "-o", str(snapshot)]).exit_code == 0
    args = ["check-plan", str(plan_file), "--format", "json", "--fail-on", "info"]
    args += ["--inventory", str(snapshot)]
    failing = runner.invoke(cli, args)
    assert failing.exit_code == 1
    passing = runner.invoke(cli, [*args, "--user-data", str(directory)])
    assert passing.exit_code == 0, passing.output
    assert json.loads(passing.stdout)["summary"]["findings"] == 0
