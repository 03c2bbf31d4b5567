"""`eniplan lab --target dynamic`: the dynamic user data on the lab instance, its agent
reading the lab's IMDS (169.254.169.254 on the VPC side), at boot and on ENI hotplug.

The user data is unpacked as its runcmd does (in a private mount namespace), the command
runs end to end on two sandbox instances, the agent's rules and routes are those of the
static iproute2 target, and the IMDS lives and dies with the lab.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from eniplan.lab import install, proofs, shell
from eniplan.lab.imds import metadata_tree
from eniplan.lab.proofs import LabOptions
from eniplan.lab.topology import IMDS_ADDRESS, IMDS_SERVER, Lab, design
from eniplan.model import Inventory
from eniplan.plan import InstancePlan, PlanOptions, plan_instance
from eniplan.render import dynamic
from tests.helpers.builders import instance_named
from tests.helpers.netns import lab_namespaces, left_by_ended_labs

F = TypeVar("F", bound=Callable[..., None])
INSTANCES = ("web-balanced", "multi-subnet")
RULE = dynamic.UDEV_RULE


# --- on the kernel -------------------------------------------------------------------------


def _tree_state(root: Path) -> list[tuple[str, int, int]]:
    """(path, size, mtime in ns) of everything under `root` ([] where it does not exist)."""
    if not root.exists():
        return []
    return [(str(p), p.lstat().st_size, p.lstat().st_mtime_ns) for p in sorted(root.rglob("*"))]


def test_install_unpacks_the_agent_as_runcmd_does(
    sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    host_before = _tree_state(Path(dynamic.LIB))
    install.install("dynamic", sandbox_plans["multi-subnet"], tmp_path)
    lib = tmp_path / dynamic.LIB.lstrip("/")
    assert (lib / "agent.tar.xz").is_file()  # write_files, decoded from base64
    assert (lib / "eniplan/agent/main.py").is_file()  # unpacked by the runcmd, here only
    assert _tree_state(Path(dynamic.LIB)) == host_before  # the host's copy, if any, untouched
    (boot,) = install.boot_commands(tmp_path)
    assert boot[:2] == ["unshare", "--mount"] and boot[-1] == dynamic.LAUNCHER
    (add,) = install.hotplug_commands(tmp_path, "add", "ens7")
    assert add[-3:] == [dynamic.LAUNCHER, "--hotplug", "ens7"]
    assert install.hotplug_commands(tmp_path, "add", "docker0") == []
    (tmp_path / RULE.lstrip("/")).unlink()
    assert install.hotplug_commands(tmp_path, "remove", "ens7") == []


def _lab_processes() -> set[int]:
    """The lab's IMDS servers running now (read from /proc: nothing is signalled)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(IMDS_SERVER).encode() in command:
                found.add(int(entry.name))
    return found


def test_ctrl_c_stops_the_imds_with_the_lab() -> None:
    namespaces, servers = lab_namespaces(), _lab_processes()
    process = subprocess.Popen(
        [sys.executable, "-m", "eniplan", "lab", "--sandbox", "--tag", f"Name={INSTANCES[0]}",
         "--target", "dynamic"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _lab_processes() - servers and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _lab_processes() - servers, "the lab's IMDS never started"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert _lab_processes() - servers == set()
    assert left_by_ended_labs(namespaces) == set()


def _hotplugged(output: str) -> None:
    """Proof 7 ran the hotplug entry point for the link removed, then the link added."""
    assert "hotplug: ens6 removed" in output and "hotplug: ens7 added" in output
    assert "fewer than two here" in output  # a two-ENI instance, one ENI detached
    assert output.index("hotplug: ens6 removed") < output.index("hotplug: ens7 added")


@pytest.mark.parametrize("name", INSTANCES)
def test_lab_proves_the_dynamic_target(sandbox_inventory: Inventory, name: str) -> None:
    instance = instance_named(sandbox_inventory, name)
    report = proofs.run_lab(instance, sandbox_inventory, PlanOptions(), LabOptions("dynamic"))
    failed = [(row.key, row.after) for row in report.rows if not (row.after and row.after.passed)]
    assert report.passed, failed
    assert report.leftovers == ()
    reachable = next(row for row in report.rows if row.key == "reachable")
    assert reachable.before is not None and not reachable.before.passed  # the problem
    _hotplugged(report.apply_output)
    total = dict(report.timings)["total"]
    print(f"lab --target dynamic {name}: {total:.2f} s")  # a figure, not a bound: see benchmarks


def test_proof_7_fails_when_the_hotplug_unit_does_not_run(
    sandbox_inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nothing(ns: str, root: Path, action: str, ifname: str) -> install.Applied:
        return install.Applied(f"udev {action} {ifname}", 0, "")

    monkeypatch.setattr(install, "hotplug", nothing)
    instance = instance_named(sandbox_inventory, INSTANCES[0])
    report = proofs.run_lab(instance, sandbox_inventory, PlanOptions(), LabOptions("dynamic"))
    after = {row.key: row.after for row in report.rows}
    proved = [after[key] for key in ("reachable", "reboot")]
    assert all(outcome is not None and outcome.passed for outcome in proved)
    hotplug = after["hotplug"]
    assert hotplug is not None and not hotplug.passed
    assert any("left of ens6" in line for line in hotplug.failures), hotplug.failures


def _applied_state(
    inventory: Inventory, name: str, target: str
) -> tuple[list[str], subprocess.Popen[str] | None, Path]:
    instance = instance_named(inventory, name)
    plan = plan_instance(instance, inventory, PlanOptions())
    lab = Lab(design(plan, shell.unique_run_id()))
    server = None
    with lab:
        if target == "dynamic":
            server = lab.serve_imds(metadata_tree(instance, inventory))
            host = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
            assert f" {IMDS_ADDRESS}/" not in host  # served inside the lab only
        install.install(target, plan, lab.root)
        applied = install.boot(lab.topology.instance_ns, lab.root)
        assert applied.ok, applied.output
        state = proofs.routing_snapshot(lab.topology.instance_ns)
    return state, server, lab.state


@pytest.mark.parametrize("name", INSTANCES)
def test_the_agent_installs_what_the_iproute2_target_installs(
    sandbox_inventory: Inventory, name: str
) -> None:
    static, _, _ = _applied_state(sandbox_inventory, name, "iproute2")
    agent, server, state = _applied_state(sandbox_inventory, name, "dynamic")
    prefix = f"ip -4 route show table all: {IMDS_ADDRESS} "
    imds_route = [line for line in agent if line.startswith(prefix)]
    assert len(imds_route) == 1 and "dev ens5" in imds_route[0]  # as EC2's DHCP gives it
    assert [line for line in agent if line not in imds_route] == static
    assert any("lookup 10001" in line for line in static)  # a real per-ENI state
    # the IMDS went with the lab
    assert server is not None and server.poll() is not None
    assert not state.exists()
