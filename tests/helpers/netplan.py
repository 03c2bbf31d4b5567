"""The real netplan for tests: its version, a cloud-init-like netplan YAML for the same MACs,
and `netplan generate` over a rendering installed under a root."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from eniplan.plan import InstancePlan
from eniplan.render.base import Rendering
from tests.helpers.networkd import (
    text,
)

NETPLAN = shutil.which("netplan")
requires_netplan = pytest.mark.skipif(NETPLAN is None, reason="netplan.io is not installed")


def netplan_version() -> str:
    assert NETPLAN is not None
    shown = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "netplan.io"], capture_output=True, text=True
    )
    return shown.stdout.strip() or "unknown"


def cloud_init_yaml(plan: InstancePlan, first: str) -> str:
    """What cloud-init's EC2 datasource writes: every NIC by MAC under its interface name,
    DHCPv4 with a route metric per device (cloud-init before 24.1, no policy routing)."""
    ethernets: dict[str, Any] = {}
    prefix, number = first[:-1], int(first[-1])
    for index, eni in enumerate(sorted(plan.enis, key=lambda eni: eni.table)):
        name = f"{prefix}{number + index}"
        ethernets[name] = {
            "dhcp4": True,
            "dhcp4-overrides": {"route-metric": 100 * (index + 1)},
            "dhcp6": False,
            "match": {"macaddress": eni.mac},
            "set-name": name,
        }
    return yaml.safe_dump({"network": {"version": 2, "ethernets": ethernets}}, sort_keys=False)


def install(root: Path, rendering: Rendering) -> None:
    for file in rendering.files:
        target = root / file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text(file))
        os.chmod(target, file.mode)


def generate(root: Path) -> subprocess.CompletedProcess[str]:
    assert NETPLAN is not None
    return subprocess.run(
        [NETPLAN, "generate", "--root-dir", str(root)], capture_output=True, text=True
    )
