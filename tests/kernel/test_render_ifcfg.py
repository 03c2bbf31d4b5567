"""The ifcfg target on the real kernel, in a network namespace: what boot does with its network
scripts gives the planned rules and routes."""

from __future__ import annotations

import re
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from eniplan.plan import InstancePlan, name_hint
from tests.helpers.ifcfg import IFUP_ROUTES, UDEV_RULE, source, write_files
from tests.helpers.netns import (
    Namespace,
    expected_routes,
    expected_rules,
    link_groups,
    routes_state,
    rules_state,
)


def ifup(ns: Namespace, plan: InstancePlan, scripts: Path, udev_rule: Path) -> None:
    """What boot does with the files, device by device (ifup-eth, ifup-ipv6, ifup-aliases,
    ifup-routes), plus the udev rule's netdev group."""
    groups = {
        mac: group
        for mac, group in re.findall(
            r'ATTR\{address\}=="([0-9a-f:]{17})", ATTR\{netdev_group\}="(\d+)"',
            udev_rule.read_text() if udev_rule.exists() else "",
        )
    }
    for eni in plan.enis:
        dev = name_hint(eni)
        config = scripts / f"ifcfg-{dev}"
        if config.exists():
            settings = source(config, "DEVICE", "HWADDR", "BOOTPROTO", "IPV6ADDR",
                              "IPV6ADDR_SECONDARIES")  # fmt: skip
            assert ns.link_names_by_mac()[settings["HWADDR"]] == settings["DEVICE"] == dev
            if settings["BOOTPROTO"] == "dhcp":
                # the address the VPC's DHCP server hands out
                assert eni.primary_ipv4 and eni.subnet_cidr
                lease = IPv4Interface(f"{eni.primary_ipv4}/{eni.subnet_cidr.prefixlen}")
                ns.run("ip", "addr", "add", str(lease), "dev", dev)
            for address in [settings["IPV6ADDR"], *settings["IPV6ADDR_SECONDARIES"].split()]:
                if address:
                    ns.run("ip", "-6", "addr", "add", address, "dev", dev)
        for alias in sorted(scripts.glob(f"ifcfg-{dev}:*")):
            settings = source(alias, "DEVICE", "IPADDR", "PREFIX")
            ns.run("ip", "addr", "add", f"{settings['IPADDR']}/{settings['PREFIX']}",
                   "dev", dev, "label", settings["DEVICE"])  # fmt: skip
        route_files = [
            str(path)
            for kind in ("route", "route6", "rule", "rule6")
            if (path := scripts / f"{kind}-{dev}").exists()
        ]
        ns.run("env", "ACTION=add", "bash", "-c", IFUP_ROUTES, "ifup-routes", *route_files)
        if eni.mac in groups:
            ns.run("sh", "-c", f"echo {groups[eni.mac]} > /sys/class/net/{dev}/netdev_group")


def ifdown_rules(ns: Namespace, plan: InstancePlan, scripts: Path) -> None:
    for eni in plan.enis:
        rule_files = [
            str(path)
            for kind in ("rule", "rule6")
            if (path := scripts / f"{kind}-{name_hint(eni)}").exists()
        ]
        ns.run("env", "ACTION=del", "bash", "-c", IFUP_ROUTES, "ifdown-routes", *rule_files)


def route_get(ns: Namespace, *args: str) -> dict[str, str]:
    routes = ns.ip_json("route", "get", *args)
    assert len(routes) == 1
    route: dict[str, str] = routes[0]
    return route


@pytest.mark.parametrize("name", ["centos7-same-24", "rhel-same-20", "multi-subnet"])
def test_network_scripts_give_the_planned_rules_and_routes(
    sandbox_plans: dict[str, InstancePlan], name: str, tmp_path: Path
) -> None:
    plan = sandbox_plans[name]
    assert plan.guard is not None
    scripts = write_files(plan, tmp_path)
    with Namespace() as ns:
        ns.add_enis(plan, names=[name_hint(eni) for eni in plan.enis])
        ifup(ns, plan, scripts, tmp_path / UDEV_RULE.lstrip("/"))

        assert rules_state(ns, plan) == expected_rules(plan)
        # the one thing route6- files cannot hold: the IPv6 default route via the router
        # that router advertisements announce (fe80::1 in the harness)
        via_ra = {
            (route.table, str(route.destination), "fe80::1", eni.mac, None)
            for eni in plan.enis
            for route in eni.routes
            if route.via_ra
        }
        assert routes_state(ns, plan) == expected_routes(plan) - via_ra
        assert via_ra == (
            {(10001, "::/0", "fe80::1", plan.enis[1].mac, None)}
            if name == "multi-subnet"
            else set()
        )
        groups = link_groups(ns)
        assert all(groups[eni.mac] == plan.guard.group for eni in plan.enis)

        # replies leave through the ENI that owns the source address
        for eni in plan.enis:
            owned = [a.ip for a in eni.ipv4_addresses] + [eni.primary_ipv4]
            for address in {str(a) for a in owned if a is not None}:
                route = route_get(ns, "198.51.100.7", "from", address)
                assert (route["dev"], route.get("gateway")) == (name_hint(eni), str(eni.router))
                assert eni.subnet_cidr is not None
                peer = str(eni.subnet_cidr.network_address + 200)
                route = route_get(ns, peer, "from", address)
                assert (route["dev"], route.get("gateway")) == (name_hint(eni), None)
            for address6 in eni.ipv6_addresses:
                # falls through table 10001 (no default route) to main's RA default route
                route = route_get(ns, "2001:db8::7", "from", str(address6.ip))
                assert (route["dev"], route.get("gateway")) == (name_hint(eni), "fe80::1")

        # ifdown-routes removes exactly the rules ifup-routes added
        ifdown_rules(ns, plan, scripts)
        assert rules_state(ns, plan) == set()
