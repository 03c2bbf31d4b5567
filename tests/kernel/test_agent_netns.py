"""The agent on the real kernel: the fake IMDS answers at 169.254.169.254 from a second
namespace; the agent (extracted from the rendered user data, as cloud-init would) brings
up the same rules and routes as the static iproute2 target, follows ENI hotplug, and
removes its state when fewer than two ENIs are left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from ipaddress import IPv4Network
from pathlib import Path

from eniplan.model import Inventory
from eniplan.plan import InstancePlan
from eniplan.plancore import EniFacts, plan_eni
from tests.helpers import REPO
from tests.helpers.dynamic import cloud_init_crawl, install_agent, launch
from tests.helpers.fake_imds import metadata_tree
from tests.helpers.netns import (
    Namespace,
    expected_routes,
    expected_rules,
    kernel_state,
    link_groups,
    routes_state,
    rules_state,
)

IMDS_ADDRESS = "169.254.169.254"
NEW_MAC = "02:e1:00:00:00:07"  # an ENI attached after boot (not one of the sandbox's)
NEW_ENI = "eni-0e100000000000007"


def write_tree(path: Path, tree: dict[str, str]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(tree))
    os.replace(temporary, path)


@contextmanager
def fake_imds_in(
    ns: Namespace, tree_file: Path, address: str = IMDS_ADDRESS, log: Path | None = None
) -> Iterator[None]:
    """The fake IMDS at ADDRESS:80 in namespace `ns` (a process we start and stop); with
    `log`, each request's time, method and path appended to it."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "tests.helpers.fake_imds", str(tree_file), address, "80"]
    command += [str(log)] if log else []
    process = subprocess.Popen(
        ["ip", "netns", "exec", ns.name, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready", process.stderr
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def connect(instance: Namespace, imds: Namespace, ipv6_only: bool = False) -> None:
    """A veth from the instance to the IMDS namespace: link-local IPv4 as on EC2, or only
    IMDS's IPv6 address (fd00:ec2::254, as on Nitro instances)."""
    instance.run("ip", "link", "add", "imds0", "type", "veth", "peer", "name", "imds1",
                 "netns", imds.name)  # fmt: skip
    if ipv6_only:
        instance.run("ip", "addr", "add", "fd00:ec2::1/64", "dev", "imds0", "nodad")
        imds.run("ip", "addr", "add", "fd00:ec2::254/64", "dev", "imds1", "nodad")
    else:
        instance.run("ip", "addr", "add", "169.254.0.1/16", "dev", "imds0")
        imds.run("ip", "addr", "add", f"{IMDS_ADDRESS}/16", "dev", "imds1")
    instance.run("ip", "link", "set", "imds0", "up")
    imds.run("ip", "link", "set", "imds1", "up")


def route_get(ns: Namespace, source: str) -> str:
    """The kernel's decision for a packet from SOURCE to the internet (no packet sent)."""
    return ns.run("ip", "route", "get", "198.51.100.7", "from", source).stdout


class Agent:
    """The agent as the user data installs it: its archive extracted, run by the
    launcher's command with the default IMDS endpoints."""

    def __init__(self, tmp_path: Path) -> None:
        self.lib = tmp_path / "lib"
        install_agent(self.lib)
        self.root = tmp_path / "root"  # no other agent's files
        self.root.mkdir()
        self.lock = tmp_path / "lock"
        self.state = tmp_path / "run" / "state.json"

    def run(self, ns: Namespace, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        result = ns.run(*launch(self.lib), "--root", str(self.root),
                        "--lock", str(self.lock), "--state", str(self.state), *args,
                        check=False)  # fmt: skip
        return result, time.monotonic() - started


def test_boot_hotplug_and_teardown(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    plan = sandbox_plans["multi-subnet"]  # two ENIs, two subnets, IPv6 and a prefix
    instance = sandbox_inventory.instance(plan.instance_id)
    assert instance is not None and len(plan.enis) == 2
    tree = metadata_tree(instance, sandbox_inventory)
    tree_file = tmp_path / "tree.json"
    write_tree(tree_file, tree)
    agent = Agent(tmp_path)

    with Namespace("eniplan-ag") as ns, Namespace("eniplan-im") as imds_ns:
        connect(ns, imds_ns)
        ns.add_enis(plan)
        with fake_imds_in(imds_ns, tree_file):
            # boot
            result, seconds = agent.run(ns)
            print(f"agent, two-ENI instance, healthy IMDS: {seconds:.2f} s")
            assert result.returncode == 0, result.stdout + result.stderr
            assert rules_state(ns, plan) == expected_rules(plan)
            assert routes_state(ns, plan) == expected_routes(plan)
            groups = link_groups(ns)
            assert all(groups[eni.mac] == plan.table_base for eni in plan.enis)
            print(result.stderr + result.stdout)
            # replies leave by the ENI that owns the source address, via its subnet's router
            names = ns.link_names_by_mac()
            for eni in plan.enis:
                for address in {eni.primary_ipv4, *(a.ip for a in eni.ipv4_addresses)}:
                    decision = route_get(ns, str(address))
                    assert f"via {eni.router} dev {names[eni.mac]}" in decision, decision
            # again: nothing to do
            result, _ = agent.run(ns)
            assert result.returncode == 0 and "up to date" in result.stdout, result.stderr

            # hotplug: a third ENI in the second ENI's subnet, its link and its metadata
            second = plan.enis[1]
            assert second.subnet_cidr is not None and second.primary_ipv4 is not None
            address = second.subnet_cidr.network_address + 200
            facts = EniFacts(NEW_ENI, NEW_MAC, 0, 2, second.subnet_id, second.subnet_cidr,
                             primary_ipv4=address)  # fmt: skip
            base = f"network/interfaces/macs/{NEW_MAC}/"
            tree.update({
                base + "device-number": "2", base + "network-card": "0",
                base + "interface-id": NEW_ENI, base + "subnet-id": second.subnet_id,
                base + "local-ipv4s": str(address),
                base + "subnet-ipv4-cidr-block": str(IPv4Network(second.subnet_cidr)),
            })  # fmt: skip
            write_tree(tree_file, tree)
            ns.add_link("ens7", NEW_MAC)
            grown = replace(plan, enis=(*plan.enis, plan_eni(facts, plan.table_base, "new")))
            result, _ = agent.run(ns, "--hotplug", "ens7")
            assert result.returncode == 0, result.stdout + result.stderr
            assert "hotplug: ens7 added" in result.stderr
            assert rules_state(ns, grown) == expected_rules(grown)
            assert routes_state(ns, grown) == expected_routes(grown)

            # detached: the link goes first; IMDS still lists the ENI for a while
            ns.run("ip", "link", "del", "ens7")
            result, _ = agent.run(ns, "--hotplug", "ens7")
            assert result.returncode == 0, result.stdout + result.stderr
            assert "no link here, left out" in result.stderr
            assert rules_state(ns, grown) == expected_rules(plan)
            assert routes_state(ns, grown) == expected_routes(plan)

            # the second ENI detached too: one ENI, nothing to route, eniplan's state goes
            ns.run("ip", "link", "del", "ens6")
            result, _ = agent.run(ns, "--hotplug", "ens6")
            assert result.returncode == 0, result.stdout + result.stderr
            assert rules_state(ns, plan) == set()
            assert routes_state(ns, plan) == set()
            assert link_groups(ns)[plan.enis[0].mac] == 0
            main = ns.run("ip", "route", "show").stdout
            assert "dev ens5" in main  # the primary's own routes are untouched


def test_the_boot_run_from_cloud_inits_crawl_then_hotplug_from_imds(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    """The boot's first run takes the ENIs from cloud-init's crawl (4 requests); a second
    run and a hotplug read IMDS; every request paced (never over 20 a second)."""
    plan = sandbox_plans["multi-subnet"]
    instance = sandbox_inventory.instance(plan.instance_id)
    assert instance is not None
    tree = metadata_tree(instance, sandbox_inventory)
    tree_file, log = tmp_path / "tree.json", tmp_path / "requests.log"
    write_tree(tree_file, tree)
    agent = Agent(tmp_path)
    crawl = agent.root / "run/cloud-init/instance-data.json"
    crawl.parent.mkdir(parents=True)
    crawl.write_text(json.dumps(cloud_init_crawl(tree)))
    with Namespace("eniplan-ag") as ns, Namespace("eniplan-im") as imds_ns:
        connect(ns, imds_ns)
        ns.add_enis(plan)
        with fake_imds_in(imds_ns, tree_file, log=log):
            result, _ = agent.run(ns)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "(4 requests, 1 connection, the rest from cloud-init)" in result.stderr
            assert rules_state(ns, plan) == expected_rules(plan)
            assert routes_state(ns, plan) == expected_routes(plan)
            result, _ = agent.run(ns)  # the boot's second run: IMDS (the crawl may be old)
            assert result.returncode == 0 and "up to date" in result.stdout, result.stderr
            assert "from cloud-init" not in result.stderr
            agent.state.unlink()
            result, _ = agent.run(ns, "--hotplug", "ens6")
            assert result.returncode == 0, result.stdout + result.stderr
            assert "from cloud-init" not in result.stderr
    times = [float(line.split()[0]) for line in log.read_text().splitlines()]
    assert len(times) == 4 + 2 + 20 + 4 + 20  # boot; second run (state: no ids); hotplug
    # never 21 requests in one second, as the server logs them
    spans = [later - earlier for earlier, later in zip(times, times[20:], strict=False)]
    assert min(spans) > 1.0, spans


def test_imds_unreachable_changes_nothing(
    sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    plan = sandbox_plans["multi-subnet"]
    agent = Agent(tmp_path)
    with Namespace("eniplan-ag") as ns:
        ns.add_enis(plan)
        before = ns.run("ip", "rule", "show").stdout, ns.run("ip", "route", "show").stdout
        result, _ = agent.run(ns, "--deadline", "1")
        assert result.returncode == 1
        assert "failed, nothing changed" in result.stderr
        assert (ns.run("ip", "rule", "show").stdout, ns.run("ip", "route", "show").stdout) == before


def test_imds_over_ipv6_when_ipv4_is_unreachable(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    plan = sandbox_plans["web-balanced"]
    instance = sandbox_inventory.instance(plan.instance_id)
    assert instance is not None
    tree_file = tmp_path / "tree.json"
    write_tree(tree_file, metadata_tree(instance, sandbox_inventory))
    agent = Agent(tmp_path)
    with Namespace("eniplan-ag") as ns, Namespace("eniplan-im") as imds_ns:
        connect(ns, imds_ns, ipv6_only=True)
        ns.add_enis(plan)
        with fake_imds_in(imds_ns, tree_file, "fd00:ec2::254"):
            result, _ = agent.run(ns)
        assert result.returncode == 0, result.stdout + result.stderr
        assert rules_state(ns, plan) == expected_rules(plan)
        assert routes_state(ns, plan) == expected_routes(plan)


def test_coldplug_reconcile_missing_data_altnames_and_status(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    plan = sandbox_plans["multi-subnet"]
    instance = sandbox_inventory.instance(plan.instance_id)
    assert instance is not None
    tree = metadata_tree(instance, sandbox_inventory)
    tree_file = tmp_path / "tree.json"
    write_tree(tree_file, tree)
    agent = Agent(tmp_path)
    first, second = plan.enis
    with Namespace("eniplan-ag") as ns, Namespace("eniplan-im") as imds_ns:
        connect(ns, imds_ns)
        ns.add_enis(plan)
        with fake_imds_in(imds_ns, tree_file):
            result, _ = agent.run(ns)
            assert result.returncode == 0, result.stderr
            state = json.loads(agent.state.read_text())
            assert state["run"]["requests"] == 4 + 10 * 2 and state["run"]["connections"] == 1
            # udev's coldplug replay: every link's `add` costs no request at all
            for name in ("ens5", "ens6"):
                result, _ = agent.run(ns, "--hotplug", name)
                assert result.returncode == 0 and "nothing to do" in result.stderr, result.stderr
            assert json.loads(agent.state.read_text()) == state  # not even a write
            # a virtual link of no ENI is ignored at once
            ns.add_link("eth9", "02:e1:00:00:00:99")
            result, _ = agent.run(ns, "--hotplug", "eth9")
            assert result.returncode == 0 and "ignored" in result.stderr, result.stderr
            assert "reading it again" not in result.stderr  # not waited for
            # altnames as amazon-ec2-net-utils sets them
            for eni in plan.enis:
                shown = ns.run("ip", "link", "show", eni.eni_id).stdout
                assert eni.mac in shown and f"device-number-{eni.device_index}.0" in shown

            # a secondary address assigned after boot: the reconcile run routes it, reading
            # only what can change (token, listing, 4 keys an ENI)
            assert second.subnet_cidr is not None
            added = second.subnet_cidr.network_address + 77
            key = f"network/interfaces/macs/{second.mac}/local-ipv4s"
            tree[key] = f"{tree[key]}\n{added}"
            write_tree(tree_file, tree)
            result, _ = agent.run(ns, "--reconcile")
            assert result.returncode == 0, result.stderr
            assert "(10 requests, 1 connection)" in result.stderr, result.stderr
            assert f"from {added} lookup {second.table}" in ns.run("ip", "rule").stdout
            installed = kernel_state(ns)
            result, _ = agent.run(ns, "--reconcile")  # nothing changed: only reads
            assert result.returncode == 0 and "up to date" in result.stdout, result.stderr
            assert kernel_state(ns) == installed

            # one ENI's key goes missing: its routing stays, exit 1 names the ENI and key
            del tree[key]
            write_tree(tree_file, tree)
            result, _ = agent.run(ns, "--reconcile", "--deadline", "1.5")
            assert result.returncode == 1
            assert f"{second.eni_id} (ens6) not settled: IMDS " in result.stderr
            assert "local-ipv4s: missing; kept what was installed" in result.stderr, result.stderr
            assert kernel_state(ns) == installed

            status = agent.run(ns, "status")[0]
            assert status.returncode == 1, status.stderr  # the last run did not settle
            assert "last run reconcile at " in status.stdout
            assert f"{second.mac} ens6 {second.eni_id} table {second.table}: not settled:" in (
                status.stdout
            )
            assert f"{first.mac} ens5 {first.eni_id} table {first.table}: routed" in status.stdout

            # IMDS lies about the primary on a boot run (no state): nothing changes, and the
            # primary keeps its address and routes
            before = kernel_state(ns)
            agent.state.unlink()
            tree[key] = str(second.primary_ipv4)
            tree["mac"] = second.mac
            write_tree(tree_file, tree)
            result, _ = agent.run(ns, "--deadline", "1.5")
            assert result.returncode == 1, result.stderr
            assert "failed, nothing changed: IMDS mac: " in result.stderr, result.stderr
            assert kernel_state(ns) == before
