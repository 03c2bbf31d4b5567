"""The host `eniplan doctor` runs on: its routing state from `ip -j`, and its ENIs from
the instance metadata service (IMDSv2 only: a session token first, short timeouts).

Also reads the captured text of `ip addr show`, `ip rule show`, `ip route show table all`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from eniplan import values
from eniplan.agent.imds import ENDPOINTS, Imds, ImdsError
from eniplan.doctor import ipjson, iptext
from eniplan.doctor.model import HostState, ImdsEni, ImdsInfo, KernelRoute, KernelRule, Link
from eniplan.doctor.simulate import host_route
from eniplan.errors import InputError
from eniplan.fileio import STDIN_NAME, decode_json_text

IMDS_TIMEOUT = 1.0  # seconds, per request
IMDS_DEADLINE = 2.0  # seconds for the probe: off EC2 the doctor must not hang


def _ip(netns: str | None, *args: str) -> str:
    """Run `ip [-n NETNS] ARGS` and return its stdout."""
    binary = shutil.which("ip")
    if binary is None:
        raise InputError("live capture needs iproute2's `ip` command (or pass --ip-addr ...)")
    command = [binary, *(("-n", netns) if netns else ()), *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["failed"])[0]
        raise InputError(f"`{' '.join(command[1:])}`: {message}")
    return result.stdout


def capture_live(netns: str | None = None) -> HostState:
    """The routing state of this host (or of a network namespace) from `ip -j` (addresses,
    rules, routes, neighbours); the text
    of `ip addr show` and `ip rule show` is kept for the EC2Rescue parity check."""
    links = ipjson.parse_addr(ipjson.load(_ip(netns, "-j", "addr", "show"), "ip -j addr show"))
    rules: list[KernelRule] = []
    routes: list[KernelRoute] = []
    for family in (4, 6):
        flag = f"-{family}"
        what = f"ip -j {flag} rule show"
        rules += ipjson.parse_rules(
            ipjson.load(_ip(netns, "-j", flag, "rule", "show"), what), family, what
        )
        what = f"ip -j {flag} route show table all"
        routes += ipjson.parse_routes(
            ipjson.load(_ip(netns, "-j", flag, "route", "show", "table", "all"), what),
            family,
            what,
        )
    return HostState(
        links=links,
        rules=tuple(rules),
        routes=tuple(routes),
        rule_families=frozenset({4, 6}),
        sources=("live: ip -j addr/rule/route" + (f" (netns {netns})" if netns else ""),),
        raw_addr_text=_ip(netns, "addr", "show"),
        raw_rule_text=_ip(netns, "rule", "show"),
        neighbours=ipjson.parse_neigh(
            ipjson.load(_ip(netns, "-j", "neigh", "show"), "ip -j neigh show")
        ),
    )


STDIN = "-"


def _origin(path: str) -> str:
    return STDIN_NAME if path == STDIN else path


def _read(path: str, option: str) -> str:
    try:
        data = sys.stdin.buffer.read() if path == STDIN else Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"{option} {path}: cannot read: {error.strerror}") from None
    # UTF-8, or with a byte order mark (UTF-16 too: a capture saved on Windows)
    return decode_json_text(data, _origin(path), expected="UTF-8 text")


def load_captured(
    addr_path: str,
    rule_paths: Sequence[str],
    route_paths: Sequence[str],
    neigh_path: str | None = None,
) -> HostState:
    """The state from captured text files; rules and routes may come in several files
    (`ip rule` and `ip -6 rule`, one or two files each, in any order); `ip neigh show`
    is optional."""
    optional = [neigh_path] if neigh_path else []
    if [addr_path, *rule_paths, *route_paths, *optional].count(STDIN) > 1:
        raise InputError(
            "--ip-addr, --ip-rule, --ip-route, --ip-neigh: only one of them can be '-' (stdin)"
        )
    addr_text = _read(addr_path, "--ip-addr")
    links = iptext.parse_addr(addr_text, _origin(addr_path))
    routes: list[KernelRoute] = []
    for path in route_paths:
        routes += iptext.parse_routes(_read(path, "--ip-route"), _origin(path))
    # the family of each rule listing from its content, whatever the order of the files
    listings = tuple(
        listing
        for path in rule_paths
        for listing in iptext.rule_listings(_read(path, "--ip-rule"), _origin(path))
    )
    table_families: dict[str, set[int]] = {}
    for route in routes:
        table_families.setdefault(route.table, set()).add(route.family)
    rules_found, family_notes = iptext.resolve_rule_families(
        listings, {table: frozenset(f) for table, f in table_families.items()}
    )
    rules = list(rules_found)
    neighbours = None
    if neigh_path is not None:
        neigh_text = _read(neigh_path, "--ip-neigh")
        # no neighbours at all is a valid capture (`ip neigh show` prints nothing)
        neighbours = (
            iptext.parse_neigh(neigh_text, _origin(neigh_path)) if neigh_text.strip() else ()
        )
    v4_rule_text = [f"{r.priority}:\t{r.text}" for r in rules if r.family == 4]
    families = frozenset(rule.family for rule in rules)
    notes = list(family_notes)
    notes += _attribute_notes(routes)
    if 6 not in families:
        notes.append(
            "no IPv6 rules given (`ip -6 rule show`): IPv6 is decided with the kernel's "
            "default rules (local, main)"
        )
    if 4 not in families:
        notes.append("no IPv4 rules given: IPv4 is decided with the kernel's default rules")
    has_ipv6 = any(a.family == 6 and a.usable for link in links for a in link.addresses)
    if has_ipv6 and not any(route.family == 6 for route in routes):
        notes.append(
            "IPv6 addresses but no IPv6 routes given (`ip -6 route show table all`): "
            "IPv6 replies find no route"
        )
    return HostState(
        links=links,
        rules=tuple(rules),
        routes=routes_with_local(links, tuple(routes)),
        rule_families=families,
        sources=(
            f"--ip-addr {addr_path}",
            *(f"--ip-rule {p}" for p in rule_paths),
            *(f"--ip-route {p}" for p in route_paths),
            *(f"--ip-neigh {p}" for p in optional),
        ),
        notes=tuple(notes),
        raw_addr_text=addr_text,
        raw_rule_text="\n".join(v4_rule_text) + "\n" if v4_rule_text else "",
        neighbours=neighbours,
    )


def _attribute_notes(routes: Sequence[KernelRoute]) -> list[str]:
    """Words of a newer iproute2 that eniplan does not know: kept in the report, not used."""
    unknown = sorted(
        {
            word
            for route in routes
            for word in route.attributes
            if " " not in word and not word.startswith("encap")
        }
    )
    if not unknown:
        return []
    return [f"route attributes eniplan does not know, kept and not used: {', '.join(unknown)}"]


def routes_with_local(
    links: Sequence[Link], routes: tuple[KernelRoute, ...]
) -> tuple[KernelRoute, ...]:
    """A capture without the local table (`ip route show` instead of `... table all`):
    add the `local ADDRESS` routes the kernel has for every address."""
    families = {r.family for r in routes if r.table == "local"}
    extra = tuple(
        host_route(address.ip)
        for link in links
        for address in link.addresses
        if address.family not in families
    )
    return routes + extra


# --- IMDS --------------------------------------------------------------------------------


Fetch = Callable[[str], str | None]


def imds_fetcher(
    endpoints: Sequence[str] = ENDPOINTS, timeout: float = IMDS_TIMEOUT
) -> Fetch | None:
    """A GET function on the agent's IMDSv2 client (a token first, no proxy, never
    IMDSv1), or None when IMDS does not answer (not on EC2, IMDS disabled, hop limit)."""
    client = Imds(endpoints, deadline=IMDS_DEADLINE, timeout=timeout)
    try:
        client.get("mac")  # the token and one read: is anyone there?
    except ImdsError:
        return None

    def fetch(path: str) -> str | None:
        try:
            return client.get(path)
        except ImdsError:
            return None

    return fetch


def read_imds(fetch: Fetch) -> ImdsInfo:
    """The instance's ENIs by MAC; every value is validated before it is used."""
    instance = fetch("instance-id")
    instance_id = None
    if instance:
        try:
            instance_id = values.resource_id("i", instance.strip())
        except ValueError:
            instance_id = None
    macs_text = fetch("network/interfaces/macs/") or ""
    enis = []
    for entry in macs_text.split():
        try:
            mac = values.mac_address(entry.rstrip("/"))
        except ValueError as error:
            raise InputError(f"IMDS network/interfaces/macs/: {error}") from None
        enis.append(_imds_eni(fetch, mac))
    enis.sort(key=lambda e: (e.network_card, e.device_number))
    return ImdsInfo(instance_id=instance_id, enis=tuple(enis))


T = TypeVar("T")


def _imds_eni(fetch: Fetch, mac: str) -> ImdsEni:
    def get(key: str) -> str:
        return (fetch(f"network/interfaces/macs/{mac}/{key}") or "").strip()

    def checked(key: str, parse: Callable[[str], T]) -> tuple[T, ...]:
        try:
            return tuple(parse(item) for item in get(key).split())
        except ValueError as error:
            raise InputError(f"IMDS {mac}/{key}: {error}") from None

    def number(key: str) -> int:
        text = get(key) or "0"
        if not text.isdigit():
            raise InputError(f"IMDS {mac}/{key}: {text!r} is not a number")
        return int(text)

    interface_ids = checked("interface-id", lambda value: values.resource_id("eni", value))
    subnet4 = checked("subnet-ipv4-cidr-block", values.ipv4_network)
    return ImdsEni(
        mac=mac,
        device_number=number("device-number"),
        network_card=number("network-card"),
        interface_id=interface_ids[0] if interface_ids else None,
        local_ipv4s=checked("local-ipv4s", values.ipv4_address),
        subnet_ipv4=subnet4[0] if subnet4 else None,
        ipv6s=checked("ipv6s", values.ipv6_address),
        subnet_ipv6=checked("subnet-ipv6-cidr-blocks", values.ipv6_network),
    )
