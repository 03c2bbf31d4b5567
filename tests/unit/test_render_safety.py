"""No value from AWS reaches a script, template or file unparsed.

Free text (tags, names, descriptions) never appears in rendered output (the terraform
target keeps an adopted ENI's tags, as escaped HCL strings only); IDs, MACs and
addresses arrive validated and typed. Hostile values are refused where they enter.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from eniplan.model import Instance, Inventory
from eniplan.plan import PlanOptions, plan_instance
from eniplan.render import TARGETS, hcl, render
from eniplan.render.base import RenderOptions
from eniplan.sources.collection import Collection, Shapes
from eniplan.sources.shapes import build_inventory

HOSTILE_TEXT = "x'; $(reboot) `id` {{ jinja }} *: [yaml] #\\"


def hostile_instance(inventory: Inventory) -> tuple[Instance, Inventory]:
    """centos7-same-24 with hostile-but-printable tags and descriptions (accepted as data)."""
    instance = next(i for i in inventory.instances if i.name == "centos7-same-24")
    tagged = replace(
        instance,
        tags={"Name": HOSTILE_TEXT, HOSTILE_TEXT: HOSTILE_TEXT},
        enis=tuple(
            replace(eni, description=HOSTILE_TEXT, tags={"Name": HOSTILE_TEXT})
            for eni in instance.enis
        ),
    )
    return tagged, replace(inventory, instances=(tagged,))


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_free_text_never_reaches_the_output(sandbox_inventory: Inventory, target: str) -> None:
    instance, inventory = hostile_instance(sandbox_inventory)
    plan = plan_instance(instance, inventory, PlanOptions())
    rendering = render(target, plan, RenderOptions(persist="script"))
    for file in rendering.files:
        content = file.content if isinstance(file.content, str) else ""
        if target == "terraform":
            content = _outside_hcl_data(file.path, content)
        for fragment in ("$(reboot)", "`id`", "{{ jinja }}", "[yaml]"):
            assert fragment not in content, (target, file.path)
    for note in rendering.notes:
        assert "$(reboot)" not in note


def _outside_hcl_data(path: str, content: str) -> str:
    """What of a terraform target's file is code, not data. Adopting an ENI must keep its
    tags and description (else `terraform apply` would remove them), so free text may
    appear, but only as an escaped HCL string literal, in a one-line `#` comment, or in
    the Markdown README a person reads."""
    if path.endswith(".md"):
        return ""
    literal = hcl.quote(HOSTILE_TEXT)
    code = [line for line in content.splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(code).replace(literal, "")


BASE_ENI: dict[str, Any] = {
    "NetworkInterfaceId": "eni-0123456789abcdef0",
    "MacAddress": "02:00:00:00:00:01",
    "SubnetId": "subnet-0123456789abcdef0",
    "VpcId": "vpc-0123456789abcdef0",
    "PrivateIpAddress": "10.0.0.5",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("MacAddress", "02:00:00:00:00:01; reboot"),
        ("MacAddress", "02:00:00:00:00:01\nrm -rf /"),
        ("PrivateIpAddress", "10.0.0.5 dev lo"),
        ("PrivateIpAddress", "$(reboot)"),
        ("NetworkInterfaceId", "eni-01234567'; id"),
        ("SubnetId", "subnet-0123456789abcdef0\n- injected: yaml"),
    ],
)
def test_hostile_values_are_refused_where_they_enter(field: str, value: str) -> None:
    """The record is left out, named by its field: nothing of it reaches a renderer."""
    eni = {**BASE_ENI, field: value}
    inventory = build_inventory(
        Collection([Shapes("dump.json", lists={"NetworkInterfaces": [eni]})])
    )
    assert inventory.enis == {}
    (rejected,) = inventory.rejected
    assert rejected.startswith(f"dump.json: NetworkInterfaces[0].{field}: "), rejected


def test_a_description_is_data_whatever_it_holds() -> None:
    eni = {**BASE_ENI, "Description": "line one\nline two", "SubnetId": "subnet-0123456789abcdef0"}
    subnet = {
        "SubnetId": "subnet-0123456789abcdef0",
        "VpcId": "vpc-0123456789abcdef0",
        "OwnerId": "123456789012",
        "AvailabilityZone": "eu-west-1a",
        "CidrBlock": "10.0.0.0/24",
    }
    lists = {"NetworkInterfaces": [eni], "Subnets": [subnet]}
    inventory = build_inventory(Collection([Shapes("dump.json", lists=lists)]))
    assert inventory.rejected == ()
    assert inventory.enis["eni-0123456789abcdef0"].description == "line one\nline two"
