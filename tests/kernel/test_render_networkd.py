"""The networkd target on the real systemd-networkd, in network namespaces: the kernel ends up
with the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from eniplan.plan import InstancePlan
from eniplan.render import render
from eniplan.render.base import RenderOptions
from tests.helpers.networkd import (
    MANAGED_PLANS,
    NetworkdLab,
    assert_lab_state,
    expected_lab_state,
    lab_plan,
    requires_networkd_lab,
    text,
)


@requires_networkd_lab
@pytest.mark.slow
@pytest.mark.parametrize("name", [*MANAGED_PLANS, "ipv6-primary"])
def test_real_networkd_installs_the_plan(
    sandbox_plans: dict[str, InstancePlan], tmp_path: Path, name: str
) -> None:
    """systemd-networkd reads the files and, with DHCP and RAs from the "VPC", installs
    exactly the plan: rules (guard included), routes in each table (the IPv6 default via
    the RA router), netdev groups, addresses; main keeps one default per family, the
    primary's."""
    plan = lab_plan(sandbox_plans, name)
    etc = tmp_path / "instance-etc"
    etc.mkdir()
    names = []
    for file in render("networkd", plan, RenderOptions()).files:
        names.append(Path(file.path).name)
        (etc / names[-1]).write_text(text(file))
    with NetworkdLab(plan, tmp_path) as lab:
        lab.start_instance(etc, names)
        expected = expected_lab_state(plan, lab.router_link_local())
        state = lab.wait_for(expected)
        assert_lab_state(state, expected)
