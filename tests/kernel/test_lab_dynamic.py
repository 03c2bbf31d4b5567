"""`eniplan lab --target dynamic`: the dynamic user data on the lab instance, its agent
reading the lab's IMDS (169.254.169.254 on the VPC side), at boot and on ENI hotplug.

Pure tests check how udev's rule is matched and what the IMDS serves. The netns tests
(root) unpack the user data as its runcmd does (in a private mount namespace), run the
command end to end on two sandbox instances, check that the agent's rules and routes are
those of the static iproute2 target, and that the IMDS lives and dies with the lab.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from netns import requires_netns

from eniplan.lab import install, proofs, shell
from eniplan.lab.imds import MetadataServer, metadata_tree
from eniplan.lab.proofs import LabOptions
from eniplan.lab.shell import LabError
from eniplan.lab.topology import IMDS_ADDRESS, IMDS_SERVER, Lab, design
from eniplan.model import Inventory
from eniplan.plan import InstancePlan, PlanOptions, plan_instance
from eniplan.render import dynamic

F = TypeVar("F", bound=Callable[..., None])
INSTANCES = ("web-balanced", "multi-subnet")
RULE = dynamic.UDEV_RULE


def on_the_kernel(test: F) -> F:
    marked: F = requires_netns(pytest.mark.netns(test))
    return marked


def _instance(inventory: Inventory, name: str) -> Any:
    return next(i for i in inventory.instances if i.name == name)


# --- pure --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "ifname", "matches"),
    [("add", "ens7", True), ("remove", "eth1", True), ("add", "docker0", False),
     ("change", "ens6", False), ("add", "veth1a2b", False)],
)  # fmt: skip
def test_udev_rule_matching(action: str, ifname: str, matches: bool) -> None:
    (line,) = [line for line in dynamic._UDEV.splitlines() if "RUN+=" in line]
    assert install._udev_matches(line, action, ifname) is matches
    assert install._udev_matches('SUBSYSTEM=="block", RUN+="x"', action, ifname) is False


def test_the_lab_imds_serves_the_instance_with_imdsv2(sandbox_inventory: Inventory) -> None:
    instance = _instance(sandbox_inventory, "multi-subnet")
    tree = metadata_tree(instance, sandbox_inventory)
    with MetadataServer(tree) as imds:
        import urllib.error
        import urllib.request

        def call(method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
            request = urllib.request.Request(imds.url + path, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, ""

        assert call("GET", "/latest/meta-data/instance-id", {})[0] == 401
        assert call("PUT", "/latest/api/token", {})[0] == 400
        ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
        status, token = call("PUT", "/latest/api/token", ttl)
        assert status == 200
        auth = {"X-aws-ec2-metadata-token": token}
        assert call("GET", "/latest/meta-data/instance-id", auth) == (200, instance.instance_id)
        status, listing = call("GET", "/latest/meta-data/network/interfaces/macs/", auth)
        assert status == 200
        assert sorted(listing.split()) == sorted(f"{eni.mac}/" for eni in instance.enis)


def test_user_data_in_base64_is_decoded_or_refused(tmp_path: Path) -> None:
    head = "#cloud-config\nwrite_files:\n- path: /opt/x\n  permissions: '0644'\n"
    with pytest.raises(LabError, match="/opt/x: not base64"):
        install.run_cloud_init(head + "  encoding: b64\n  content: '%%'\n", tmp_path)
    with pytest.raises(LabError, match="enables no systemd unit"):
        install.run_cloud_init(head + "  encoding: b64\n  content: aGk=\n", tmp_path)
    assert (tmp_path / "opt/x").read_bytes() == b"hi"


# --- on the kernel -------------------------------------------------------------------------


@on_the_kernel
def test_install_unpacks_the_agent_as_runcmd_does(
    sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    install.install("dynamic", sandbox_plans["multi-subnet"], tmp_path)
    lib = tmp_path / dynamic.LIB.lstrip("/")
    assert (lib / "agent.tar.xz").is_file()  # write_files, decoded from base64
    assert (lib / "eniplan/agent/main.py").is_file()  # unpacked by the runcmd, here only
    assert not Path(dynamic.LIB).exists()  # the host's /usr/local is untouched
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


def _lab_namespaces() -> set[str]:
    directory = Path("/run/netns")
    names = {p.name for p in directory.iterdir()} if directory.is_dir() else set()
    return {name for name in names if name.startswith(f"{shell.NAME_PREFIX}-")}


@on_the_kernel
def test_ctrl_c_stops_the_imds_with_the_lab() -> None:
    namespaces, servers = _lab_namespaces(), _lab_processes()
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
    assert _lab_namespaces() - namespaces == set()


def _hotplugged(output: str) -> None:
    """Proof 7 ran the hotplug entry point for the link removed, then the link added."""
    assert "hotplug: ens6 removed" in output and "hotplug: ens7 added" in output
    assert "fewer than two here" in output  # a two-ENI instance, one ENI detached
    assert output.index("hotplug: ens6 removed") < output.index("hotplug: ens7 added")


@pytest.mark.parametrize("name", INSTANCES)
@on_the_kernel
def test_lab_proves_the_dynamic_target(sandbox_inventory: Inventory, name: str) -> None:
    instance = _instance(sandbox_inventory, name)
    report = proofs.run_lab(instance, sandbox_inventory, PlanOptions(), LabOptions("dynamic"))
    failed = [(row.key, row.after) for row in report.rows if not (row.after and row.after.passed)]
    assert report.passed, failed
    assert report.leftovers == ()
    reachable = next(row for row in report.rows if row.key == "reachable")
    assert reachable.before is not None and not reachable.before.passed  # the problem
    _hotplugged(report.apply_output)
    total = dict(report.timings)["total"]
    print(f"lab --target dynamic {name}: {total:.2f} s")  # a figure, not a bound: see benchmarks


@on_the_kernel
def test_proof_7_fails_when_the_hotplug_unit_does_not_run(
    sandbox_inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nothing(ns: str, root: Path, action: str, ifname: str) -> install.Applied:
        return install.Applied(f"udev {action} {ifname}", 0, "")

    monkeypatch.setattr(install, "hotplug", nothing)
    instance = _instance(sandbox_inventory, INSTANCES[0])
    report = proofs.run_lab(instance, sandbox_inventory, PlanOptions(), LabOptions("dynamic"))
    after = {row.key: row.after for row in report.rows}
    assert all(after[key] and after[key].passed for key in ("reachable", "reboot"))
    hotplug = after["hotplug"]
    assert hotplug is not None and not hotplug.passed
    assert any("left of ens6" in line for line in hotplug.failures), hotplug.failures


def _applied_state(
    inventory: Inventory, name: str, target: str
) -> tuple[list[str], subprocess.Popen[str] | None, Path]:
    instance = _instance(inventory, name)
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
@on_the_kernel
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
