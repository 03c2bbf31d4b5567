"""The cloud-init target: valid #cloud-config (the real `cloud-init schema`), every
persistence, the marker, gzip past 16 KB, and the boot script = the iproute2 target."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import largest_instance_plan

from eniplan import __version__
from eniplan.model import Inventory
from eniplan.plan import InstancePlan, PlanOptions, plan_instance
from eniplan.render import cloudinit, compact, iproute2
from eniplan.render.base import PERSIST_CHOICES, RenderOptions

requires_cloud_init = pytest.mark.skipif(
    shutil.which("cloud-init") is None, reason="needs Debian's cloud-init (make test installs it)"
)
MANAGED = ["centos7-same-24", "rhel-same-20", "web-balanced", "app-check-disabled", "multi-subnet"]


def user_data(plan: InstancePlan, persist: str = "script") -> tuple[str, tuple[str, ...]]:
    rendering = cloudinit.render(plan, RenderOptions(persist=persist))
    (file,) = rendering.files
    content = file.content
    text = gzip.decompress(content).decode() if isinstance(content, bytes) else content
    return text, rendering.notes


def schema_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "user-data"
    path.write_text(text)
    return subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@requires_cloud_init
@pytest.mark.parametrize("persist", [p for p in PERSIST_CHOICES])
@pytest.mark.parametrize("name", MANAGED)
def test_every_persistence_passes_cloud_init_schema(
    sandbox_plans: dict[str, InstancePlan], name: str, persist: str, tmp_path: Path
) -> None:
    text, _ = user_data(sandbox_plans[name], persist)
    result = schema_check(text, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_marker_and_header(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["centos7-same-24"]
    text, _ = user_data(plan)
    first, second = text.splitlines()[:2]
    assert first == "#cloud-config"
    assert second.startswith(f"# eniplan {__version__} instance={plan.instance_id} ")
    assert f"plan=sha256:{plan.digest()}" in second
    assert second.endswith(" persist=script table-base=10000 guard=on")


def test_marker_records_the_planning_options(sandbox_inventory: Inventory) -> None:
    instance = next(i for i in sandbox_inventory.instances if i.name == "centos7-same-24")
    options = PlanOptions(table_base=20000, guard=False)
    text, _ = user_data(plan_instance(instance, sandbox_inventory, options), "script")
    assert text.splitlines()[1].endswith(" persist=script table-base=20000 guard=off")


def test_script_persistence_installs_the_iproute2_script_and_a_boot_unit(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = sandbox_plans["multi-subnet"]
    text, _ = user_data(plan, "script")
    document: dict[str, Any] = yaml.safe_load(text)
    files = {entry["path"]: entry for entry in document["write_files"]}
    script = files[iproute2.SCRIPT_PATH]
    # the same state as the iproute2 target: its script, comments and indentation cut
    assert script["content"] == compact.sh(iproute2.script(plan))
    assert script["content"].startswith("#!/bin/sh\n")  # the unit's ExecStart= runs the file
    assert script["permissions"] == "0755"
    unit = files[cloudinit.UNIT_PATH]["content"]
    assert f"ExecStart={iproute2.SCRIPT_PATH}" in unit
    assert "Before=network-online.target" in unit and "Type=oneshot" in unit
    enable = f"systemctl enable --now {cloudinit.UNIT_NAME} eniplan-routing.path"
    assert ["sh", "-c", enable] in document["runcmd"]
    # networkd's link changes start the boot unit again (lab --boot's reconfigure proof)
    path = files[cloudinit.REAPPLY_PATH]["content"]
    assert "PathChanged=/run/systemd/netif/links" in path
    assert f"Unit={cloudinit.UNIT_NAME}" in path and "RemainAfterExit" not in unit


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("centos7-same-24", "ifcfg"),
        ("rhel-same-20", "networkmanager"),
        ("multi-subnet", "networkmanager"),
        ("web-balanced", "script"),  # Debian 12: ifupdown, so the boot script
    ],
)
def test_auto_picks_by_os(sandbox_plans: dict[str, InstancePlan], name: str, expected: str) -> None:
    text, notes = user_data(sandbox_plans[name], "auto")
    assert f"persist={expected}" in text.splitlines()[1]
    assert notes[0].startswith(f"persistence: {expected}")


def test_ubuntu_gets_netplan(sandbox_inventory: Inventory) -> None:
    instance = next(i for i in sandbox_inventory.instances if i.name == "build-runner")
    two_enis = replace(
        instance,
        enis=(
            instance.enis[0],
            replace(
                instance.enis[0],
                eni_id="eni-0aaaaaaaaaaaaaaaa",
                mac="02:00:00:aa:aa:aa",
                device_index=1,
                primary_ipv4=IPv4Address("172.31.20.8"),
            ),
        ),
    )
    plan = plan_instance(two_enis, sandbox_inventory, PlanOptions(force=True))
    text, _ = user_data(plan, "auto")
    assert "persist=netplan" in text.splitlines()[1]
    assert "/etc/netplan/" in text


@requires_cloud_init
def test_big_user_data_is_gzipped_and_still_valid(tmp_path: Path) -> None:
    """The largest instance (15 ENIs x 50 addresses): over 16 KB, so gzip."""
    big_plan = largest_instance_plan()
    rendering = cloudinit.render(big_plan, RenderOptions(persist="script"))
    (file,) = rendering.files
    assert isinstance(file.content, bytes) and file.content[:2] == b"\x1f\x8b"
    assert len(file.content) <= cloudinit.USER_DATA_LIMIT
    assert any("gzip-compressed" in note for note in rendering.notes)
    text = gzip.decompress(file.content).decode()
    assert len(text.encode()) > cloudinit.USER_DATA_LIMIT
    result = schema_check(text, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_small_user_data_is_plain_text(sandbox_plans: dict[str, InstancePlan]) -> None:
    rendering = cloudinit.render(sandbox_plans["centos7-same-24"], RenderOptions(persist="script"))
    (file,) = rendering.files
    assert isinstance(file.content, str)
    assert len(file.content.encode()) < cloudinit.USER_DATA_LIMIT
