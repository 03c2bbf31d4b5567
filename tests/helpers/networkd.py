"""networkd files for the networkd and netplan tests: a tiny parser and a normal form
(`parse_unit`, `merge`, `normalise`: the netplan tests compare `netplan generate`'s output
with the networkd target through them), what the plan says computed from the plan alone, and
a lab running the real systemd-networkd in network namespaces (`NetworkdLab`).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from ipaddress import (
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_interface,
    ip_network,
)
from pathlib import Path
from typing import Any

import pytest

from eniplan.ownership import OsGuess
from eniplan.plan import MANAGED, EniPlan, InstancePlan, Route, Rule
from eniplan.render import networkd
from eniplan.render.base import RenderedFile

MANAGED_PLANS = ("centos7-same-24", "rhel-same-20", "web-balanced", "app-check-disabled",
                 "multi-subnet")  # fmt: skip
DEBIAN_12 = OsGuess("debian", "12", "test")
UBUNTU_22 = OsGuess("ubuntu", "22.04", "test")

Unit = list[tuple[str, list[tuple[str, str]]]]


# --- a tiny parser and a normal form for networkd files ---------------------------------


def parse_unit(content: str) -> Unit:
    """[(section, [(key, value), ...]), ...] in file order; repeated sections stay apart."""
    sections: Unit = []
    for raw in content.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], []))
            continue
        assert sections, f"a setting before any section: {raw!r}"
        assert "=" in line, f"not a Key=value line: {raw!r}"
        assert not line.endswith("\\"), f"a continuation line: {raw!r}"
        key, value = line.split("=", 1)
        sections[-1][1].append((key.strip(), value.strip()))
    return sections


def merge(*units: Unit) -> Unit:
    """A .network file and its drop-ins, in the order networkd reads them."""
    return [section for unit in units for section in unit]


_TRUE = {"yes", "true", "1", "on"}
_FALSE = {"no", "false", "0", "off"}


def _bool(value: str) -> bool:
    assert value in _TRUE | _FALSE, value
    return value in _TRUE


def _table(value: str) -> int:
    return {"main": 254, "local": 255, "default": 253}.get(value) or int(value)


def _settings(unit: Unit, name: str) -> dict[str, str]:
    """The last value of each key over every section of that name (networkd's merge of
    single-valued settings); [DHCP] is the old name of [DHCPv4]."""
    names = {"DHCPv4", "DHCP"} if name == "DHCPv4" else {name}
    merged: dict[str, str] = {}
    for section, settings in unit:
        if section in names:
            merged.update(settings)
    return merged


def _rule(settings: list[tuple[str, str]]) -> tuple[Any, ...]:
    values = dict(settings)
    source = ip_network(values["From"], strict=False) if "From" in values else None
    family = {"ipv4": 4, "ipv6": 6, "both": 46}[values.get("Family", "ipv4")]
    if source is not None:
        family = source.version
    return (
        source,
        ip_network(values["To"], strict=False) if "To" in values else None,
        _table(values.get("Table", "main")),
        int(values["Priority"]) if "Priority" in values else None,
        int(values["SuppressInterfaceGroup"]) if "SuppressInterfaceGroup" in values else None,
        family,
    )


def _route(settings: list[tuple[str, str]]) -> tuple[Any, ...]:
    values = dict(settings)
    gateway = ip_address(values["Gateway"]) if "Gateway" in values else None
    destination = ip_network(
        values.get("Destination", "::/0" if gateway and gateway.version == 6 else "0.0.0.0/0")
    )
    scope = values.get("Scope")
    if destination.version == 6:
        scope = None  # networkd ignores Scope= on IPv6 routes
    elif scope is None and gateway is None:
        scope = "link"  # networkd's default for an IPv4 route without a gateway
    return (
        destination,
        gateway,
        _bool(values.get("GatewayOnLink", "no")),
        _table(values.get("Table", "main")),
        ip_address(values["PreferredSource"]) if "PreferredSource" in values else None,
        scope,
    )


def normalise(unit: Unit) -> dict[str, Any]:
    """What a .network file (with its drop-ins merged) configures, as comparable values."""
    match = _settings(unit, "Match")
    network = [kv for section, settings in unit if section == "Network" for kv in settings]
    network_last = dict(network)
    dhcp4 = _settings(unit, "DHCPv4")
    ra = _settings(unit, "IPv6AcceptRA")
    link = _settings(unit, "Link")
    dhcp = network_last.get("DHCP", "no")
    return {
        "mac": match.get("MACAddress") or match.get("PermanentMACAddress"),
        "dhcp4": dhcp in ("ipv4", "yes", "true"),
        "addresses": frozenset(ip_interface(v) for k, v in network if k == "Address"),
        "accept_ra": (
            _bool(network_last["IPv6AcceptRA"]) if "IPv6AcceptRA" in network_last else None
        ),
        "use_routes": _bool(dhcp4.get("UseRoutes", "yes")),
        "use_hostname": _bool(dhcp4.get("UseHostname", "yes")),
        "use_mtu": _bool(dhcp4.get("UseMTU", "no")),
        "group": int(link["Group"]) if "Group" in link else None,
        "ra_table": _table(ra["RouteTable"]) if "RouteTable" in ra else None,
        "rules": frozenset(_rule(s) for name, s in unit if name == "RoutingPolicyRule"),
        "routes": frozenset(_route(s) for name, s in unit if name == "Route"),
    }


# --- what the plan says, computed from the plan alone -----------------------------------


def expected(plan: InstancePlan, eni: EniPlan, guard: bool) -> dict[str, Any]:
    dhcp4 = eni.primary_ipv4 is not None
    addresses = {a for a in eni.ipv4_addresses if not (dhcp4 and a.ip == eni.primary_ipv4)}
    ipv6 = bool(eni.ipv6_addresses) or any(route.via_ra for route in eni.routes)
    rules: set[tuple[Any, ...]] = {
        (r.source, None, r.table, r.priority, None, r.family) for r in eni.rules
    }
    if guard and eni.is_primary:
        assert plan.guard is not None
        family = 46 if any(rule.family == 6 for rule in plan.rules) else 4
        rules.add((None, None, 254, plan.guard.priority, plan.guard.group, family))
    routes = {
        (
            route.destination,
            route.gateway,
            route.gateway is not None,
            route.table,
            route.source,
            "link" if route.family == 4 and route.gateway is None else None,
        )
        for route in eni.routes
        if not route.via_ra
    }
    return {
        "mac": eni.mac,
        "dhcp4": dhcp4,
        "addresses": frozenset(addresses | set(eni.ipv6_addresses)),
        "accept_ra": True if ipv6 else (None if eni.is_primary else False),
        "use_routes": eni.is_primary or not dhcp4,
        "use_hostname": eni.is_primary or not dhcp4,
        "use_mtu": dhcp4,
        "group": plan.guard.group if guard and plan.guard else None,
        "ra_table": eni.table if ipv6 and not eni.is_primary else None,
        "rules": frozenset(rules),
        "routes": frozenset(routes),
    }


def text(file: RenderedFile) -> str:
    """The content of a text file (these targets write no binary files)."""
    content = file.content
    assert isinstance(content, str), file.path
    return content


PRIMARY_IPV6_BLOCK = IPv6Network("2400:6500:a9b6:9300::/64")
EDGE_PLANS = ("ipv6-primary", "ipv6-only-secondary")


def edge_plan(plans: Mapping[str, InstancePlan], name: str) -> InstancePlan:
    """Shapes the sandbox lacks, made from multi-subnet: "ipv6-primary" (the primary's
    subnet has an IPv6 block and the primary an address in it: RA default via the primary)
    and "ipv6-only-secondary" (the secondary ENI has IPv6 only: no DHCPv4)."""
    plan = plans["multi-subnet"]
    primary = next(eni for eni in plan.enis if eni.is_primary)
    secondary = next(eni for eni in plan.enis if not eni.is_primary)
    if name == "ipv6-primary":
        table = primary.table
        address = IPv6Interface("2400:6500:a9b6:9300::10/64")
        primary = dataclasses.replace(
            primary,
            ipv6_subnets=(PRIMARY_IPV6_BLOCK,),
            ipv6_addresses=(address,),
            rules=(*primary.rules, Rule(IPv6Network(address.ip), table, table)),
            routes=(
                *primary.routes,
                Route(IPv6Network("::/0"), table, via_ra=True),
                Route(PRIMARY_IPV6_BLOCK, table),
            ),
        )
    elif name == "ipv6-only-secondary":
        secondary = dataclasses.replace(
            secondary,
            subnet_cidr=None,
            router=None,
            primary_ipv4=None,
            ipv4_addresses=(),
            rules=tuple(rule for rule in secondary.rules if rule.family == 6),
            routes=tuple(route for route in secondary.routes if route.family == 6),
        )
    else:
        raise KeyError(name)
    return dataclasses.replace(plan, enis=(primary, secondary))


def lab_plan(plans: Mapping[str, InstancePlan], name: str) -> InstancePlan:
    """A sandbox plan or an edge plan, on Debian 12 (systemd 252: the guard is written)."""
    plan = edge_plan(plans, name) if name in EDGE_PLANS else plans[name]
    return with_os(plan, DEBIAN_12)


def managed(plans: Mapping[str, InstancePlan]) -> list[InstancePlan]:
    result = [plans[name] for name in MANAGED_PLANS]
    assert all(plan.status == MANAGED for plan in result)
    return result


def with_os(plan: InstancePlan, os_guess: OsGuess) -> InstancePlan:
    return dataclasses.replace(plan, os=os_guess)


def units_by_mac(texts: Iterable[str]) -> dict[str, dict[str, Any]]:
    result = {}
    for text in texts:
        got = normalise(parse_unit(text))
        result[got["mac"]] = got
    return result


# --- the real systemd-networkd, in network namespaces -----------------------------------
#
# Two namespaces: "vpc" holds a bridge per subnet with the subnet router's address, where a
# second networkd is the subnet's DHCP server (a static lease per ENI: its primary IPv4)
# and IPv6 router (router advertisements); "instance" holds one veth per ENI with the ENI's
# MAC, plugged into its subnet's bridge, and a networkd that reads the files under test.
# Each networkd runs in the mount namespace of its `ip netns exec`, with its own /run and
# config directories bind-mounted there, and /sys read-only so that it does not wait for
# udev. Nothing of the root namespace is touched.

NETWORKD = Path("/lib/systemd/systemd-networkd")

_START_NETWORKD = """set -e
mount -o remount,ro /sys
mount -t tmpfs tmpfs /run/systemd
mkdir -p /run/systemd/network
if [ -n "$RUN_DIR" ]; then mount --bind "$RUN_DIR" /run/systemd/network; fi
mount --bind "$ETC_DIR" /etc/systemd/network
mount -t tmpfs tmpfs /usr/lib/systemd/network
exec "$NETWORKD"
"""


def networkd_lab_available() -> bool:
    from tests.helpers.netns import netns_available

    return NETWORKD.exists() and netns_available() and shutil.which("unshare") is not None


requires_networkd_lab = pytest.mark.skipif(
    not networkd_lab_available(), reason="needs root, network namespaces and systemd-networkd"
)


def _vpc_network(bridge: str, enis: list[EniPlan]) -> str:
    first = enis[0]
    assert first.router is not None and first.subnet_cidr is not None
    lines = [
        "[Match]",
        f"Name={bridge}",
        "[Network]",
        f"Address={first.router}/{first.subnet_cidr.prefixlen}",
        "DHCPServer=yes",
        "ConfigureWithoutCarrier=yes",
        "LinkLocalAddressing=ipv6",
        "IPv6AcceptRA=no",
    ]
    if first.ipv6_subnets:
        lines.append("IPv6SendRA=yes")
    lines += ["[DHCPServer]", "EmitDNS=no", "DefaultLeaseTimeSec=3600"]
    for eni in enis:
        lines += ["[DHCPServerStaticLease]", f"MACAddress={eni.mac}", f"Address={eni.primary_ipv4}"]
    for prefix in first.ipv6_subnets:
        # as EC2's: on-link, no SLAAC (addresses come from DHCPv6 or, here, the files)
        lines += ["[IPv6Prefix]", f"Prefix={prefix}", "AddressAutoconfiguration=no"]
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class LabState:
    rules: set[tuple[Any, ...]]
    routes: set[tuple[Any, ...]]
    groups: dict[str, int]
    addresses: dict[str, set[Any]]
    main_defaults: dict[int, set[str]]  # family -> MACs of the links with a default in main
    log: str


class NetworkdLab:
    def __init__(self, plan: InstancePlan, work: Path) -> None:
        from tests.helpers.netns import Namespace

        self.plan = plan
        self.work = work
        self.vpc = Namespace("eniplan-vpc")
        self.instance = Namespace("eniplan-inst")
        self.processes: list[tuple[subprocess.Popen[str], Path]] = []

    def __enter__(self) -> NetworkdLab:
        self.vpc.__enter__()
        self.instance.__enter__()
        try:
            self._build()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _build(self) -> None:
        subnets: dict[str, list[EniPlan]] = {}
        for eni in self.plan.enis:
            subnets.setdefault(eni.subnet_id, []).append(eni)
        vpc_etc = self.work / "vpc-etc"
        vpc_etc.mkdir(parents=True)
        self.bridge_of: dict[str, str] = {}
        for number, (_, enis) in enumerate(sorted(subnets.items())):
            bridge = f"br{number}"
            self.vpc.run("ip", "link", "add", bridge, "type", "bridge", "stp_state", "0")
            (vpc_etc / f"10-{bridge}.network").write_text(_vpc_network(bridge, enis))
            for eni in enis:
                self.bridge_of[eni.mac] = bridge
        for index, eni in enumerate(sorted(self.plan.enis, key=lambda e: e.table)):
            name, peer = f"ens{5 + index}", f"vpc{index}"
            self.instance.run("ip", "link", "add", name, "address", eni.mac, "type", "veth",
                              "peer", "name", peer)  # fmt: skip
            self.instance.run("ip", "link", "set", peer, "netns", self.vpc.name)
            self.vpc.run("ip", "link", "set", peer, "master", self.bridge_of[eni.mac], "up")
        self._start(self.vpc.name, vpc_etc, None, "vpc")

    def start_instance(
        self, etc_dir: Path, network_names: Iterable[str], run_dir: Path | None = None
    ) -> None:
        """networkd with the files under test. networkd's DHCP server keys a static lease
        by the client identifier 01:MAC while EC2's keys it by the hardware address: a lab
        drop-in per file makes the client send that identifier (nothing else changes)."""
        etc_dir.mkdir(parents=True, exist_ok=True)
        for name in network_names:
            dropin = etc_dir / f"{name}.d" / "99-lab-client-identifier.conf"
            dropin.parent.mkdir(parents=True, exist_ok=True)
            dropin.write_text("[DHCPv4]\nClientIdentifier=mac\n")
        self._start(self.instance.name, etc_dir, run_dir, "instance")

    def _start(self, namespace: str, etc_dir: Path, run_dir: Path | None, label: str) -> None:
        log = self.work / f"networkd-{label}.log"
        environment = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "ETC_DIR": str(etc_dir),
            "RUN_DIR": str(run_dir or ""),
            "NETWORKD": str(NETWORKD),
            "SYSTEMD_LOG_LEVEL": "debug",
        }
        with log.open("w") as output:
            process = subprocess.Popen(
                ["ip", "netns", "exec", namespace, "sh", "-c", _START_NETWORKD],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=environment,
                text=True,
            )
        self.processes.append((process, log))

    def __exit__(self, *exc: object) -> None:
        for process, _ in self.processes:  # only the processes this lab started
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        self.instance.__exit__()
        self.vpc.__exit__()

    def state(self) -> LabState:
        from tests.helpers.netns import link_groups, routes_state, rules_state

        names = self.instance.link_names_by_mac()
        macs = {name: mac for mac, name in names.items()}
        addresses: dict[str, set[Any]] = {eni.mac: set() for eni in self.plan.enis}
        for link in self.instance.ip_json("addr", "show"):
            for info in link.get("addr_info", []):
                if info.get("scope") == "global" and link["address"] in addresses:
                    addresses[link["address"]].add(
                        ip_interface(f"{info['local']}/{info['prefixlen']}")
                    )
        main_defaults: dict[int, set[str]] = {4: set(), 6: set()}
        for family in (4, 6):
            for route in self.instance.ip_json(f"-{family}", "route", "show", "default"):
                main_defaults[family].add(macs.get(route.get("dev"), route.get("dev")))
        logs = "".join(log.read_text() for _, log in self.processes)
        return LabState(
            rules=rules_state(self.instance, self.plan),
            routes=routes_state(self.instance, self.plan),
            groups={mac: group for mac, group in link_groups(self.instance).items()
                    if mac in addresses},
            addresses=addresses,
            main_defaults=main_defaults,
            log=logs,
        )  # fmt: skip

    def router_link_local(self, timeout: float = 20.0) -> dict[str, str]:
        """The link-local address of each ENI's subnet router (its bridge), once the VPC's
        networkd has brought the bridges up."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            found = {}
            for mac, bridge in self.bridge_of.items():
                shown = self.vpc.ip_json("-6", "addr", "show", "dev", bridge, "scope", "link")
                for link in shown:
                    for info in link.get("addr_info", []):
                        found[mac] = info["local"]
            if len(found) == len(self.bridge_of) or time.monotonic() > deadline:
                assert len(found) == len(self.bridge_of), "the VPC's bridges did not come up"
                return found
            time.sleep(0.2)

    def wait_for(self, expected: LabState, timeout: float = 45.0) -> LabState:
        import time

        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if _lab_key(state) == _lab_key(expected) or time.monotonic() > deadline:
                return state
            time.sleep(0.5)


def _lab_key(state: LabState) -> tuple[Any, ...]:
    return (state.rules, state.routes, state.groups, state.addresses, state.main_defaults)


def expected_lab_state(plan: InstancePlan, router_link_local: dict[str, str]) -> LabState:
    """What the kernel must hold once networkd has applied the files, DHCP and RAs."""
    from tests.helpers.netns import expected_rules

    rules = expected_rules(plan)
    routes = set()
    for eni in plan.enis:
        for route in eni.routes:
            if route.via_ra and eni.is_primary:
                continue  # the primary's IPv6 default stays in main (see networkd.py)
            gateway = (
                router_link_local[eni.mac]
                if route.via_ra
                else str(route.gateway)
                if route.gateway
                else None
            )
            source = str(route.source) if route.source else None
            routes.add((route.table, str(route.destination), gateway, eni.mac, source))
    primary = next(eni for eni in plan.enis if eni.is_primary)
    addresses = {}
    for eni in plan.enis:
        assert eni.primary_ipv4 is not None and eni.subnet_cidr is not None
        dhcp = ip_interface(f"{eni.primary_ipv4}/{eni.subnet_cidr.prefixlen}")
        addresses[eni.mac] = {dhcp, *eni.ipv4_addresses, *eni.ipv6_addresses}
    return LabState(
        rules=rules,
        routes=routes,
        groups={eni.mac: plan.guard.group for eni in plan.enis} if plan.guard else {},
        addresses=addresses,
        main_defaults={4: {primary.mac}, 6: {primary.mac} if has_ipv6_default(primary) else set()},
        log="",
    )  # fmt: skip


def has_ipv6_default(eni: EniPlan) -> bool:
    return any(route.via_ra for route in eni.routes)


def assert_lab_state(state: LabState, expected: LabState) -> None:
    assert state.rules == expected.rules, state.log[-4000:]
    assert state.routes == expected.routes, state.log[-4000:]
    assert state.groups == expected.groups
    assert state.addresses == expected.addresses
    assert state.main_defaults == expected.main_defaults
    assert "Unknown key" not in state.log and "Unknown section" not in state.log
    assert "ignoring assignment" not in state.log


def variants(plans: dict[str, InstancePlan]) -> list[InstancePlan]:
    """Every managed sandbox plan as planned, again as if on Debian 12 (guard on) where
    it was not, and the edge plans (IPv6 on the primary, an IPv6-only secondary)."""
    result = []
    for plan in managed(plans):
        result.append(plan)
        if not networkd.guard_written(plan):
            result.append(with_os(plan, DEBIAN_12))
    return result + [edge_plan(plans, name) for name in EDGE_PLANS]
