"""The NetworkManager target's guard dispatcher on the real kernel, in a network namespace: it
adds the guard rule once."""

from __future__ import annotations

from pathlib import Path

import pytest

from eniplan.plan import InstancePlan
from eniplan.render import networkmanager
from tests.helpers.netns import Namespace, expected_rules, link_groups, rules_state
from tests.helpers.networkmanager import dispatcher, posix_shell


@pytest.mark.parametrize("name", ["centos7-same-24", "multi-subnet"])
def test_dispatcher_adds_the_guard_once_on_the_real_kernel(
    sandbox_plans: dict[str, InstancePlan], name: str, tmp_path: Path
) -> None:
    plan = sandbox_plans[name]
    assert plan.guard is not None
    path = tmp_path / "60-eniplan-guard"
    path.write_text(dispatcher(plan))
    guard = {row for row in expected_rules(plan) if row[3] is not None}
    with Namespace() as ns:
        ns.add_enis(plan)
        names = ns.link_names_by_mac()

        def dispatch(ifname: str, action: str, connection_uuid: str) -> None:
            ns.run("env", f"CONNECTION_UUID={connection_uuid}", posix_shell(), str(path),
                   ifname, action)  # fmt: skip

        first = plan.enis[0]
        # not an eniplan profile, or not "up": nothing happens
        dispatch(names[first.mac], "up", "00000000-0000-4000-8000-000000000000")
        dispatch(names[first.mac], "down", networkmanager.profile_uuid(plan, first))
        assert rules_state(ns, plan) == set()
        assert all(link_groups(ns)[eni.mac] == 0 for eni in plan.enis)
        for _ in range(2):  # the second round finds the guard and adds nothing
            for eni in plan.enis:
                dispatch(names[eni.mac], "up", networkmanager.profile_uuid(plan, eni))
            assert rules_state(ns, plan) == guard
        groups = link_groups(ns)
        assert all(groups[eni.mac] == plan.guard.group for eni in plan.enis)
