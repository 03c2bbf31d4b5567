"""RHEL/CentOS network-scripts, applied on the real kernel the way initscripts would.

In a network namespace with one link per ENI (named eth0, eth1, ... as the files expect,
MACs from the plan), for every ENI in order: the DHCP address, the IPv6 addresses of its
ifcfg file (ifup-ipv6), the alias files (ifup-aliases), then route-, route6-, rule- and
rule6- through the loop of initscripts' ifup-routes (`ip [-6] route|rule add $line` for
every line that is not a comment), and the udev rule's netdev group. The kernel's rules and
routes must then be the plan's.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from ipaddress import IPv4Interface
from pathlib import Path

import pytest
from netns import (
    Namespace,
    expected_routes,
    expected_rules,
    link_groups,
    requires_netns,
    routes_state,
    rules_state,
)

from eniplan.errors import InputError
from eniplan.plan import InstancePlan
from eniplan.render import ifcfg
from eniplan.render.base import Rendering, RenderOptions, marker

MANAGED = ["centos7-same-24", "rhel-same-20", "web-balanced", "app-check-disabled", "multi-subnet"]
SCRIPTS = "/etc/sysconfig/network-scripts"
UDEV_RULE = "/etc/udev/rules.d/61-eniplan-netdev-group.rules"

# initscripts' ifup-routes (handle_ip_file), with failures made fatal for the test
IFUP_ROUTES = r"""
MATCH='^[[:space:]]*(\#.*)?$'
handle_ip_file() {
    local f t type file=$1 proto="-4"
    f=${file##*/}
    t=${f%%-*}
    type=${t%%6}
    if [ "$type" != "$t" ]; then
        proto="-6"
    fi
    { cat "$file" ; echo ; } | while read line; do
        if [[ ! "$line" =~ $MATCH ]]; then
            ip $proto $type $ACTION $line || exit 1
        fi
    done
}
for file in "$@"; do
    handle_ip_file "$file" || exit 1
done
"""


def rendering(plan: InstancePlan) -> Rendering:
    return ifcfg.render(plan, RenderOptions())


def files_of(plan: InstancePlan) -> dict[str, str]:
    files = {}
    for file in rendering(plan).files:
        assert isinstance(file.content, str)
        files[file.path] = file.content
    return files


def source(path: Path, *names: str) -> dict[str, str]:
    """Variables of a shell-sourced file, as initscripts read them."""
    script = '. "$1"; shift; for name; do eval "printf \'%s\\n\' \\"\\${$name-}\\""; done'
    out = subprocess.run(
        ["sh", "-c", script, "sh", str(path), *names],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(zip(names, out.split("\n"), strict=False))


def write_files(plan: InstancePlan, directory: Path) -> Path:
    """The rendered files under directory, by their path on the instance."""
    for file in rendering(plan).files:
        target = directory / file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        assert isinstance(file.content, str)
        target.write_text(file.content)
        target.chmod(file.mode)
    return directory / SCRIPTS.lstrip("/")


# --- the files ----------------------------------------------------------------------------


def test_files_per_plan(sandbox_plans: dict[str, InstancePlan]) -> None:
    names = {
        path.removeprefix(f"{SCRIPTS}/")
        for path in files_of(sandbox_plans["centos7-same-24"])
        if path.startswith(SCRIPTS)
    }
    # no ifcfg-eth0: the image owns it; the guard lives in rule-eth0 and rule6-eth0
    assert names == {
        "route-eth0",
        "rule-eth0",
        "rule6-eth0",
        "ifcfg-eth1",
        "route-eth1",
        "rule-eth1",
    }
    names = {
        path.removeprefix(f"{SCRIPTS}/")
        for path in files_of(sandbox_plans["multi-subnet"])
        if path.startswith(SCRIPTS)
    }
    assert names == {
        "ifcfg-eth0:1", "route-eth0", "rule-eth0", "rule6-eth0",
        "ifcfg-eth1", "ifcfg-eth1:1", "ifcfg-eth1:2",
        "route-eth1", "route6-eth1", "rule-eth1", "rule6-eth1",
    }  # fmt: skip
    for name in MANAGED:
        for file in rendering(sandbox_plans[name]).files:
            assert file.mode == 0o644
            assert isinstance(file.content, str)
            assert file.content.splitlines()[0] == marker(sandbox_plans[name])


def test_seed_lines(sandbox_plans: dict[str, InstancePlan]) -> None:
    """The lines of the AWS seed articles, with eniplan's tables and priorities."""
    files = files_of(sandbox_plans["centos7-same-24"])

    def lines(name: str) -> list[str]:
        return [
            line for line in files[f"{SCRIPTS}/{name}"].splitlines() if not line.startswith("#")
        ]

    assert lines("route-eth1") == [
        "default via 10.0.0.1 dev eth1 table 10001",
        "10.0.0.0/24 dev eth1 src 10.0.0.254 table 10001",
    ]
    assert lines("rule-eth1") == ["from 10.0.0.254 lookup 10001 priority 10001"]
    assert lines("rule-eth0") == [
        "lookup main suppress_ifgroup 10000 priority 9999",
        "from 10.0.0.124 lookup 10000 priority 10000",
    ]
    assert lines("rule6-eth0") == ["lookup main suppress_ifgroup 10000 priority 9999"]


@pytest.mark.parametrize("name", MANAGED)
def test_ifcfg_files_as_initscripts_read_them(
    sandbox_plans: dict[str, InstancePlan], name: str, tmp_path: Path
) -> None:
    plan = sandbox_plans[name]
    scripts = write_files(plan, tmp_path)
    for eni in plan.enis:
        dev = eni.name_hint
        if eni.is_primary:
            assert not (scripts / f"ifcfg-{dev}").exists()
        else:
            settings = source(
                scripts / f"ifcfg-{dev}",
                "DEVICE", "HWADDR", "BOOTPROTO", "DEFROUTE", "ONBOOT", "IPV6INIT", "IPV6ADDR",
                "IPV6ADDR_SECONDARIES",
            )  # fmt: skip
            assert settings["DEVICE"] == dev
            assert settings["HWADDR"] == eni.mac
            assert settings["BOOTPROTO"] == "dhcp"
            assert settings["DEFROUTE"] == "no"
            assert settings["ONBOOT"] == "yes"
            addresses6 = [str(a) for a in eni.ipv6_addresses]
            assert settings["IPV6INIT"] == ("yes" if addresses6 else "no")
            got6 = [settings["IPV6ADDR"], *settings["IPV6ADDR_SECONDARIES"].split()]
            assert [a for a in got6 if a] == addresses6
        aliases = sorted(scripts.glob(f"ifcfg-{dev}:*"))
        got = []
        for n, alias in enumerate(aliases, 1):
            settings = source(alias, "DEVICE", "IPADDR", "PREFIX", "NO_ALIASROUTING")
            assert settings["DEVICE"] == f"{dev}:{n}"
            assert settings["NO_ALIASROUTING"] == "yes"
            got.append(f"{settings['IPADDR']}/{settings['PREFIX']}")
        assert got == [str(a) for a in eni.ipv4_addresses if a.ip != eni.primary_ipv4]


def test_notes_and_activation(sandbox_plans: dict[str, InstancePlan]) -> None:
    result = rendering(sandbox_plans["multi-subnet"])
    notes = " ".join(result.notes)
    assert "NetworkManager" in notes and "--target networkmanager" in notes
    assert "NetworkManager-dispatcher-routing-rules" in notes
    assert "cannot be expressed: the IPv6 default route of table(s) 10001" in notes
    assert "61-eniplan-netdev-group.rules" in notes
    activate = list(result.activate)
    # the primary: addresses, routes and rules without taking the link down
    assert f"{SCRIPTS}/ifup-aliases eth0" in activate
    assert f"{SCRIPTS}/ifup-routes eth0" in activate
    assert "ifup eth0" not in activate
    assert activate[-1] == "ifup eth1"


def test_without_guard_no_guard_lines(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = dataclasses.replace(sandbox_plans["centos7-same-24"], guard=None)
    files = files_of(plan)
    assert UDEV_RULE not in files
    assert f"{SCRIPTS}/rule6-eth0" not in files
    assert "suppress_ifgroup" not in files[f"{SCRIPTS}/rule-eth0"].replace("# ", "")


def test_only_static_mode(sandbox_plans: dict[str, InstancePlan]) -> None:
    with pytest.raises(InputError, match="static"):
        ifcfg.render(sandbox_plans["rhel-same-20"], RenderOptions(mode="dynamic"))


def test_a_value_with_a_newline_never_reaches_a_file(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = sandbox_plans["rhel-same-20"]
    bad = dataclasses.replace(plan.enis[1], eni_id="eni-0aa9a47dd3eddbb93\nONBOOT=no")
    with pytest.raises(AssertionError, match="unsafe value"):
        ifcfg.render(dataclasses.replace(plan, enis=(plan.enis[0], bad)), RenderOptions())


# --- on the real kernel -------------------------------------------------------------------


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
        dev = eni.name_hint
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
            if (path := scripts / f"{kind}-{eni.name_hint}").exists()
        ]
        ns.run("env", "ACTION=del", "bash", "-c", IFUP_ROUTES, "ifdown-routes", *rule_files)


def route_get(ns: Namespace, *args: str) -> dict[str, str]:
    routes = ns.ip_json("route", "get", *args)
    assert len(routes) == 1
    route: dict[str, str] = routes[0]
    return route


@requires_netns
@pytest.mark.netns
@pytest.mark.parametrize("name", ["centos7-same-24", "rhel-same-20", "multi-subnet"])
def test_network_scripts_give_the_planned_rules_and_routes(
    sandbox_plans: dict[str, InstancePlan], name: str, tmp_path: Path
) -> None:
    plan = sandbox_plans[name]
    assert plan.guard is not None
    scripts = write_files(plan, tmp_path)
    with Namespace() as ns:
        ns.add_enis(plan, names=[eni.name_hint for eni in plan.enis])
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
                assert (route["dev"], route.get("gateway")) == (eni.name_hint, str(eni.router))
                assert eni.subnet_cidr is not None
                peer = str(eni.subnet_cidr.network_address + 200)
                route = route_get(ns, peer, "from", address)
                assert (route["dev"], route.get("gateway")) == (eni.name_hint, None)
            for address6 in eni.ipv6_addresses:
                # falls through table 10001 (no default route) to main's RA default route
                route = route_get(ns, "2001:db8::7", "from", str(address6.ip))
                assert (route["dev"], route.get("gateway")) == (eni.name_hint, "fe80::1")

        # ifdown-routes removes exactly the rules ifup-routes added
        ifdown_rules(ns, plan, scripts)
        assert rules_state(ns, plan) == set()
