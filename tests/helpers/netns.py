"""Network-namespace helpers for tests that apply routing on the real kernel.

Rules of the house: only namespaces this module creates (unique names, removed on exit,
also after a failure), never a link, route or rule of the root namespace, and traffic only
between namespaces a test made.

    with Namespace() as ns:
        ns.add_enis(plan)                 # dummy links with the plan's MACs, up
        ns.run("sh", "-c", script)
        assert routing_state(ns, plan) == expected_state(plan)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from ipaddress import IPv4Interface, ip_network
from pathlib import Path
from typing import Any

from eniplan.lab.shell import NAME_PREFIX
from eniplan.lab.topology import running
from eniplan.plan import MAX_NETWORK_CARDS, InstancePlan

NETNS_REASON = "needs root, iproute2 and network namespaces (CI runs as root)"


def netns_available() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"eniplan-probe-{uuid.uuid4().hex[:8]}"
    created = subprocess.run(["ip", "netns", "add", name], capture_output=True, check=False)
    if created.returncode != 0:
        return False
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
    return True


class Namespace:
    """A throw-away network namespace; `run` executes a command inside it."""

    def __init__(self, prefix: str = "eniplan-t") -> None:
        self.name = f"{prefix}-{uuid.uuid4().hex[:10]}"

    def __enter__(self) -> Namespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        self.run("ip", "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False, capture_output=True)

    def run(
        self, *command: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["ip", "netns", "exec", self.name, *command],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}"
            )
        return result

    def ip_json(self, *args: str) -> Any:
        output = self.run("ip", "-j", *args).stdout
        return json.loads(output) if output.strip() else []

    def add_link(self, name: str, mac: str) -> None:
        """A veth standing in for an ENI (the MAC is what matters, as on EC2); its peer,
        named p-NAME, stays in the same namespace so the link has carrier."""
        peer = f"p-{name}"[:15]
        self.run("ip", "link", "add", name, "address", mac, "type", "veth", "peer", "name", peer)
        self.run("ip", "link", "set", peer, "up")
        self.run("ip", "link", "set", name, "up")

    def add_enis(self, plan: InstancePlan, names: list[str] | None = None) -> None:
        """One link per managed ENI, named as given (default ens5, ens6, ...: not eth*, so a
        script that trusted names instead of MACs would fail). The primary ENI gets its
        primary address, as DHCP would have given it before eniplan runs."""
        for index, eni in enumerate(plan.enis):
            name = names[index] if names else f"ens{5 + index}"
            self.add_link(name, eni.mac)
            if eni.is_primary and eni.primary_ipv4 and eni.subnet_cidr:
                address = IPv4Interface(f"{eni.primary_ipv4}/{eni.subnet_cidr.prefixlen}")
                self.run("ip", "addr", "add", str(address), "dev", name)
            if eni.ipv6_subnets:
                # what a router advertisement leaves in the main table
                self.run(
                    "ip",
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    "fe80::1",
                    "dev",
                    name,
                    "proto",
                    "ra",
                    "metric",
                    str(1024 + index),
                )

    def link_names_by_mac(self) -> dict[str, str]:
        return {link["address"]: link["ifname"] for link in self.ip_json("link", "show")}


# --- comparing the kernel's state with a plan -------------------------------------------


def _rule_key(rule: dict[str, Any]) -> tuple[Any, ...]:
    source = rule.get("src", "all")
    if source != "all" and "srclen" in rule:
        source = str(ip_network(f"{source}/{rule['srclen']}", strict=False))
    elif source != "all":
        source = str(ip_network(source))
    return (rule.get("priority"), source, str(rule.get("table")), rule.get("suppress_ifgroup"))


def rules_state(ns: Namespace, plan: InstancePlan) -> set[tuple[Any, ...]]:
    """The kernel's rules in the plan's priority range, IPv4 and IPv6."""
    low = plan.table_base - 1
    high = plan.table_base + 100 * MAX_NETWORK_CARDS
    rules = ns.ip_json("-4", "rule", "show") + ns.ip_json("-6", "rule", "show")
    return {_rule_key(r) for r in rules if low <= int(r.get("priority", -1)) < high}


def expected_rules(plan: InstancePlan) -> set[tuple[Any, ...]]:
    expected: set[tuple[Any, ...]] = {
        (rule.priority, str(rule.source), str(rule.table), None) for rule in plan.rules
    }
    if plan.guard:
        for _family in (4, 6):
            expected.add((plan.guard.priority, "all", "main", str(plan.guard.group)))
    return expected


def routes_state(ns: Namespace, plan: InstancePlan) -> set[tuple[Any, ...]]:
    """The kernel's routes in the plan's tables, with the device as the ENI's MAC."""
    names = {name: mac for mac, name in ns.link_names_by_mac().items()}
    tables = {eni.table for eni in plan.enis}
    state = set()
    for family in ("-4", "-6"):
        for route in ns.ip_json(family, "route", "show", "table", "all"):
            table = route.get("table")
            if table is None or not str(table).isdigit() or int(table) not in tables:
                continue
            destination = route["dst"]
            if destination == "default":
                destination = "0.0.0.0/0" if family == "-4" else "::/0"
            else:
                destination = str(ip_network(destination, strict=False))
            state.add(
                (
                    int(table),
                    destination,
                    route.get("gateway"),
                    names.get(route.get("dev")),
                    route.get("prefsrc"),
                )
            )
    return state


def expected_routes(plan: InstancePlan, ra_gateway: str = "fe80::1") -> set[tuple[Any, ...]]:
    expected: set[tuple[Any, ...]] = set()
    for eni in plan.enis:
        for route in eni.routes:
            gateway = (
                ra_gateway if route.via_ra else (str(route.gateway) if route.gateway else None)
            )
            expected.add(
                (
                    route.table,
                    str(route.destination),
                    gateway,
                    eni.mac,
                    str(route.source) if route.source else None,
                )
            )
    return expected


def link_groups(ns: Namespace) -> dict[str, int]:
    """netdev group of every link, by MAC."""
    return {
        link["address"]: int(link.get("group", 0) if str(link.get("group", 0)).isdigit() else 0)
        for link in ns.ip_json("-d", "link", "show")
    }


def kernel_state(ns: Namespace) -> str:
    """Rules, routes and addresses, without the IPv6 link-local addresses and their routes:
    the kernel adds those when it likes after a link comes up, whoever runs."""
    listing = "".join(
        ns.run("ip", family, *what).stdout
        for family in ("-4", "-6")
        for what in (("rule", "show"), ("route", "show", "table", "all"), ("-br", "addr"))
    )
    lines = (line for line in listing.splitlines() if not re.match(r"(\S+ )?fe80::.* kernel", line))
    return "\n".join(re.sub(r" fe80::\S+", "", line) for line in lines)


def lab_namespaces() -> set[str]:
    """The namespaces of every `eniplan lab` on this machine (other processes' too)."""
    directory = Path("/run/netns")
    names = {p.name for p in directory.iterdir()} if directory.is_dir() else set()
    return {name for name in names if name.startswith(f"{NAME_PREFIX}-")}


def left_by_ended_labs(before: set[str]) -> set[str]:
    """Lab namespaces that appeared since `before` and whose lab has ended: what a test's
    lab left behind (labs of other processes running meanwhile are theirs)."""
    return {name for name in lab_namespaces() - before if not running(name)}


def no_lab_left() -> Iterator[None]:
    """The body of the `no_leftovers` fixture (tests/kernel/conftest.py)."""
    before = lab_namespaces()
    yield
    assert left_by_ended_labs(before) == set()
