"""The fix eniplan tells a user fits their OS, and render says how to apply its files now."""

from __future__ import annotations

from pathlib import Path

import pytest

from eniplan.audit import audit
from eniplan.cli import main
from eniplan.findings import Finding, Location, Report
from eniplan.model import Inventory
from eniplan.plan import InstancePlan
from eniplan.render import render
from eniplan.render.base import RenderOptions
from eniplan.render.iproute2 import OLD_KERNEL_NOTE
from eniplan.report import format_report


def test_iproute2_warns_on_rhel7_only(sandbox_plans: dict[str, InstancePlan]) -> None:
    centos7 = render("iproute2", sandbox_plans["centos7-same-24"], RenderOptions())
    debian = render("iproute2", sandbox_plans["web-balanced"], RenderOptions())
    assert centos7.notes[0] == OLD_KERNEL_NOTE
    assert OLD_KERNEL_NOTE not in debian.notes


def test_audit_fix_on_rhel7_does_not_send_users_to_the_iproute2_script(
    sandbox_inventory: Inventory,
) -> None:
    findings = {f.instance_id: f for f in audit(sandbox_inventory).findings}
    by_name = {i.name: i.instance_id for i in sandbox_inventory.instances}
    centos7 = findings[by_name["centos7-same-24"]].remediation
    debian = findings[by_name["web-balanced"]].remediation
    assert "--target ifcfg" in centos7 and "--target iproute2" not in centos7
    assert "--target iproute2" in debian


def test_render_to_a_directory_says_how_to_apply_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["render", "--sandbox", "--tag", "Name=centos7-same-24", "--target", "ifcfg"]
    main([*argv, "-o", str(tmp_path)])
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if "to apply now" in line]
    assert "ifup eth1" in line and "udevadm" in line
    assert "eniplan: note: the guard" in err  # notes reach the user with -o too


def test_table_groups_plan_findings_by_file() -> None:
    finding = Finding(
        "ENI005",
        "medium",
        "aws_instance.web: user data cannot be verified",
        "waive it",
        address="aws_instance.web",
        location=Location("plan.json"),
    )
    text = format_report("table", Report("check-plan", (finding,), scanned=1))
    assert "plan plan.json" in text and "account -" not in text
