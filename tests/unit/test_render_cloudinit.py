"""The cloud-init target: valid #cloud-config (the real `cloud-init schema`), every
persistence, the marker, gzip past 16 KB, and the boot script = the iproute2 target."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address
from typing import Any

import pytest
import yaml

from eniplan import __version__
from eniplan.model import Inventory
from eniplan.plan import InstancePlan, PlanOptions, plan_instance
from eniplan.render import cloudinit, common, compact, iproute2
from eniplan.render.base import RenderOptions
from tests.helpers.cloudinit import user_data

MANAGED = ["centos7-same-24", "rhel-same-20", "web-balanced", "app-check-disabled", "multi-subnet"]


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
    assert f"ExecStart=/bin/sh {common.SETTLE_PATH} {iproute2.SCRIPT_PATH}" in unit
    # which runs it again until the network held still (tests/kernel/test_settle.py)
    assert files[common.SETTLE_PATH]["content"] == common.settle_file().content
    assert "Before=network-online.target" in unit and "Type=oneshot" in unit
    enable = f"systemctl enable --now {cloudinit.UNIT_NAME} eniplan-routing.path"
    assert ["sh", "-c", enable] in document["runcmd"]
    # networkd's link changes start the boot unit again (lab --boot's reconfigure proof)
    path = files[cloudinit.REAPPLY_PATH]["content"]
    assert "PathChanged=/run/systemd/netif/links" in path
    assert f"Unit={cloudinit.UNIT_NAME}" in path and "RemainAfterExit" not in unit
    # and so do NetworkManager's (test_agent runs the same dispatcher script, the agent's)
    dispatcher = files[cloudinit.NM_DISPATCHER_PATH]
    assert dispatcher["permissions"] == "0755"
    assert f"exec systemctl --no-block start {cloudinit.UNIT_NAME};;" in dispatcher["content"]
    assert f"touch {common.NM_EVENT};" in dispatcher["content"]  # a run under way sees it


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


def test_small_user_data_is_plain_text(sandbox_plans: dict[str, InstancePlan]) -> None:
    # (--persist script's user data is about 16.5 KB for any instance: the script alone is 15)
    rendering = cloudinit.render(sandbox_plans["centos7-same-24"], RenderOptions(persist="ifcfg"))
    (file,) = rendering.files
    assert isinstance(file.content, str)
    assert len(file.content.encode()) < cloudinit.USER_DATA_LIMIT
