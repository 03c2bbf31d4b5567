"""`eniplan lab` and the classic experiments on the real kernel, in throw-away namespaces:
the command end to end for both targets, cleanup on errors and signals, and the two classic
experiments (what the lab would build, without building it: tests/unit/test_lab.py):

- unreachable secondary IP: two ENIs in one subnet, rp_filter=1, the source/dest check
  enforced: the secondary IP answers only after policy routing, the primary throughout;
- bottleneck: the same without the source/dest check, an HTTP server on both IPs: before,
  the second interface sends (almost) nothing; after, each sends 45-55% of the bytes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, TypeVar

import pytest
from rich.console import Console

from eniplan.lab import demo_section, install, proofs, shell
from eniplan.lab.proofs import LabOptions, Outcome, Probe, run_lab, run_probes
from eniplan.lab.topology import Lab, design
from eniplan.model import Inventory
from eniplan.plan import MANAGED, InstancePlan, PlanOptions
from tests.helpers.builders import instance_named
from tests.helpers.netns import lab_namespaces

F = TypeVar("F", bound=Callable[..., None])
SAME_SUBNET = "web-balanced"


# --- what the lab builds (pure) ------------------------------------------------------------


# --- a target the instance's own OS cannot run: refused, nothing built --------------------


# --- on the real kernel ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The sandbox account as a snapshot file: child processes read it in a moment."""
    from eniplan.inventory import InventoryRequest, load_collection
    from eniplan.sources.aws import AwsOptions
    from eniplan.sources.files import write_snapshot

    path = tmp_path_factory.mktemp("lab") / "sandbox.json"
    write_snapshot(load_collection(InventoryRequest(aws=AwsOptions(), sandbox="default")), path)
    return str(path)


def _lab_json(*args: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "eniplan", "lab", "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout or "{}"), done.stderr


@pytest.mark.parametrize(("target", "source"), [("iproute2", "sandbox"), ("cloud-init", "file")])
@pytest.mark.usefixtures("no_leftovers")
def test_lab_command_proves_the_routing(
    sandbox_plans: dict[str, InstancePlan], snapshot: str, target: str, source: str
) -> None:
    plan = sandbox_plans[SAME_SUBNET]
    primary, secondary = (str(eni.primary_ipv4) for eni in plan.enis)
    inventory = ["--sandbox"] if source == "sandbox" else ["--inventory", snapshot]
    code, data, err = _lab_json(*inventory, "--tag", f"Name={SAME_SUBNET}", "--target", target)
    assert code == 0, err
    assert data["passed"] is True and data["target"] == target
    assert data["namespaces_left"] == []
    by_key = {proof["proof"]: proof for proof in data["proofs"]}
    for key, _ in proofs.PROOFS:
        assert by_key[key]["after"]["passed"] is True, by_key[key]
    # before: the classic failure, and only it
    before = by_key["reachable"]["before"]
    assert before["passed"] is False
    assert all(line.startswith(f"{secondary} (ens6)") for line in before["failures"])
    assert before["failed"] == 2 and before["checks"] == 4  # peer and remote, secondary only
    assert not any(primary in line for line in by_key["symmetric"]["before"]["failures"])
    assert by_key["idempotent"]["before"] is None
    assert data["timings"]["total"] > 0  # the lab's speed is measured in the README, not here


ALIAS_NOTE = "eniplan: note: --target dynamic is an alias of --target cloud-init --mode dynamic"


@pytest.mark.parametrize(
    "spelling", [("--target", "cloud-init", "--mode", "dynamic"), ("--target", "dynamic")]
)
@pytest.mark.usefixtures("no_leftovers")
def test_dynamic_is_cloud_init_in_dynamic_mode_and_the_alias_says_it_is_one(
    snapshot: str, spelling: tuple[str, ...]
) -> None:
    """One spelling, render's: `--target cloud-init --mode dynamic` applies the agent's user
    data; `--target dynamic` is the same lab, and says it is an alias."""
    code, data, err = _lab_json("--inventory", snapshot, "--tag", f"Name={SAME_SUBNET}", *spelling)
    assert code == 0, err
    assert data["passed"] is True and data["target"] == "dynamic"
    assert (ALIAS_NOTE in err.splitlines()) is ("dynamic" in spelling[:2])


@pytest.mark.usefixtures("no_leftovers")
def test_lab_exits_1_when_a_proof_fails_after_applying(
    sandbox_plans: dict[str, InstancePlan], snapshot: str
) -> None:
    """Without the main-table guard, the container behind docker0 is unreachable from the
    ENI addresses (their tables send everything to the VPC router): the lab catches it."""
    addresses = [str(eni.primary_ipv4) for eni in sandbox_plans[SAME_SUBNET].enis]
    code, data, _ = _lab_json("--inventory", snapshot, "--tag", f"Name={SAME_SUBNET}", "--no-guard")
    assert code == 1 and data["passed"] is False
    coexistence = data["proofs"][3]["after"]
    assert coexistence["failures"] == [
        f"docker0 container 172.17.0.2 from {address}: no reply" for address in addresses
    ]
    assert data["proofs"][0]["after"]["passed"] is True


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.usefixtures("no_leftovers")
def test_a_signal_removes_the_lab(signum: int, snapshot: str) -> None:
    existing = lab_namespaces()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eniplan",
            "lab",
            "--inventory",
            snapshot,
            "--tag",
            f"Name={SAME_SUBNET}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not lab_namespaces() - existing and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lab_namespaces() - existing, "the lab never started"
        time.sleep(0.3)  # in the middle of the proofs
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "interrupted" in err


@pytest.mark.usefixtures("no_leftovers")
def test_an_error_removes_the_lab(
    sandbox_inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, ...]] = []

    def broken(ns: str, root: Path) -> install.Applied:
        seen.append(tuple(lab_namespaces()))
        raise RuntimeError("boom")

    monkeypatch.setattr(install, "boot", broken)
    with pytest.raises(RuntimeError, match="boom"):
        run_lab(
            instance_named(sandbox_inventory, SAME_SUBNET),
            sandbox_inventory,
            PlanOptions(),
            LabOptions(),
        )
    assert seen and seen[0]  # it failed with the lab built


def _lab_with_boots(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch, boots: list[str]
) -> dict[str, Outcome]:
    """The lab with its applies replaced, in order: "real", "extra-rule" (real, then one
    more rule), "nothing" (a boot that does nothing)."""
    real_boot = install.boot
    plan = list(boots)

    def boot(ns: str, root: Path) -> install.Applied:
        step = plan.pop(0)
        if step == "nothing":
            return install.Applied("boot", 0, "")
        applied = real_boot(ns, root)
        if step == "extra-rule":
            shell.ip(
                ns, "rule", "add", "from", "192.0.2.99", "lookup", "10000", "priority", "10000"
            )
        return applied

    monkeypatch.setattr(install, "boot", boot)
    result = run_lab(instance_named(inventory, SAME_SUBNET), inventory, PlanOptions(), LabOptions())
    assert plan == [] and result.passed is False
    after = {row.key: row.after for row in result.rows if row.after is not None}
    assert all(after[key].passed for key in proofs.ROUND_PROOFS)
    return after


@pytest.mark.usefixtures("no_leftovers")
def test_proofs_5_and_6_fail_for_a_config_not_idempotent_nor_persistent(
    sandbox_inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    after = _lab_with_boots(
        sandbox_inventory, monkeypatch, ["real", "extra-rule", "nothing", "real"]
    )
    assert after["idempotent"].failures == (
        "+ip -4 rule show: 10000:\tfrom 192.0.2.99 lookup 10000",
    )
    secondary = "10.0.2.11 (ens6) from the peer: no answer to ping or TCP :8007"
    assert f"proof 1: {secondary}" in after["reboot"].failures
    assert after["hotplug"].passed


@pytest.mark.usefixtures("no_leftovers")
def test_proof_7_fails_when_the_attached_eni_is_not_applied(
    sandbox_inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    after = _lab_with_boots(sandbox_inventory, monkeypatch, ["real", "real", "real", "nothing"])
    assert after["idempotent"].passed and after["reboot"].passed
    failures = after["hotplug"].failures
    assert any(line.startswith("proof 1: ") and "(ens7) from the peer" in line for line in failures)
    assert any(line.startswith("left of ens6: ") and "lookup 10001" in line for line in failures)


@pytest.mark.usefixtures("no_leftovers")
def test_demo_section_runs_the_lab(sandbox_inventory: Inventory) -> None:
    console = Console(record=True, width=140)
    demo_section(console, sandbox_inventory)
    text = console.export_text()
    assert "all proofs hold after applying" in text
    assert text.count("PASS") == 7


# --- the classic experiments -------------------------------------------------------------------


def _apply(lab: Lab, plan: InstancePlan) -> None:
    install.install("iproute2", plan, lab.root)
    applied = install.boot(lab.topology.instance_ns, lab.root)
    assert applied.ok, applied.output


def _pings(lab: Lab, addresses: list[IPv4Address]) -> dict[IPv4Address, bool]:
    lab.flush_neighbours()
    peer = lab.topology.lans[0].peer_ns
    results = run_probes([Probe(peer, "ping", address) for address in addresses])
    return {probe.target: ok for probe, ok in results.items()}


@pytest.mark.usefixtures("no_leftovers")
def test_unreachable_secondary_ip(sandbox_plans: dict[str, InstancePlan]) -> None:
    """Two ENIs in one subnet, rp_filter=1, source/dest check: the secondary IP does not
    answer until policy routing is applied; the primary answers throughout."""
    plan = sandbox_plans[SAME_SUBNET]
    assert plan.status == MANAGED
    primary, secondary = (eni.primary_ipv4 for eni in plan.enis)
    assert primary is not None and secondary is not None
    lab_topology = design(plan, shell.unique_run_id(), source_dest_check=True, rp_filter=1)
    with Lab(lab_topology) as lab:
        ns = lab_topology.instance_ns
        rp = shell.run(
            ns, ["sysctl", "-n", "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.ens6.rp_filter"]
        )
        assert rp.stdout.split() == ["1", "1"]
        assert _pings(lab, [primary, secondary]) == {primary: True, secondary: False}
        _apply(lab, plan)
        assert _pings(lab, [primary, secondary]) == {primary: True, secondary: True}


DOWNLOADS = 240
FILE_SIZE = 90 * 1024
PARALLEL = 8
HTTP_PORT = 8080

_CLIENT = """
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
urls = json.loads(sys.argv[1])
def get(url):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return len(answer.read())
with ThreadPoolExecutor(int(sys.argv[2])) as pool:
    sizes = list(pool.map(get, urls))
print(json.dumps(sizes))
"""


def _tx_rx(ns: str) -> dict[str, tuple[int, int]]:
    links = shell.ip_json(ns, "-s", "link", "show")
    return {
        link["ifname"]: (link["stats64"]["tx"]["bytes"], link["stats64"]["rx"]["bytes"])
        for link in links
    }


def _download(lab: Lab, addresses: list[IPv4Address]) -> dict[str, tuple[float, float]]:
    """DOWNLOADS downloads spread evenly over `addresses`, from the subnet's peer; the
    share of the bytes each ENI transmitted and received meanwhile."""
    t = lab.topology
    urls = [f"http://{addresses[i % len(addresses)]}:{HTTP_PORT}/file" for i in range(DOWNLOADS)]
    start = _tx_rx(t.instance_ns)
    done = shell.run(
        t.lans[0].peer_ns,
        [sys.executable, "-I", "-S", "-c", _CLIENT, json.dumps(urls), str(PARALLEL)],
        timeout=120,
    )
    assert json.loads(done.stdout) == [FILE_SIZE] * DOWNLOADS
    end = _tx_rx(t.instance_ns)
    names = [eni.ifname for eni in t.enis]
    tx = {n: end[n][0] - start[n][0] for n in names}
    rx = {n: end[n][1] - start[n][1] for n in names}
    return {n: (tx[n] / sum(tx.values()), rx[n] / sum(rx.values())) for n in names}


@pytest.mark.usefixtures("no_leftovers")
def test_bottleneck(sandbox_plans: dict[str, InstancePlan], tmp_path: Path) -> None:
    """A plain multi-homed web server behind a switch (no source/dest check, rp_filter=0):
    requests balanced over both IPs; the replies leave through one interface until policy
    routing sends each reply out of the interface its request came in on."""
    plan = sandbox_plans["web-balanced"]
    addresses = [eni.primary_ipv4 for eni in plan.enis]
    assert len(addresses) == 2 and None not in addresses
    (tmp_path / "file").write_bytes(os.urandom(FILE_SIZE))
    lab_topology = design(plan, shell.unique_run_id(), source_dest_check=False, rp_filter=0)
    with Lab(lab_topology) as lab:
        lab.spawn(
            lab_topology.instance_ns,
            [
                sys.executable,
                "-u",
                "-m",
                "http.server",
                str(HTTP_PORT),
                "--bind",
                "0.0.0.0",
                "--directory",
                str(tmp_path),
            ],
            ready="Serving HTTP",
        )
        valid = [a for a in addresses if a is not None]
        before = _download(lab, valid)
        _apply(lab, plan)
        after = _download(lab, valid)
    (first, second) = (eni.ifname for eni in lab_topology.enis)
    print(f"bottleneck (tx share, rx share) before: {before}; after: {after}")  # pytest -s
    # before: requests arrive on both, every reply leaves the first interface
    assert 0.35 <= before[second][1] <= 0.65, before
    assert before[second][0] < 0.02, before
    # after: each interface transmits 45-55% of the bytes
    for name in (first, second):
        assert 0.45 <= after[name][0] <= 0.55, after
        assert 0.35 <= after[name][1] <= 0.65, after
