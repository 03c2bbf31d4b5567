"""The emulated VPC: what the lab builds (pure `design`) and building it (`Lab`).

    vpc namespace (the VPC router, ip_forward=1, nftables `bridge` table eniplan_lab)
      br0 = subnet A, owns the router address (base + 1)   br1 = subnet B ...
        |- p-ens5 ==veth== ens5  (instance namespace: MAC and boot address of ENI 0)
        |- p-ens6 ==veth== ens6  (ENI 1)
        |- peer0  ==veth== eth0  (a peer host in subnet A)
      remote ==veth== eth0 (remote host beyond the router; also owns the static route's
                            destination, 203.0.113.10)
    instance namespace: rp_filter=1, default route via subnet A's router, a docker0-like
      bridge with one container namespace, and a user's static route in the main table.

For the dynamic target (`Lab.serve_imds`), the instance metadata service answers at
169.254.169.254:80 in the vpc namespace (on br0, the primary ENI's subnet), and the
instance has the route EC2's DHCP gives it: `169.254.169.254 dev ens5` in main.

The nftables table enforces what the VPC enforces (eniplan/lab/nft.py): the source/dest
check and ARP ownership. Only the lab's own namespaces are touched; every name carries
the run's unique ID.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from types import FrameType
from typing import Any

from eniplan.lab import nft as nft_rules
from eniplan.lab import shell
from eniplan.lab.imds import write_tree
from eniplan.lab.shell import NAME_PREFIX, LabError
from eniplan.plan import MANAGED, InstancePlan

FIRST_ENS = 5  # EC2's Nitro images name device 0 ens5, device 1 ens6, ...
TCP_PORT = 8007  # the instance's TCP listener for the probes
AGENT = Path(__file__).with_name("agent.py")
IMDS_SERVER = Path(__file__).with_name("imds.py")
IMDS_ADDRESS = IPv4Address("169.254.169.254")  # link-local, as on EC2
IMDS_PORT = 80
IMDS_TREE = "imds-tree.json"
IMDS_USER_DATA = "imds-user-data"
DHCP_HOSTS = "dhcp-hosts"  # lab --boot: dnsmasq's fixed leases
OWNER = "owner"  # in the state directory: the lab's process (pid and start time)

# Addresses of the lab's own hosts: the first block that overlaps none of the instance's
# subnets is taken (documentation and benchmarking blocks first).
REMOTE_LINKS = ("198.51.100.0/30", "192.0.2.0/30", "198.18.255.0/30", "100.127.255.0/30")
STATIC_NETS = ("203.0.113.0/24", "198.19.255.0/24", "100.126.0.0/24")
DOCKER_NETS = ("172.17.0.0/16", "172.18.0.0/16", "192.168.240.0/24", "100.125.0.0/24")
ROUTER_MAC = "0a:e1:1a:b0:00:{:02x}"
PEER_MAC = "0a:e1:1a:b0:01:{:02x}"


@dataclass(frozen=True)
class EniPort:
    """One ENI as the lab wires it: a veth pair, `ifname` in the instance namespace (with
    the ENI's MAC), `port` on its subnet's bridge."""

    eni_id: str
    mac: str
    ifname: str
    port: str
    lan: int  # index into Topology.lans
    boot: IPv4Interface  # what DHCP gives the interface at boot: the primary IPv4
    addresses: tuple[IPv4Address, ...]  # every IPv4 address it owns, primary first
    prefixes: tuple[IPv4Network, ...]  # delegated IPv4 prefixes it owns
    table: int
    source_dest_check: bool = True  # as the inventory says (the VPC enforces it per ENI)


@dataclass(frozen=True)
class Lan:
    """A subnet: a bridge in the vpc namespace owning the router address, and a peer."""

    subnet_id: str
    cidr: IPv4Network
    bridge: str
    router: IPv4Interface
    router_mac: str
    peer_ns: str
    peer_port: str
    peer: IPv4Interface
    peer_mac: str


@dataclass(frozen=True)
class Topology:
    run_id: str
    vpc_ns: str
    instance_ns: str
    remote_ns: str
    container_ns: str
    lans: tuple[Lan, ...]
    enis: tuple[EniPort, ...]
    remote_router: IPv4Interface  # the vpc side of the link to the remote host
    remote: IPv4Interface
    static_net: IPv4Network  # the user's static route in the instance's main table
    static_target: IPv4Address  # owned by the remote host
    docker_gateway: IPv4Interface  # docker0's address
    container: IPv4Interface
    source_dest_check: bool = True
    rp_filter: int = 1

    @property
    def namespaces(self) -> tuple[str, ...]:
        peers = tuple(lan.peer_ns for lan in self.lans)
        return (self.vpc_ns, self.instance_ns, *peers, self.remote_ns, self.container_ns)

    @property
    def primary(self) -> EniPort:
        return self.enis[0]

    def lan(self, eni: EniPort) -> Lan:
        return self.lans[eni.lan]

    def eni_by_mac(self, mac: str) -> EniPort | None:
        return next((eni for eni in self.enis if eni.mac == mac), None)


def namespace_names(run_id: str) -> dict[str, str]:
    base = f"{NAME_PREFIX}-{run_id}"
    return {role: f"{base}-{role}" for role in ("vpc", "inst", "remote", "ctr")}


def _first_free(candidates: Sequence[str], taken: Sequence[IPv4Network], what: str) -> IPv4Network:
    for text in candidates:
        network = IPv4Network(text)
        if not any(network.overlaps(other) for other in taken):
            return network
    raise LabError(f"no free address block for the lab's {what}: the instance's subnets use all")


def free_host(cidr: IPv4Network, taken: set[IPv4Address], what: str) -> IPv4Address:
    """The first host from base + 4 (EC2 reserves base + 1 to + 3) that nobody owns."""
    for offset in range(4, cidr.num_addresses - 1):
        address = cidr.network_address + offset
        if address not in taken:
            return address
    raise LabError(f"subnet {cidr} has no free address for the lab's {what}")


def owned_addresses(plan: InstancePlan) -> set[IPv4Address]:
    owned: set[IPv4Address] = set()
    for eni in plan.enis:
        if eni.primary_ipv4 is not None:
            owned.add(eni.primary_ipv4)
        owned.update(address.ip for address in eni.ipv4_addresses)
        for rule in eni.rules:
            if isinstance(rule.source, IPv4Network):
                owned.update(rule.source)
    return owned


def design(
    plan: InstancePlan,
    run_id: str,
    *,
    previous: Topology | None = None,
    source_dest_check: bool = True,
    rp_filter: int = 1,
    taken: Sequence[IPv4Address] = (),
    unchecked: Collection[str] = (),
) -> Topology:
    """The lab for `plan` (pure). With `previous`, keeps its names, subnets and peers, so
    that the running lab can be rewired (ENIs detached and attached). `taken`: addresses
    that the lab's peers must not use (ENIs that come and go). `unchecked`: MACs of the
    ENIs whose source/dest check the inventory shows disabled."""
    if plan.status != MANAGED or not plan.enis:
        raise LabError(f"{plan.instance_id}: {plan.status}: {plan.reason}")
    names = namespace_names(run_id)
    owned = owned_addresses(plan) | set(taken)

    lans: list[Lan] = list(previous.lans) if previous else []
    enis: list[EniPort] = []
    used_names = {eni.ifname for eni in previous.enis} if previous else set()
    next_ens = FIRST_ENS
    for eni in plan.enis:
        if eni.primary_ipv4 is None or eni.subnet_cidr is None or eni.router is None:
            raise LabError(
                f"{plan.instance_id} {eni.eni_id}: no IPv4 address (IPv6-only subnet): "
                "the lab emulates IPv4 only"
            )
        cidr = eni.subnet_cidr
        index = next((i for i, lan in enumerate(lans) if lan.subnet_id == eni.subnet_id), None)
        if index is None:
            index = len(lans)
            peer = free_host(cidr, owned, "peer host")
            owned.add(peer)
            lans.append(
                Lan(
                    subnet_id=eni.subnet_id,
                    cidr=cidr,
                    bridge=f"br{index}",
                    router=IPv4Interface(f"{eni.router}/{cidr.prefixlen}"),
                    router_mac=ROUTER_MAC.format(index),
                    peer_ns=f"{NAME_PREFIX}-{run_id}-peer{index}",
                    peer_port=f"peer{index}",
                    peer=IPv4Interface(f"{peer}/{cidr.prefixlen}"),
                    peer_mac=PEER_MAC.format(index),
                )
            )
        old = previous.eni_by_mac(eni.mac) if previous else None
        if old is not None:
            ifname = old.ifname
        else:
            while f"ens{next_ens}" in used_names:
                next_ens += 1
            ifname = f"ens{next_ens}"
            used_names.add(ifname)
        addresses = [eni.primary_ipv4]
        addresses += [a.ip for a in eni.ipv4_addresses if a.ip not in addresses]
        prefixes = tuple(
            rule.source
            for rule in eni.rules
            if isinstance(rule.source, IPv4Network) and rule.source.prefixlen < 32
        )
        enis.append(
            EniPort(
                eni_id=eni.eni_id,
                mac=eni.mac,
                ifname=ifname,
                port=f"p-{ifname}",
                lan=index,
                boot=IPv4Interface(f"{eni.primary_ipv4}/{cidr.prefixlen}"),
                addresses=tuple(addresses),
                prefixes=prefixes,
                table=eni.table,
                source_dest_check=eni.mac not in unchecked,
            )
        )
    lab_macs = {lan.router_mac for lan in lans} | {lan.peer_mac for lan in lans}
    if any(eni.mac in lab_macs for eni in enis):
        raise LabError(f"{plan.instance_id}: an ENI's MAC is one the lab uses for its hosts")
    if previous:
        return replace(previous, lans=tuple(lans), enis=tuple(enis))
    subnets = [lan.cidr for lan in lans]
    remote_link = _first_free(REMOTE_LINKS, subnets, "remote host")
    static_net = _first_free(STATIC_NETS, [*subnets, remote_link], "static route")
    docker = _first_free(DOCKER_NETS, [*subnets, remote_link, static_net], "docker0 bridge")
    return Topology(
        run_id=run_id,
        vpc_ns=names["vpc"],
        instance_ns=names["inst"],
        remote_ns=names["remote"],
        container_ns=names["ctr"],
        lans=tuple(lans),
        enis=tuple(enis),
        remote_router=IPv4Interface(f"{remote_link.network_address + 1}/30"),
        remote=IPv4Interface(f"{remote_link.network_address + 2}/30"),
        static_net=static_net,
        static_target=static_net.network_address + 10,
        docker_gateway=IPv4Interface(f"{docker.network_address + 1}/{docker.prefixlen}"),
        container=IPv4Interface(f"{docker.network_address + 2}/{docker.prefixlen}"),
        source_dest_check=source_dest_check,
        rp_filter=rp_filter,
    )


# --- building it ------------------------------------------------------------------------


class LabInterrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a lab run: unwinds like Ctrl-C, so the lab is removed."""


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    del frame
    raise LabInterrupted(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP raise (SIGINT already does), so `finally` blocks run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    for sig in previous:
        signal.signal(sig, _raise_interrupted)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Stop signals wait until the block (the teardown) is done, then arrive."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def agent_command(*args: str) -> list[str]:
    """The probe agent (standard library only) run by this Python."""
    return [sys.executable, "-I", "-S", str(AGENT), *args]


@dataclass
class Lab:
    """The emulated VPC, built on entry and removed on exit (also on errors, Ctrl-C,
    SIGTERM and SIGHUP)."""

    topology: Topology
    # `lab --boot`: the instance namespace is a booted OS's, which configures its links
    # itself from what the VPC gives it at boot (DHCP here, IMDS); see boot.py
    booted: bool = False
    root: Path = field(init=False)  # the instance's file system: persisted files go here
    state: Path = field(init=False)  # the lab's own files (not the instance's)
    _created: list[str] = field(default_factory=list, init=False)
    _processes: list[subprocess.Popen[str]] = field(default_factory=list, init=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, init=False)
    _dhcp: subprocess.Popen[str] | None = field(default=None, init=False)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, init=False)
    leftovers: list[str] = field(default_factory=list, init=False)

    def __enter__(self) -> Lab:
        self._stack.enter_context(_signals_unwind())
        try:
            prefix = f"{NAME_PREFIX}-{self.topology.run_id}-"
            self.root = Path(tempfile.mkdtemp(prefix=prefix))
            self.state = Path(tempfile.mkdtemp(prefix=f"{prefix}state-"))
            (self.state / OWNER).write_text(_process_identity(os.getpid()) + "\n")
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with _signals_held():
            for closer in reversed(self._closers):
                with contextlib.suppress(Exception):
                    closer()
            self._closers.clear()
            for process in self._processes:
                stop_process(process)
            self._processes.clear()
            shell.kill_namespace_processes(self._created)
            self.leftovers = shell.delete_namespaces(self._created)
            self._created.clear()
            for directory in (getattr(self, "root", None), getattr(self, "state", None)):
                if directory is not None and directory.exists():
                    shutil.rmtree(directory, ignore_errors=True)
            self._stack.close()

    # -- construction --

    def _build(self) -> None:
        t = self.topology
        self._created.extend(t.namespaces)
        shell.add_namespaces(t.namespaces)
        quiet = {
            "net.ipv4.conf.all.rp_filter": 0,
            "net.ipv4.conf.default.rp_filter": 0,
            "net.ipv6.conf.all.disable_ipv6": 1,
            "net.ipv6.conf.default.disable_ipv6": 1,
        }
        shell.sysctl(
            t.vpc_ns,
            {
                **quiet,
                "net.ipv4.ip_forward": 1,
                "net.ipv4.conf.all.send_redirects": 0,
                "net.ipv4.conf.default.send_redirects": 0,
            },
        )
        for ns in (*(lan.peer_ns for lan in t.lans), t.remote_ns, t.container_ns):
            shell.sysctl(ns, quiet)
        shell.sysctl(t.instance_ns, self._instance_sysctls((), defaults=True))

        vpc = ["link set lo up"]
        for lan in t.lans:
            vpc += [
                f"link add {lan.bridge} address {lan.router_mac} type bridge",
                f"link set {lan.bridge} up",
                f"addr add {lan.router} dev {lan.bridge}",
                f"link add {lan.peer_port} type veth peer name eth0 address {lan.peer_mac} "
                f"netns {lan.peer_ns}",
                f"link set {lan.peer_port} master {lan.bridge} up",
            ]
        vpc += self._eni_links(t.enis)
        vpc += [
            f"link add remote type veth peer name eth0 netns {t.remote_ns}",
            f"addr add {t.remote_router} dev remote",
            "link set remote up",
            f"route add {t.static_net} via {t.remote.ip}",
        ]
        shell.ip_batch(t.vpc_ns, vpc)
        for lan in t.lans:
            shell.ip_batch(
                lan.peer_ns,
                [
                    "link set lo up",
                    "link set eth0 up",
                    f"addr add {lan.peer} dev eth0",
                    f"route add default via {lan.router.ip}",
                ],
            )
        shell.ip_batch(
            t.remote_ns,
            [
                "link set lo up",
                "link set eth0 up",
                f"addr add {t.remote} dev eth0",
                f"addr add {t.static_target}/32 dev lo",
                f"route add default via {t.remote_router.ip}",
            ],
        )
        primary_lan = t.lan(t.primary)
        at_boot = [
            *self._boot_lines(t.enis),
            f"route add default via {primary_lan.router.ip} dev {t.primary.ifname}",
        ]
        # the coexistence cast: a docker0-like bridge, and a user's static route (which the
        # booted OS's network manager would own: there the lab leaves it out)
        static = f"route add {t.static_net} via {primary_lan.router.ip} dev {t.primary.ifname}"
        shell.ip_batch(
            t.instance_ns,
            [
                "link set lo up",
                *([] if self.booted else at_boot),
                "link add docker0 type bridge",
                f"addr add {t.docker_gateway} dev docker0",
                "link set docker0 up",
                f"link add vethc0 type veth peer name eth0 netns {t.container_ns}",
                "link set vethc0 master docker0 up",
                *([] if self.booted else [static]),
            ],
        )
        shell.ip_batch(
            t.container_ns,
            [
                "link set lo up",
                "link set eth0 up",
                f"addr add {t.container} dev eth0",
                f"route add default via {t.docker_gateway.ip}",
            ],
        )
        shell.sysctl(t.instance_ns, self._instance_sysctls(t.enis))
        shell.nft(t.vpc_ns, nft_rules.ruleset(t))
        self.spawn(t.instance_ns, agent_command("serve", str(TCP_PORT)))

    def _instance_sysctls(self, enis: Sequence[EniPort], defaults: bool = False) -> dict[str, int]:
        rp = self.topology.rp_filter
        settings = {f"net.ipv4.conf.{eni.ifname}.rp_filter": rp for eni in enis}
        if defaults:
            settings.update(
                {"net.ipv4.conf.all.rp_filter": rp, "net.ipv4.conf.default.rp_filter": rp}
            )
        return settings

    def _eni_links(self, enis: Sequence[EniPort]) -> list[str]:
        t = self.topology
        lines = []
        for eni in enis:
            lines += [
                f"link add {eni.port} type veth peer name {eni.ifname} address {eni.mac} "
                f"netns {t.instance_ns}",
                f"link set {eni.port} master {t.lan(eni).bridge} up",
            ]
        return lines

    @staticmethod
    def _boot_lines(enis: Sequence[EniPort]) -> list[str]:
        """What the OS does at boot (DHCP on every ENI): link up, primary address."""
        lines = []
        for eni in enis:
            lines += [f"link set {eni.ifname} up", f"addr add {eni.boot} dev {eni.ifname}"]
        return lines

    def spawn(self, ns: str, argv: Sequence[str], ready: str = "ready") -> subprocess.Popen[str]:
        """A server in `ns`, stopped on exit; waits for it to print `ready`."""
        if ns not in self.topology.namespaces:
            raise ValueError(f"{ns}: not a namespace of this lab")
        process = shell.popen(ns, argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if ready not in line:
            raise LabError(f"{' '.join(argv[:4])}: did not start in {ns}")
        return process

    def track(self, process: subprocess.Popen[str]) -> None:
        """A process the lab stops on exit (before it removes the namespaces)."""
        self._processes.append(process)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Runs first when the lab is removed (last registered, first run)."""
        self._closers.append(closer)

    def serve_dhcp(self) -> subprocess.Popen[str]:
        """What EC2's DHCP gives each ENI at boot, for `lab --boot`: dnsmasq on every
        subnet bridge (the router address is its own, so it is the gateway it announces),
        a fixed lease per ENI MAC (its primary IPv4), no DNS."""
        t = self.topology
        argv = [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            "--no-resolv", "--no-hosts", "--bind-interfaces", "--dhcp-authoritative",
            "--user=root", "--pid-file=", "--log-facility=-",
            f"--dhcp-leasefile={self.state / 'dhcp.leases'}",
        ]  # fmt: skip
        for lan in t.lans:
            argv += [
                f"--interface={lan.bridge}",
                f"--dhcp-range={lan.cidr.network_address},static,{lan.cidr.netmask},1h",
            ]
        self._write_dhcp_hosts()
        argv.append(f"--dhcp-hostsfile={self.state / DHCP_HOSTS}")
        process = shell.popen(t.vpc_ns, argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._processes.append(process)
        self._dhcp = process
        assert process.stderr is not None
        line = process.stderr.readline()
        if "started" not in line:
            raise LabError(f"dnsmasq (the lab's DHCP) did not start: {shell.short(line)}")
        return process

    def _write_dhcp_hosts(self) -> None:
        """The fixed leases (one per ENI MAC: its primary IPv4); dnsmasq reads them again
        on SIGHUP, so an attached ENI gets its lease as on EC2."""
        hosts = "".join(f"{eni.mac},{eni.boot.ip}\n" for eni in self.topology.enis)
        (self.state / DHCP_HOSTS).write_text(hosts)
        if self._dhcp is not None and self._dhcp.poll() is None:
            self._dhcp.send_signal(signal.SIGHUP)

    # -- the instance metadata service --

    def serve_imds(
        self, tree: dict[str, str], user_data: bytes | None = None
    ) -> subprocess.Popen[str]:
        """IMDS at 169.254.169.254:80 from the VPC side: the address on the primary ENI's
        subnet bridge in the vpc namespace, the server there, and the route EC2's DHCP
        gives the instance (`169.254.169.254 dev ens5` in main; a booted OS reaches it
        through its default route, via the router). Stopped with the lab."""
        t = self.topology
        write_tree(self.state / IMDS_TREE, tree)
        shell.ip_batch(t.vpc_ns, [f"addr add {IMDS_ADDRESS}/32 dev {t.lan(t.primary).bridge}"])
        if not self.booted:
            shell.ip_batch(t.instance_ns, [f"route add {IMDS_ADDRESS} dev {t.primary.ifname}"])
        argv = [sys.executable, "-I", "-S", str(IMDS_SERVER), str(self.state / IMDS_TREE)]
        argv += [str(IMDS_ADDRESS), str(IMDS_PORT)]
        if user_data is not None:
            (self.state / IMDS_USER_DATA).write_bytes(user_data)
            argv.append(str(self.state / IMDS_USER_DATA))
        if self.booted:
            argv.append("--allow-v1")  # cloud-init's EC2 datasource off AWS (imds.py)
        return self.spawn(t.vpc_ns, argv)

    def update_imds(self, tree: dict[str, str]) -> None:
        """What IMDS serves from now on (ENIs attached or detached)."""
        write_tree(self.state / IMDS_TREE, tree)

    # -- changes --

    def rewire(self, new: Topology) -> tuple[list[EniPort], list[EniPort]]:
        """Detach the ENIs `new` lacks, attach those it adds (veth, boot address, rp_filter),
        reload the nftables table. Returns (detached, attached)."""
        old = self.topology
        if new.namespaces != old.namespaces:
            raise ValueError("rewire keeps the lab's namespaces")
        new_macs = {eni.mac for eni in new.enis}
        old_macs = {eni.mac for eni in old.enis}
        detached = [eni for eni in old.enis if eni.mac not in new_macs]
        attached = [eni for eni in new.enis if eni.mac not in old_macs]
        self.topology = new
        shell.ip_batch(
            new.vpc_ns,
            [f"link del {eni.port}" for eni in detached] + self._eni_links(attached),
        )
        if attached:
            shell.sysctl(new.instance_ns, self._instance_sysctls(attached))
            if not self.booted:  # a booted OS asks the lab's DHCP, or its agent adds them
                shell.ip_batch(new.instance_ns, self._boot_lines(attached))
        self._write_dhcp_hosts()
        shell.nft(new.vpc_ns, nft_rules.ruleset(new, replace=True))
        return detached, attached

    def flush_neighbours(self) -> None:
        """Forget every ARP entry, so one phase's failures do not linger into the next."""
        for ns in self.topology.namespaces:
            shell.ip(ns, "neigh", "flush", "all", check=False)


def stop_process(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=3)
    for stream in (process.stdout, process.stderr, process.stdin):
        if stream is not None:
            stream.close()


# --- after a SIGKILL: eniplan lab --cleanup ------------------------------------------------


def _process_identity(pid: int) -> str:
    """`PID START`: the start time (clock ticks since boot) tells a reused PID apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return f"{pid} {stat.rpartition(')')[2].split()[19]}"


def _alive(owner: Path) -> bool:
    try:
        text = owner.read_text().strip()
    except OSError:
        return False
    pid = text.split()[0] if text else ""
    return pid.isdigit() and _process_identity(int(pid)) == text


_RUN = re.compile(rf"^{NAME_PREFIX}-([0-9a-f]{{8}})-")


def running(name: str) -> bool:
    """Whether the lab that a namespace or directory `name` belongs to is still running
    (its owner process alive)."""
    match = _RUN.match(name)
    if match is None:
        return False
    temp = Path(tempfile.gettempdir())
    states = temp.glob(f"{NAME_PREFIX}-{match.group(1)}-state-*")
    return any(_alive(state / OWNER) for state in states)


def cleanup() -> list[str]:
    """What labs killed before their teardown (SIGKILL) left: their processes (everything
    inside their namespaces, a booted OS included), namespaces and directories. A lab
    whose process is alive is left alone. Returns what was removed, one line each."""
    temp = Path(tempfile.gettempdir())
    netns = Path("/run/netns")
    runs: dict[str, list[Path]] = {}
    for path in [*temp.glob(f"{NAME_PREFIX}-*"), *(netns.glob(f"{NAME_PREFIX}-*"))]:
        match = _RUN.match(path.name)
        if match:
            runs.setdefault(match.group(1), []).append(path)
    removed = []
    for _, paths in sorted(runs.items()):
        if running(paths[0].name):
            continue
        namespaces = [p.name for p in paths if p.parent == netns]
        shell.kill_namespace_processes(namespaces)
        left = shell.delete_namespaces(namespaces)
        removed += [f"namespace {name}" for name in namespaces if name not in left]
        for path in paths:
            if path.parent == temp and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(f"directory {path}")
    return removed
