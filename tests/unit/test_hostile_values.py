"""Any string EC2 accepts as a tag value or description is data, through every command and
output format: tables print it as text (never markup, emoji or terminal escapes), JSON,
SARIF, JUnit and YAML carry it through their libraries, HCL escapes it, scripts never see
it.

The values that the inventory decoding still refuses (control characters, bidi) are
skipped with that reason until the decoding accepts them; the output half is proved for
them on model values below (test_table_outputs_escape_...)."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from rich.console import Console

from eniplan import values
from eniplan.audit import AuditOptions, audit
from eniplan.cli import main
from eniplan.inventory.output import print_inventory
from eniplan.model import Inventory
from eniplan.plan import plan_inventory
from eniplan.plan.output import print_plans
from eniplan.report import FORMATS, format_report
from eniplan.report.table import print_report
from eniplan.terminal import plain_console, visible
from eniplan.userdata import decompressed
from tests.helpers.builders import largest_instance
from tests.helpers.cli_runner import run

TARGET = "web-balanced"  # ENI001 in the default sandbox: audited, planned and rendered
HOSTILE_MAC = "02:00:00:ab:cd:01"  # `:ab:` and `:cd:` are emoji codes to rich

HOSTILE = {
    "markup-link": "[link=https://evil.example]click me[/link]",
    "markup-close": "[/x] [/] [bold white on white]hidden",
    "emoji": ":ab: :cd: :smile: :warning:",
    "max-length": "\u00e9" * 255 + "]",
    "escape": "\x1b[31mred\x1b[0m \x1b]8;;https://evil.example\x07link\x1b]8;;\x07",
    "tab-newline": "left\tright\nsecond line\r",
    "bidi": "abc\u202edcba\u2066x\u2069 \u200f",
    "controls": "nul\x00 bell\x07 del\x7f c1\x85 ls\u2028",
}


def _decodable(value: str) -> bool:
    try:
        values.tag_value(value)
    except ValueError:
        return False
    return True


def _unsafe(text: str) -> list[str]:
    """What must never reach a terminal from data: escapes, controls, bidi, emoji."""
    found = [ch for ch in text if ch not in "\n" and (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F)]
    found += [ch for ch in text if ch in "\u202e\u2066\u2069\u200f\u2028"]
    found += [ch for ch in text if ord(ch) >= 0x1F000]  # emoji
    return found


@pytest.fixture(scope="module")
def base_snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("hostile") / "snap.json"
    try:
        main(["collect", "--sandbox", "-o", str(path)])
    except SystemExit as exit_:
        assert not exit_.code
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _hostile_snapshot(document: dict[str, Any], value: str, path: Path) -> str:
    """The snapshot with `value` as the target's Name tag, another tag, its ENIs'
    descriptions and tags and its subnet's Name; one of its MACs holds emoji codes.
    Returns the target's instance ID."""
    document = json.loads(json.dumps(document))
    region = document["accounts"][0]["regions"][0]
    instance = next(
        i
        for reservation in region["Reservations"]
        for i in reservation["Instances"]
        if {"Key": "Name", "Value": TARGET} in i.get("Tags", [])
    )
    instance["Tags"] = [
        {"Key": "Name", "Value": value},
        {"Key": "owner", "Value": value},
        {"Key": "role", "Value": "web"},
    ]
    eni_ids = {eni["NetworkInterfaceId"] for eni in instance["NetworkInterfaces"]}
    secondary = next(
        eni["NetworkInterfaceId"]
        for eni in instance["NetworkInterfaces"]
        if eni["Attachment"]["DeviceIndex"] == 1
    )
    subnet_ids = {eni["SubnetId"] for eni in instance["NetworkInterfaces"]}
    for eni in [*instance["NetworkInterfaces"], *region["NetworkInterfaces"]]:
        if eni["NetworkInterfaceId"] in eni_ids:
            eni["Description"] = value
            if eni["NetworkInterfaceId"] == secondary:
                eni["MacAddress"] = HOSTILE_MAC
            if "TagSet" in eni:
                eni["TagSet"] = [{"Key": "note", "Value": value}]
    for subnet in region["Subnets"]:
        if subnet["SubnetId"] in subnet_ids:
            subnet["Tags"] = [{"Key": "Name", "Value": value}]
    path.write_text(json.dumps(document))
    return str(instance["InstanceId"])


@pytest.fixture(params=sorted(HOSTILE))
def hostile(
    request: pytest.FixtureRequest, base_snapshot: dict[str, Any], tmp_path: Path
) -> tuple[str, str, str]:
    """(the value, the snapshot path, the target's instance ID)."""
    value = HOSTILE[request.param]
    if not _decodable(value):
        pytest.skip("the inventory decoding still refuses this value (its half of issue 13)")
    path = tmp_path / "hostile.json"
    instance_id = _hostile_snapshot(base_snapshot, value, path)
    return value, str(path), instance_id


def test_tables_print_data_as_text(
    hostile: tuple[str, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    value, snapshot, instance_id = hostile
    for argv in (
        ["inspect", "--inventory", snapshot],
        ["plan", "--inventory", snapshot, "--instance-id", instance_id],
        ["audit", "--inventory", snapshot, "--fail-on", "never"],
    ):
        code, out, err = run(argv, capsys)
        assert code == 0, err
        assert not _unsafe(out), (argv, _unsafe(out))
        assert not _unsafe(err), (argv, _unsafe(err))
        assert HOSTILE_MAC in out or argv[0] == "audit", argv
        if "[" in value and visible(value) == value:  # markup: printed as its characters
            assert value.split("]")[0] in out, argv
    code, out, _ = run(["inspect", "--inventory", snapshot], capsys)
    assert visible(value)[:40] in out


def test_machine_formats_carry_data_unchanged(
    hostile: tuple[str, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    value, snapshot, instance_id = hostile
    code, out, _ = run(["inspect", "--inventory", snapshot, "--format", "json"], capsys)
    assert code == 0
    instance = next(i for i in json.loads(out)["instances"] if i["instance_id"] == instance_id)
    assert instance["name"] == value
    assert instance["tags"]["owner"] == value
    assert {eni["description"] for eni in instance["enis"]} == {value}
    assert HOSTILE_MAC in {eni["mac"] for eni in instance["enis"]}

    code, out, _ = run(["plan", "--inventory", snapshot, "--format", "json"], capsys)
    assert code == 0
    json.loads(out)

    for output_format in ("json", "sarif", "junit", "github"):
        code, out, err = run(
            ["audit", "--inventory", snapshot, "--format", output_format, "--fail-on", "never"],
            capsys,
        )
        assert code == 0, err
        if output_format in ("json", "sarif"):
            text = json.dumps(json.loads(out))
            assert json.dumps(value)[1:-1] in text  # the value itself, escaped by json
        elif output_format == "junit":
            ET.fromstring(out)  # well-formed whatever the value holds
        else:
            for line in out.splitlines():
                assert line.startswith(("::", "eniplan audit:")), line
            assert not _unsafe(out.replace("\n", ""))


def test_renderings_hold_data_only_through_their_escaping(
    hostile: tuple[str, str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    value, snapshot, instance_id = hostile
    select = ["--inventory", snapshot, "--instance-id", instance_id]
    code, script, err = run(["render", *select, "--target", "iproute2"], capsys)
    assert code == 0, err
    assert value not in script and HOSTILE_MAC in script

    # -o: the user data is gzip (binary) once it is over EC2's 16 KB
    code, _, err = run(["render", *select, "--target", "cloud-init", "-o", str(tmp_path)], capsys)
    assert code == 0, err
    user_data, problem = decompressed((tmp_path / instance_id / "user-data").read_bytes())
    assert user_data is not None, problem
    assert isinstance(yaml.safe_load(user_data), dict)

    out = tmp_path / "tf"
    code, _, err = run(["render", *select, "--target", "terraform", "-o", str(out)], capsys)
    assert code == 0, err
    (enis_tf,) = out.glob(f"{instance_id}/eniplan_{instance_id}.tf")
    parsed = hcl2.loads(enis_tf.read_text())
    interfaces = [
        body
        for resource in parsed["resource"]
        for kind, named in resource.items()
        if kind.strip('"') == "aws_network_interface"
        for body in named.values()
    ]
    assert interfaces
    for body in interfaces:  # python-hcl2 keeps the quotes; HCL's escapes are JSON's here
        assert json.loads(body["description"]) == value
        assert json.loads(body["tags"]["note"]) == value
    for data in [decompressed(p.read_bytes())[0] for p in out.rglob("*") if p.is_file()]:
        assert data is not None
        text = data.decode()
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                assert not _unsafe(line), line  # comments: escaped, one line


# --- the output half on model values (whatever the decoding accepts) --------------------


def _hostile_inventory(value: str) -> Inventory:
    inventory = largest_instance(enis=2, addresses=2)
    (instance,) = inventory.instances
    enis = tuple(
        replace(eni, description=value, mac=HOSTILE_MAC) if eni.device_index == 1 else eni
        for eni in instance.enis
    )
    instance = replace(instance, enis=enis, tags={"Name": value, "owner": value})
    (subnet,) = inventory.subnets.values()
    subnet = replace(subnet, tags={"Name": value})
    return replace(inventory, instances=(instance,), subnets={subnet.subnet_id: subnet})


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_table_outputs_escape_every_value_the_model_holds(name: str) -> None:
    value = HOSTILE[name]
    inventory = _hostile_inventory(value)
    plans = plan_inventory(inventory)
    report = audit(inventory, AuditOptions())
    printers: tuple[Callable[[Console], None], ...] = (
        lambda c: print_inventory(c, inventory),
        lambda c: print_plans(c, plans),
        lambda c: print_report(c, report),
    )
    for print_ in printers:
        for width in (80, 400):
            buffer = io.StringIO()
            print_(plain_console(file=buffer, width=width))  # not a terminal: no styles
            text = buffer.getvalue()
            assert not _unsafe(text), (name, _unsafe(text))
        assert visible(value)[:30] in text  # wide enough to hold it on one line


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("output_format", sorted(set(FORMATS) - {"table"}))
def test_report_formats_parse_with_any_value(name: str, output_format: str) -> None:
    value = HOSTILE[name]
    report = audit(_hostile_inventory(value), AuditOptions())
    report = report.__class__(**{**report.__dict__, "problems": (f"region x: {value}",)})
    text = format_report(output_format, report)
    if output_format in ("json", "sarif", "asff"):
        assert any(value in string for string in _strings(json.loads(text)))
    elif output_format == "junit":
        root = ET.fromstring(text)
        assert root.get("errors") == "1"
    elif output_format == "github":
        assert all(line.startswith(("::", "eniplan")) for line in text.splitlines())
        assert not _unsafe(text.replace("\n", ""))
    else:  # markdown: text for people, one table row per finding
        assert not _unsafe(text), _unsafe(text)


def _strings(document: Any) -> list[str]:
    if isinstance(document, str):
        return [document]
    if isinstance(document, dict):
        return [s for item in document.values() for s in _strings(item)]
    if isinstance(document, list):
        return [s for item in document for s in _strings(item)]
    return []


def test_visible_escapes_controls_and_bidi_and_keeps_the_rest() -> None:
    assert visible("a\tb\nc\x1b[0m\u202ed") == "a\\tb\\nc\\x1b[0m\\u202ed"
    assert visible("é [/x] :ab: 02:00:00:ab:cd:01") == "é [/x] :ab: 02:00:00:ab:cd:01"
