"""The iproute2 target's script through real shells: it parses in sh, dash and bash, and
shellcheck finds nothing."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from eniplan.plan import (
    InstancePlan,
)
from eniplan.render.iproute2 import script

PROOF_PLANS = ("centos7-same-24", "rhel-same-20", "multi-subnet")


@pytest.mark.parametrize("name", PROOF_PLANS)
@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
def test_script_parses(sandbox_plans: dict[str, InstancePlan], name: str, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    result = subprocess.run(
        [shell, "-n"],
        input=script(sandbox_plans[name]),
        text=True,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("dialect", ["sh", "dash", "bash"])
def test_shellcheck_is_clean(sandbox_plans: dict[str, InstancePlan], dialect: str) -> None:
    result = subprocess.run(
        ["shellcheck", "-s", dialect, "-"],
        input=script(sandbox_plans["multi-subnet"]),
        text=True,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
