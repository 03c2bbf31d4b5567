"""RHEL/CentOS network-scripts as files: one set per plan, the seed lines, notes and
activation, no guard lines without a guard, no newline in a value (applied on the real
kernel the way initscripts would: tests/kernel/test_render_ifcfg.py)."""

from __future__ import annotations

import dataclasses

import pytest

from eniplan.errors import InputError
from eniplan.plan import InstancePlan
from eniplan.render import ifcfg
from eniplan.render.base import Rendering, RenderOptions, marker
from tests.helpers.ifcfg import SCRIPTS, UDEV_RULE

MANAGED = ["centos7-same-24", "rhel-same-20", "web-balanced", "app-check-disabled", "multi-subnet"]


# initscripts' ifup-routes (handle_ip_file), with failures made fatal for the test
def rendering(plan: InstancePlan) -> Rendering:
    return ifcfg.render(plan, RenderOptions())


def files_of(plan: InstancePlan) -> dict[str, str]:
    files = {}
    for file in rendering(plan).files:
        assert isinstance(file.content, str)
        files[file.path] = file.content
    return files


# --- the files ----------------------------------------------------------------------------


def test_files_per_plan(sandbox_plans: dict[str, InstancePlan]) -> None:
    names = {
        path.removeprefix(f"{SCRIPTS}/")
        for path in files_of(sandbox_plans["centos7-same-24"])
        if path.startswith(SCRIPTS)
    }
    # no ifcfg-eth0: the image owns it; the guard lives in rule-eth0 and rule6-eth0
    assert names == {
        "route-eth0",
        "rule-eth0",
        "rule6-eth0",
        "ifcfg-eth1",
        "route-eth1",
        "rule-eth1",
    }
    names = {
        path.removeprefix(f"{SCRIPTS}/")
        for path in files_of(sandbox_plans["multi-subnet"])
        if path.startswith(SCRIPTS)
    }
    assert names == {
        "ifcfg-eth0:1", "route-eth0", "rule-eth0", "rule6-eth0",
        "ifcfg-eth1", "ifcfg-eth1:1", "ifcfg-eth1:2",
        "route-eth1", "route6-eth1", "rule-eth1", "rule6-eth1",
    }  # fmt: skip
    for name in MANAGED:
        for file in rendering(sandbox_plans[name]).files:
            assert file.mode == 0o644
            assert isinstance(file.content, str)
            assert file.content.splitlines()[0] == marker(sandbox_plans[name])


def test_seed_lines(sandbox_plans: dict[str, InstancePlan]) -> None:
    """The lines of the AWS seed articles, with eniplan's tables and priorities."""
    files = files_of(sandbox_plans["centos7-same-24"])

    def lines(name: str) -> list[str]:
        return [
            line for line in files[f"{SCRIPTS}/{name}"].splitlines() if not line.startswith("#")
        ]

    assert lines("route-eth1") == [
        "default via 10.0.0.1 dev eth1 table 10001",
        "10.0.0.0/24 dev eth1 src 10.0.0.254 table 10001",
    ]
    assert lines("rule-eth1") == ["from 10.0.0.254 lookup 10001 priority 10001"]
    assert lines("rule-eth0") == [
        "lookup main suppress_ifgroup 10000 priority 9999",
        "from 10.0.0.124 lookup 10000 priority 10000",
    ]
    assert lines("rule6-eth0") == ["lookup main suppress_ifgroup 10000 priority 9999"]


def test_notes_and_activation(sandbox_plans: dict[str, InstancePlan]) -> None:
    result = rendering(sandbox_plans["multi-subnet"])
    notes = " ".join(result.notes)
    assert "NetworkManager" in notes and "--target networkmanager" in notes
    assert "NetworkManager-dispatcher-routing-rules" in notes
    assert "cannot be expressed: the IPv6 default route of table(s) 10001" in notes
    assert "61-eniplan-netdev-group.rules" in notes
    activate = list(result.activate)
    # the primary: addresses, routes and rules without taking the link down
    assert f"{SCRIPTS}/ifup-aliases eth0" in activate
    assert f"{SCRIPTS}/ifup-routes eth0" in activate
    assert "ifup eth0" not in activate
    assert activate[-1] == "ifup eth1"


def test_without_guard_no_guard_lines(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = dataclasses.replace(sandbox_plans["centos7-same-24"], guard=None)
    files = files_of(plan)
    assert UDEV_RULE not in files
    assert f"{SCRIPTS}/rule6-eth0" not in files
    assert "suppress_ifgroup" not in files[f"{SCRIPTS}/rule-eth0"].replace("# ", "")


def test_only_static_mode(sandbox_plans: dict[str, InstancePlan]) -> None:
    with pytest.raises(InputError, match="static"):
        ifcfg.render(sandbox_plans["rhel-same-20"], RenderOptions(mode="dynamic"))


def test_a_value_with_a_newline_never_reaches_a_file(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = sandbox_plans["rhel-same-20"]
    bad = dataclasses.replace(plan.enis[1], eni_id="eni-0aa9a47dd3eddbb93\nONBOOT=no")
    with pytest.raises(AssertionError, match="unsafe value"):
        ifcfg.render(dataclasses.replace(plan, enis=(plan.enis[0], bad)), RenderOptions())
