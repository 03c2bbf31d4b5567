"""The iproute2 target's script on the real kernel, in throw-away network namespaces
(tests/helpers/netns.py): the kernel's rules and routes are the plan's, whatever the shell,
the link names, foreign state or a failed change (the text itself: tests/unit)."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import IPv4Network
from pathlib import Path
from typing import TypeVar

import pytest

from eniplan.plan import (
    NOTHING_TO_DO,
    InstancePlan,
)
from eniplan.render.iproute2 import PROTOCOL, script
from tests.helpers import REPO
from tests.helpers.builders import largest_instance_plan
from tests.helpers.netns import (
    Namespace,
    expected_routes,
    expected_rules,
    kernel_state,
    link_groups,
    routes_state,
    rules_state,
)

BENCHMARK = REPO / "benchmarks" / "bench_iproute2.py"
PROOF_PLANS = ("centos7-same-24", "rhel-same-20", "multi-subnet")


# --- the text ------------------------------------------------------------------------


# --- no way in for free text ---------------------------------------------------------


# --- on the real kernel ----------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., None])


def _apply(
    ns: Namespace, text: str, *, shell: str = "sh", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = ["ip", "netns", "exec", ns.name, "env", *(f"{k}={v}" for k, v in (env or {}).items())]
    return subprocess.run(
        [*command, shell, "-c", text, "eniplan-routing"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _assert_applied(ns: Namespace, plan: InstancePlan) -> None:
    assert rules_state(ns, plan) == expected_rules(plan)
    assert routes_state(ns, plan) == expected_routes(plan)
    groups = link_groups(ns)
    assert plan.guard is not None
    assert {groups[eni.mac] for eni in plan.enis} == {plan.guard.group}
    addresses = ns.run("ip", "-br", "addr").stdout
    for eni in plan.enis:
        for address in (*eni.ipv4_addresses, *eni.ipv6_addresses):
            assert f" {address} " in f" {addresses} ".replace("\n", " "), address


@contextmanager
def _monitor(ns: Namespace) -> Iterator[list[str]]:
    """The rtnetlink events (rules, routes, addresses, links) while the block runs."""
    events: list[str] = []
    process = subprocess.Popen(
        ["ip", "netns", "exec", ns.name, "ip", "monitor", "rule", "route", "address", "link"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        time.sleep(0.3)  # let it subscribe
        yield events
        time.sleep(0.3)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
        events.extend(line for line in output.splitlines() if line.strip())


@pytest.mark.parametrize("name", PROOF_PLANS)
def test_the_kernel_ends_up_with_the_plan(
    sandbox_plans: dict[str, InstancePlan], name: str
) -> None:
    plan = sandbox_plans[name]
    text = script(plan)
    with Namespace() as ns:
        ns.add_enis(plan)  # links named ens5, ens6: not what the plan's name hints say
        first = _apply(ns, text)
        assert first.returncode == 0, first.stderr
        assert first.stderr == ""
        assert re.search(r"\d+ added, 0 removed", first.stdout), first.stdout
        _assert_applied(ns, plan)

        before = kernel_state(ns)
        with _monitor(ns) as events:
            second = _apply(ns, text)
        assert second.returncode == 0, second.stderr
        assert "nothing changed" in second.stdout
        assert kernel_state(ns) == before
        assert not [e for e in events if e.startswith("Deleted")], events
        assert not [e for e in events if f"proto {PROTOCOL}" in e or "lookup" in e], events


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_dash_and_bash_agree(sandbox_plans: dict[str, InstancePlan], shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    plan = sandbox_plans["multi-subnet"]
    with Namespace() as ns:
        ns.add_enis(plan)
        for _ in range(2):
            result = _apply(ns, script(plan), shell=shell)
            assert result.returncode == 0, result.stderr
        assert "nothing changed" in result.stdout
        _assert_applied(ns, plan)


def test_names_do_not_matter_only_macs(sandbox_plans: dict[str, InstancePlan]) -> None:
    """The links swap the names EC2 images would give them: eth1 is the primary."""
    plan = sandbox_plans["multi-subnet"]
    with Namespace() as ns:
        ns.add_enis(plan, names=["eth1", "eth0"])
        result = _apply(ns, script(plan))
        assert result.returncode == 0, result.stderr
        _assert_applied(ns, plan)
        names = ns.link_names_by_mac()
        primary = next(eni for eni in plan.enis if eni.is_primary)
        assert names[primary.mac] == "eth1"
        routes = ns.run("ip", "route", "show", "table", str(primary.table)).stdout
        assert "dev eth1 " in routes and "eth0" not in routes


def test_a_later_link_with_the_enis_mac_is_not_taken_for_it(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    """A VLAN (or a bond) on an ENI has its MAC too; it comes after the ENI's link."""
    plan = sandbox_plans["centos7-same-24"]
    with Namespace() as ns:
        ns.add_enis(plan)
        ns.add_link("ens6v7", plan.enis[1].mac)  # (no 8021q module here: a veth stands in)
        result = _apply(ns, script(plan))
        assert result.returncode == 0, result.stderr
        ours = ns.run("ip", "route", "show", "table", "all", "proto", str(PROTOCOL)).stdout
        assert "dev ens6 " in ours and "ens6v7" not in ours
        address = str(plan.enis[1].ipv4_addresses[0])
        assert address in ns.run("ip", "-br", "addr", "show", "dev", "ens6").stdout
        assert address not in ns.run("ip", "-br", "addr", "show", "dev", "ens6v7").stdout
        assert rules_state(ns, plan) == expected_rules(plan)


def test_a_failed_change_is_reported_and_the_rest_applied(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    """Without DHCP's address on the primary, its link route (src) cannot be set."""
    plan = sandbox_plans["centos7-same-24"]
    primary = next(eni for eni in plan.enis if eni.is_primary)
    assert primary.subnet_cidr is not None
    with Namespace() as ns:
        ns.add_enis(plan)
        dhcp = f"{primary.primary_ipv4}/{primary.subnet_cidr.prefixlen}"
        ns.run("ip", "addr", "del", dhcp, "dev", "ens5")
        result = _apply(ns, script(plan))
        assert result.returncode == 1
        assert "not all of" in result.stderr and "prefsrc" in result.stderr
        assert rules_state(ns, plan) == expected_rules(plan)
        secondary = next(eni for eni in plan.enis if not eni.is_primary)
        assert {r for r in routes_state(ns, plan) if r[0] == secondary.table} == {
            r for r in expected_routes(plan) if r[0] == secondary.table
        }
        ns.run("ip", "addr", "add", dhcp, "dev", "ens5")  # DHCP is back: the next run mends
        result = _apply(ns, script(plan))
        assert result.returncode == 0 and "2 added, 0 removed" in result.stdout, result
        _assert_applied(ns, plan)


def test_foreign_rules_and_routes_survive(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["multi-subnet"]
    table = plan.enis[1].table
    foreign = [
        ("rule", "add", "from", "192.0.2.1", "lookup", "500", "priority", "500"),
        ("route", "add", "192.0.2.0/24", "dev", "ens5", "table", "500"),
        # inside eniplan's range (its priority and table), without its protocol
        ("rule", "add", "from", "192.0.2.2", "lookup", str(table), "priority", str(table)),
        ("route", "add", "198.51.100.0/24", "dev", "ens5", "table", str(table)),
        ("-6", "rule", "add", "from", "2001:db8::2", "lookup", str(table), "priority", "9999"),
    ]
    fewer = dataclasses.replace(plan, enis=plan.enis[:1])
    with Namespace() as ns:
        ns.add_enis(plan)
        for command in foreign:
            ns.run("ip", *command)
        marks = _foreign_marks(ns)
        assert len(marks) == 5
        for text in (script(plan), script(plan), script(fewer)):
            result = _apply(ns, text)
            assert result.returncode == 0, result.stderr
            assert _foreign_marks(ns) == marks


def _foreign_marks(ns: Namespace) -> list[str]:
    listing = kernel_state(ns)
    return sorted(
        line.strip()
        for line in listing.splitlines()
        if ("192.0.2." in line or "198.51.100." in line or "2001:db8::2" in line)
        and "proto 247" not in line
    )


def test_an_eni_gone_from_the_plan_is_cleaned_up(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["multi-subnet"]
    gone = plan.enis[1]
    fewer = dataclasses.replace(plan, enis=plan.enis[:1])
    with Namespace() as ns:
        ns.add_enis(plan)
        assert _apply(ns, script(plan)).returncode == 0
        kept_routes = {r for r in routes_state(ns, plan) if r[0] != gone.table}
        result = _apply(ns, script(fewer))
        assert result.returncode == 0, result.stderr
        assert re.search(r"0 added, [1-9]\d* removed", result.stdout), result.stdout
        # rules_state looks at the whole range, so the gone ENI's rules would show
        assert rules_state(ns, fewer) == expected_rules(fewer)
        assert routes_state(ns, plan) == kept_routes == expected_routes(fewer)
        assert ns.run("ip", "route", "show", "table", str(gone.table)).stdout == ""
        assert ns.run("ip", "-6", "route", "show", "table", str(gone.table)).stdout == ""
        assert link_groups(ns)[gone.mac] == 0  # out of the guard group too
        again = _apply(ns, script(fewer))
        assert "nothing changed" in again.stdout


def test_eniplans_own_strays_are_removed(sandbox_plans: dict[str, InstancePlan]) -> None:
    """A protocol-247 rule or route that the plan does not have goes; the rest stays."""
    plan = sandbox_plans["multi-subnet"]
    table = str(plan.enis[0].table)
    with Namespace() as ns:
        ns.add_enis(plan)
        assert _apply(ns, script(plan)).returncode == 0
        ns.run("ip", "rule", "add", "from", "10.0.0.99", "lookup", table, "priority", table,
               "protocol", str(PROTOCOL))  # fmt: skip
        ns.run("ip", "route", "add", "203.0.113.0/24", "dev", "ens5", "table", table,
               "proto", str(PROTOCOL))  # fmt: skip
        with _monitor(ns) as events:
            result = _apply(ns, script(plan))
        assert result.returncode == 0, result.stderr
        assert "0 added, 2 removed" in result.stdout
        _assert_applied(ns, plan)
        deleted = [e for e in events if e.startswith("Deleted")]
        assert len(deleted) == 2 and all("10.0.0.99" in e or "203.0.113" in e for e in deleted)


def test_addresses_the_plan_drops_are_removed_and_no_others() -> None:
    """An address eniplan added and the plan no longer has goes, with its rule; the DHCP
    address and one the user added there stay."""
    plan = largest_instance_plan(3, 4)
    eni = plan.enis[1]
    dropped = eni.ipv4_addresses[-1]
    kept = dataclasses.replace(
        eni,
        ipv4_addresses=eni.ipv4_addresses[:-1],
        rules=tuple(r for r in eni.rules if r.source != IPv4Network(f"{dropped.ip}/32")),
    )
    fewer = dataclasses.replace(plan, enis=(plan.enis[0], kept, *plan.enis[2:]))
    user = f"{dropped.ip + 100}/{dropped.network.prefixlen}"
    with Namespace() as ns:
        ns.add_enis(plan)
        link = ns.link_names_by_mac()[eni.mac]
        ns.run("ip", "addr", "add", user, "dev", link)
        assert _apply(ns, script(plan)).returncode == 0
        with _monitor(ns) as events:
            result = _apply(ns, script(fewer))
        assert result.returncode == 0, result.stderr
        assert "0 added, 2 removed" in result.stdout, result.stdout
        shown = ns.run("ip", "-br", "addr", "show", "dev", link).stdout.split()
        assert str(dropped) not in shown and user in shown
        _assert_applied(ns, fewer)
        deleted = [e for e in events if e.startswith("Deleted")]
        assert all(str(dropped.ip) in e for e in deleted), deleted  # (and its local route)
        assert [e for e in deleted if "proto 247" in e or " inet " in e] == deleted[:2]
        assert "nothing changed" in _apply(ns, script(fewer)).stdout


def test_an_instance_left_with_one_eni_gets_its_state_removed(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    """The teardown script (a plan with nothing to do) and the persisted script at a boot
    that finds one of its ENIs leave the state there was before eniplan: its rules,
    routes, addresses (IPv6 too) and netdev group gone, DHCP's address and other links'
    groups kept."""
    plan = sandbox_plans["multi-subnet"]
    secondary = next(eni for eni in plan.enis if not eni.is_primary)
    alone = dataclasses.replace(plan, status=NOTHING_TO_DO, enis=(), guard=None)
    for teardown in ("script", "persisted"):
        with Namespace() as ns:
            ns.add_enis(plan)
            ns.add_link("docker0", "02:42:ac:11:00:01")  # another tool's link and group
            ns.run("ip", "link", "set", "dev", "docker0", "group", "7")
            link = ns.link_names_by_mac()[secondary.mac]
            before = kernel_state(ns)
            assert _apply(ns, script(plan)).returncode == 0
            assert kernel_state(ns) != before
            if teardown == "persisted":  # the instance rebooted with its primary ENI only
                ns.run("ip", "link", "del", link)
                before = "\n".join(line for line in before.splitlines() if link not in line)
                result = _apply(ns, script(plan))
                assert "1 of the plan's 2 ENIs here: removing" in result.stdout
            else:
                result = _apply(ns, script(alone))
            assert result.returncode == 0, result.stderr
            assert result.stderr == ""
            assert kernel_state(ns) == before
            groups = ns.run("ip", "-br", "-d", "link").stdout
            assert set(link_groups(ns).values()) == {0, 7}, groups
            assert "nothing changed" in _apply(ns, script(alone)).stdout


def test_no_guard_leaves_no_group_and_other_links_keep_theirs(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = sandbox_plans["multi-subnet"]
    assert plan.guard is not None
    unguarded = dataclasses.replace(plan, guard=None)
    with Namespace() as ns:
        ns.add_enis(plan)
        ns.add_link("vpn0", "02:42:ac:11:00:02")  # eniplan's number, never eniplan's doing
        ns.run("ip", "link", "set", "dev", "vpn0", "group", str(plan.guard.group))
        assert _apply(ns, script(unguarded)).returncode == 0
        groups = link_groups(ns)
        assert {groups[eni.mac] for eni in plan.enis} == {0}
        assert groups["02:42:ac:11:00:02"] == plan.guard.group
        assert "suppress_ifgroup" not in ns.run("ip", "rule").stdout
    with Namespace() as ns:  # guarded first, then not: the ENIs leave the group
        ns.add_enis(plan)
        assert _apply(ns, script(plan)).returncode == 0
        assert {link_groups(ns)[eni.mac] for eni in plan.enis} == {plan.guard.group}
        result = _apply(ns, script(unguarded))
        assert result.returncode == 0, result.stderr
        assert {link_groups(ns)[eni.mac] for eni in plan.enis} == {0}
        for family in ("-4", "-6"):
            assert "suppress_ifgroup" not in ns.run("ip", family, "rule").stdout
        assert "nothing changed" in _apply(ns, script(unguarded)).stdout


def _parallel(
    ns: Namespace, text: str, lock: Path, runs: int, prefix: str = ""
) -> list[subprocess.CompletedProcess[str]]:
    """`runs` runs of the script at once (after `prefix`, a shell command)."""
    command = f'{prefix}exec sh -c "$1" eniplan-routing'
    processes = [
        subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns.name,
                "env",
                f"ENIPLAN_LOCK={lock}",
                "sh",
                "-c",
                command,
                "sh",
                text,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(runs)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


@pytest.mark.parametrize("locking", ["flock", "directory"])
def test_parallel_runs_take_turns(tmp_path: Path, locking: str) -> None:
    """Without flock(1) (hidden in the run's own mount namespace), a directory is the lock;
    one that a dead run left is taken over."""
    plan = largest_instance_plan(4, 10)
    lock = tmp_path / "lock"
    prefix = ""
    if locking == "directory":
        prefix = 'mount --bind /dev/null "$(command -v flock)" && '
        dead = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True)
        (tmp_path / "lock.d").mkdir()
        (tmp_path / "lock.d" / "pid").write_text(dead.stdout)
    with Namespace() as ns:
        ns.add_enis(plan)
        results = _parallel(ns, script(plan), lock, 4, prefix)
        assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]
        outputs = sorted(r.stdout.split(": ")[-1].strip() for r in results)
        assert outputs[0].endswith("added, 0 removed") and outputs[0][0] != "0", outputs
        assert outputs[1:] == ["up to date, nothing changed"] * 3, outputs
        _assert_applied(ns, plan)
    assert not (tmp_path / "lock.d").exists() and not (tmp_path / "lock.break").exists()


def test_a_missing_mac_is_reported_and_the_rest_applied() -> None:
    plan = largest_instance_plan(3, 3)
    missing = plan.enis[2]
    present = dataclasses.replace(plan, enis=plan.enis[:2])
    with Namespace() as ns:
        ns.add_enis(present)  # the second ENI's link is not there (not attached yet)
        for run in range(2):
            result = _apply(ns, script(plan))
            assert result.returncode == 1
            assert missing.mac in result.stderr and missing.eni_id in result.stderr
            assert rules_state(ns, present) == expected_rules(present)
            assert routes_state(ns, plan) == expected_routes(present)
            assert ("nothing changed" in result.stdout) == (run == 1)


def test_ipv6_default_waits_for_a_router_advertisement(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = sandbox_plans["multi-subnet"]
    eni = next(e for e in plan.enis if e.ipv6_addresses)
    with Namespace() as ns:
        ns.add_enis(plan)
        link = ns.link_names_by_mac()[eni.mac]
        ns.run("ip", "-6", "route", "del", "default", "dev", link)  # no RA heard yet
        result = _apply(ns, script(plan), env={"ENIPLAN_RA_WAIT": "1"})
        assert result.returncode == 0, result.stderr
        assert "router advertisement" in result.stderr and eni.eni_id in result.stderr
        ipv6_default = (eni.table, "::/0", "fe80::1", eni.mac, None)
        assert routes_state(ns, plan) == expected_routes(plan) - {ipv6_default}
        # the router is heard (a new one): the next run copies it
        ns.run("ip", "-6", "route", "add", "default", "via", "fe80::2", "dev", link,
               "proto", "ra")  # fmt: skip
        result = _apply(ns, script(plan))
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert routes_state(ns, plan) == expected_routes(plan, ra_gateway="fe80::2")
        # and when it changes again, `route replace` follows it, deleting nothing
        ns.run("ip", "-6", "route", "replace", "default", "via", "fe80::3", "dev", link,
               "proto", "ra")  # fmt: skip
        with _monitor(ns) as events:
            result = _apply(ns, script(plan))
        assert "1 added, 0 removed" in result.stdout
        assert routes_state(ns, plan) == expected_routes(plan, ra_gateway="fe80::3")
        assert not [e for e in events if e.startswith("Deleted")], events


def test_dry_run_prints_and_changes_nothing(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["centos7-same-24"]
    with Namespace() as ns:
        ns.add_enis(plan)
        before = kernel_state(ns)
        result = _apply(ns, script(plan), env={"ENIPLAN_DRY_RUN": "1"})
        assert result.returncode == 0, result.stderr
        assert kernel_state(ns) == before
        lines = result.stdout.splitlines()
        assert lines[0] == "# ip -6 -batch" and "# ip -batch" in lines, lines
        commands = [line for line in lines if line and not line.startswith("#")]
        assert all(line.split()[0] in ("link", "addr", "route", "rule") for line in commands)
        assert sum(line.startswith("rule add") for line in commands) == len(plan.rules) + 2
        applied = _apply(ns, script(plan))
        assert f"{len(commands)} added, 0 removed" in applied.stdout


def test_secondary_addresses_and_prefix_rules(sandbox_plans: dict[str, InstancePlan]) -> None:
    """The multi-subnet plan's secondaries are on their links and its /28 prefix has a rule."""
    plan = sandbox_plans["multi-subnet"]
    prefixes = [r.source for r in plan.rules if r.source.prefixlen not in (32, 128)]
    assert prefixes
    with Namespace() as ns:
        ns.add_enis(plan)
        assert _apply(ns, script(plan)).returncode == 0
        names = ns.link_names_by_mac()
        for eni in plan.enis:
            shown = ns.run("ip", "-br", "addr", "show", "dev", names[eni.mac]).stdout.split()
            for address in (*eni.ipv4_addresses, *eni.ipv6_addresses):
                assert str(address) in shown, address
        listed = ns.run("ip", "rule", "show").stdout
        assert all(str(prefix) in listed for prefix in prefixes)


# --- the benchmark ---------------------------------------------------------------------


def test_quick_benchmark_prints_its_ratios() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(BENCHMARK.parent.parent)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"first run / lower bound: \d+\.\d\d \(target <= 1\.2\)", lines[0])
    assert re.fullmatch(r"second run / lower bound: \d+\.\d\d \(target <= 0\.5\)", lines[1])
    cpu = r"CPU time \(user \+ system, every process\): first run / bound (\d+\.\d\d), second"
    found = re.match(cpu, lines[2])
    assert found and float(found[1]) > 0, lines[2]
    assert re.search(r"^  script: \d+ bytes", result.stdout, re.MULTILINE)
    # the floors: the engine's own reads, cut out of the script, ran (and the first floor
    # left the bound's rules and routes, or the benchmark would have stopped)
    for run in ("first", "second"):
        floor = rf"^  {run} run's floor \(.*\): \d+\.\d\d \(\d+\.\d\d\); the script's own work"
        assert re.search(floor, result.stdout, re.MULTILINE), result.stdout


def test_a_run_after_a_no_op_notices_one_rule_route_or_address_gone() -> None:
    """The plan's rules are compared with the kernel's in one piece and a link's addresses
    as a run: one rule missing in the middle of eniplan's range, one route of a table, one
    secondary address are each put back, and nothing else is touched."""
    plan = largest_instance_plan(4, 10)
    eni = plan.enis[2]
    rule, route, address = eni.rules[5], eni.routes[-1], eni.ipv4_addresses[3]
    destination = "default" if route.is_default else str(route.destination)
    with Namespace() as ns:
        ns.add_enis(plan)
        assert _apply(ns, script(plan)).returncode == 0
        assert "nothing changed" in _apply(ns, script(plan)).stdout
        link = ns.link_names_by_mac()[eni.mac]
        for deletion in (
            ("rule", "del", "from", str(rule.source), "lookup", str(rule.table),
             "priority", str(rule.priority)),
            ("route", "del", destination, "table", str(route.table)),
            ("addr", "del", str(address), "dev", link),
        ):  # fmt: skip
            ns.run("ip", *deletion)
            with _monitor(ns) as events:
                result = _apply(ns, script(plan))
            assert result.returncode == 0, result.stderr
            assert "1 added, 0 removed" in result.stdout, (deletion, result.stdout)
            assert not [e for e in events if e.startswith("Deleted")], events
            _assert_applied(ns, plan)
            assert "nothing changed" in _apply(ns, script(plan)).stdout


def test_an_address_the_plan_routes_stays_whoever_marked_it() -> None:
    """The addresses eniplan added are read (by their marks) only when one of them may have
    to go: the DHCP address of the primary, which the plan routes but does not add, stays
    even with eniplan's label on it; an address of an ENI gone from the plan goes."""
    plan = largest_instance_plan(3, 4)
    primary, gone = plan.enis[0], plan.enis[2]
    assert primary.is_primary and primary.subnet_cidr is not None
    dhcp = f"{primary.primary_ipv4}/{primary.subnet_cidr.prefixlen}"
    fewer = dataclasses.replace(plan, enis=plan.enis[:2])
    with Namespace() as ns:
        ns.add_enis(plan)
        links = ns.link_names_by_mac()
        first = links[primary.mac]
        ns.run("ip", "addr", "del", dhcp, "dev", first)
        ns.run("ip", "addr", "add", dhcp, "dev", first, "label", f"{first}:ep")
        assert _apply(ns, script(plan)).returncode == 0
        result = _apply(ns, script(fewer))
        assert result.returncode == 0, result.stderr
        assert dhcp in ns.run("ip", "-br", "addr", "show", "dev", first).stdout.split()
        left = ns.run("ip", "-br", "-4", "addr", "show", "dev", links[gone.mac]).stdout
        assert left.split()[2:] == [], left
        _assert_applied(ns, fewer)
        assert "nothing changed" in _apply(ns, script(fewer)).stdout
