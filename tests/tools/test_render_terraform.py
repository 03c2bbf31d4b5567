"""The Terraform target through the real Terraform: quoting round-trips, alignment is
`terraform fmt`'s, every sandbox rendering is fmt-clean, hostile tags stay strings."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path
from typing import Any

from eniplan.plan import InstancePlan
from eniplan.render import hcl, render
from eniplan.render.base import RenderOptions
from eniplan.render.files import write_renderings
from tests.helpers.terraform_tools import (
    assert_fmt_clean,
    blocks,
    evaluate_outputs,
    managed_plans,
    parse_hcl,
)

NASTY = [
    "a${b}",
    "%{if x}y%{endif}",
    "$${x}",
    "$${",
    'q"\\',
    "tab\tnl\nend",
    "é ü 漢",
    "$",
    "%",
    "x$",
    '} ]\n}\nresource "x" "y" {',
    "\u2028",
]


def test_quote_round_trips_through_terraform(tmp_path: Path) -> None:
    blocks: list[hcl.Block | hcl.Comment | hcl.Blank] = [
        hcl.Block("output", (f"v{i}",), (hcl.Attribute("value", text),))
        for i, text in enumerate(NASTY)
    ]
    blocks.append(hcl.Block("output", ("keys",), (hcl.Attribute("value", {t: t for t in NASTY}),)))
    (tmp_path / "main.tf").write_text(hcl.dumps(blocks))
    assert_fmt_clean(tmp_path)
    outputs = evaluate_outputs(tmp_path)
    for i, text in enumerate(NASTY):
        assert outputs[f"v{i}"] == text
    assert outputs["keys"] == {t: t for t in NASTY}


def test_alignment_matches_terraform_fmt(tmp_path: Path) -> None:
    body: tuple[hcl.BodyItem, ...] = (
        hcl.Attribute("a", 1),
        hcl.Attribute("bbbbbb", ["1", "2", "3", "4"]),
        hcl.Attribute("c", True),
        hcl.Attribute("dd", None),
        hcl.Comment("a comment"),
        hcl.Attribute("eee", hcl.reference("aws_instance", "x", "id")),
        hcl.Attribute("f", {"Name": "x", "eniplan:ignore": "ENI005: why", "for": "y"}),
        hcl.Blank(),
        hcl.Attribute("g", []),
        hcl.Attribute("hhhh", {}),
        hcl.Block("nested", body=(hcl.Attribute("i", 1), hcl.Attribute("jjj", [{"k": 1}]))),
        hcl.Attribute("l", hcl.call("file", hcl.template(hcl.reference("path", "module"), "/x"))),
    )
    text = hcl.dumps([hcl.Comment("top"), hcl.Block("locals", body=body), hcl.Block("locals")])
    (tmp_path / "main.tf").write_text(text)
    assert_fmt_clean(tmp_path)
    parse_hcl(text)


def test_every_sandbox_rendering_is_fmt_clean_and_parses(
    sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    plans = managed_plans(sandbox_plans)
    assert len(plans) >= 3
    renderings = [render("terraform", plan, RenderOptions()) for plan in plans]
    write_renderings(str(tmp_path), renderings)
    assert_fmt_clean(tmp_path)
    for plan, rendering in zip(plans, renderings, strict=True):
        directory = tmp_path / plan.instance_id
        names = sorted(p.name for p in directory.iterdir())
        assert "README.md" in names
        parsed = parse_hcl((directory / f"eniplan_{plan.instance_id}.tf").read_text())
        check_resources(plan, parsed)
        user_data = (directory / f"eniplan_{plan.instance_id}_user_data.tf").read_text()
        # gzip past EC2's 16 KB: filebase64() for user_data_base64, else file() for user_data
        (written,) = directory.glob(f"eniplan_{plan.instance_id}.cloud-config.*")
        function = "filebase64" if written.suffix == ".gz" else "file"
        assert f'{function}("${{path.module}}/{written.name}")' in user_data
        assert "user_data_replace_on_change" in user_data
        raw = written.read_bytes()
        cloud_config = (gzip.decompress(raw) if written.suffix == ".gz" else raw).decode()
        assert cloud_config.startswith("#cloud-config\n# eniplan ")
        assert f"instance={plan.instance_id}" in cloud_config.splitlines()[1]
        assert rendering.instance_id == plan.instance_id


def test_hostile_tags_stay_strings(sandbox_plans: dict[str, InstancePlan], tmp_path: Path) -> None:
    plan = managed_plans(sandbox_plans)[0]
    # "$${" is left to test_quote_round_trips_through_terraform: Terraform reads its
    # escaped form "$$${" right, python-hcl2's lexer (8.1) rejects it
    printable = [text for text in NASTY if text.isprintable() and text != "$${"]
    assert len(printable) >= 8
    tags = {f"k{i}": text for i, text in enumerate(printable)}
    tags["Name"] = '"} resource "evil" "x" { ${file("/etc/passwd")}'
    tags['a"b${c}'] = "%{ for x in y }"
    hostile = with_tags(plan, tags, 'web"${x}')
    rendering = render("terraform", hostile, RenderOptions())
    write_renderings(str(tmp_path), [rendering])
    assert_fmt_clean(tmp_path)
    directory = tmp_path / plan.instance_id
    parsed = parse_hcl((directory / f"eniplan_{plan.instance_id}.tf").read_text())
    assert set(parsed) - {"__comments__"} == {"import", "resource"}
    kinds = {key.strip('"') for entry in parsed["resource"] for key in entry}
    assert kinds == {"aws_network_interface", "aws_network_interface_attachment"}
    for name in blocks(parsed, "resource", "aws_network_interface"):
        assert hcl.identifier(name) == name
    # and Terraform reads the tags back exactly: evaluate them as outputs
    tf = tmp_path / "eval"
    tf.mkdir()
    block = hcl.Block("output", ("tags",), (hcl.Attribute("value", tags),))
    (tf / "main.tf").write_text(hcl.dumps([block]))
    assert evaluate_outputs(tf)["tags"] == tags


def with_tags(plan: InstancePlan, tags: dict[str, str], name: str) -> InstancePlan:
    """The plan with every secondary ENI's tags replaced, and the instance renamed."""
    records = {key: dataclasses.replace(eni, tags=tags) for key, eni in plan.eni_records.items()}
    return dataclasses.replace(plan, eni_records=records, name=name)


def check_resources(plan: InstancePlan, parsed: dict[str, Any]) -> None:
    interfaces = blocks(parsed, "resource", "aws_network_interface")
    attachments = blocks(parsed, "resource", "aws_network_interface_attachment")
    secondaries = [eni for eni in plan.enis if not eni.is_primary]
    assert len(interfaces) == len(attachments) == len(secondaries)
    imports = {item["id"].strip('"'): item["to"].strip("${}") for item in parsed["import"]}
    for eni in secondaries:
        record = plan.eni_records[eni.eni_id]
        (name,) = [n for n, body in interfaces.items() if imports.get(eni.eni_id, "").endswith(n)]
        body = interfaces[name]
        assert body["subnet_id"] == f'"{eni.subnet_id}"'
        assert body["private_ip_list"] == [f'"{a}"' for a in record.ipv4_addresses]
        assert body["private_ip_list_enabled"] is True
        # on, except where it is off and a VPC route targets the ENI or the instance
        kept_off = not record.source_dest_check and eni.eni_id in plan.routed_eni_ids
        assert body["source_dest_check"] is not kept_off
        assert body["security_groups"] == [f'"{g}"' for g in record.security_group_ids]
        attachment = attachments[name]
        assert attachment["instance_id"] == f'"{plan.instance_id}"'
        assert attachment["device_index"] == eni.device_index
        # written only where not 0 (AWS provider 5.x has no network_card_index)
        assert attachment.get("network_card_index", 0) == eni.network_card_index
        assert ("network_card_index" in attachment) == (eni.network_card_index != 0)
        assert record.attachment_id is not None
        assert imports[record.attachment_id] == f"aws_network_interface_attachment.{name}"
