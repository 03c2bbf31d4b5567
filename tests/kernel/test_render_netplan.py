"""What `netplan generate` makes of the netplan target's YAML, read by the real systemd-
networkd in network namespaces: the kernel holds exactly the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from eniplan.plan import InstancePlan
from eniplan.render import netplan, render
from eniplan.render.base import RenderOptions
from tests.helpers.netplan import cloud_init_yaml, generate, install, requires_netplan
from tests.helpers.networkd import (
    MANAGED_PLANS,
    NetworkdLab,
    assert_lab_state,
    expected_lab_state,
    lab_plan,
    requires_networkd_lab,
)


@requires_netplan
@requires_networkd_lab
@pytest.mark.slow
@pytest.mark.parametrize("name", [*MANAGED_PLANS, "ipv6-primary"])
def test_real_networkd_installs_the_plan_from_netplan(
    sandbox_plans: dict[str, InstancePlan], tmp_path: Path, name: str
) -> None:
    """What `netplan generate` makes of the YAML (next to cloud-init's definitions of the
    same MACs), plus eniplan's drop-ins, read by the real systemd-networkd with DHCP and RAs
    from the "VPC": the kernel then holds exactly the plan, and main keeps one default."""
    plan = lab_plan(sandbox_plans, name)
    root = tmp_path / "root"
    install(root, render("netplan", plan, RenderOptions()))
    cloud_init = root / "etc/netplan/50-cloud-init.yaml"
    cloud_init.write_text(cloud_init_yaml(plan, "ens5"))  # the lab names links ens5, ens6...
    cloud_init.chmod(0o600)
    assert generate(root).returncode == 0
    # netplan matches PermanentMACAddress=. A NIC whose driver owns its address (ENA,
    # virtio, xen-netfront) has perm_addr = its MAC; a veth has none (00:00:...), so the
    # lab matches the current address instead, in netplan's and cloud-init's files alike.
    generated = root / "run/systemd/network"
    for path in generated.glob("*.network"):
        text = path.read_text()
        assert "PermanentMACAddress=" in text
        path.write_text(text.replace("PermanentMACAddress=", "MACAddress="))
    with NetworkdLab(plan, tmp_path / "lab") as lab:
        lab.start_instance(
            root / "etc/systemd/network",
            [netplan.generated_network_name(eni) for eni in plan.enis],
            run_dir=generated,
        )
        expected = expected_lab_state(plan, lab.router_link_local())
        state = lab.wait_for(expected)
        assert_lab_state(state, expected)
