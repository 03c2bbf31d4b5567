"""eniplan-agent: per-ENI policy routing from IMDS, at boot and on ENI hotplug.

Reads the ENIs from IMDS (IMDSv2 only: imds.py), validates every value, plans them with
the static planner's core (plancore.py) and applies the plan with the iproute2 target's
engine (engine.sh): the state `eniplan render --target iproute2` gives, from live data.
Nothing changes until IMDS has answered and every value is valid. The engine adds before
it deletes, replaces routes atomically, never touches the primary's DHCP address or the
main table, and removes only its own (protocol 247) rules and routes. Standard library
only: dynamic user data embeds this package.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import Any, TypeVar

from eniplan import __version__
from eniplan.agent.imds import ENDPOINTS, Imds, ImdsError
from eniplan.plancore import (
    DEFAULT_TABLE_BASE,
    MAX_TABLE_BASE,
    MIN_TABLE_BASE,
    EniFacts,
    EniPlan,
    PlanError,
    engine_input,
    plan_enis,
)

ENGINE = Path(__file__).with_name("engine.sh")
MACS = "network/interfaces/macs/"
# Files that show another agent owns policy routing here (paths under --root).
OWNERS = (
    ("usr/bin/setup-policy-routes", "amazon-ec2-net-utils"),
    ("usr/lib/systemd/system/policy-routes@.service", "amazon-ec2-net-utils"),
    ("etc/sysconfig/network-scripts/ec2net-functions", "amazon-ec2-net-utils (v1)"),
    ("etc/cni/net.d/10-aws.conflist", "the Amazon VPC CNI (EKS)"),
)
T = TypeVar("T")


class AgentError(Exception):
    """Nothing was changed: the message says why."""


def log(message: str) -> None:
    print(f"eniplan-agent: {message}", file=sys.stderr, flush=True)


# --- IMDS values, validated before use -------------------------------------------------


def _checked(path: str, text: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(text)
    except ValueError:
        raise AgentError(f"IMDS {path}: {text[:80]!r} is not valid") from None


def _mac(text: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", text):
        raise ValueError(text)
    return text


def _id(kind: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if not re.fullmatch(kind + r"-[0-9a-f]{8}([0-9a-f]{9})?", text):
            raise ValueError(text)
        return text

    return check


def _number(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,3}", text):
        raise ValueError(text)
    return int(text)


def _ipv6(text: str) -> IPv6Address:
    if "%" in text:  # a scope ID: never from IMDS
        raise ValueError(text)
    return IPv6Address(text)


def _net4(text: str) -> IPv4Network:
    if "/" not in text:
        raise ValueError(text)
    return IPv4Network(text)  # strict: no host bits


def _net6(text: str) -> IPv6Network:
    if "/" not in text or "%" in text:
        raise ValueError(text)
    return IPv6Network(text)


def read_eni(imds: Imds, mac: str) -> EniFacts:
    """One ENI's facts from meta-data/network/interfaces/macs/MAC/."""

    def get(key: str, parse: Callable[[str], T], default: str | None = None) -> tuple[T, ...]:
        path = f"{MACS}{mac}/{key}"
        text = imds.get(path)
        if text is None and default is None:
            raise AgentError(f"IMDS {path}: missing")
        return tuple(_checked(path, word, parse) for word in (text or default or "").split())

    def one(key: str, parse: Callable[[str], T], default: str | None = None) -> T | None:
        found = get(key, parse, default)
        if len(found) > 1 or (default is None and not found):
            raise AgentError(f"IMDS {MACS}{mac}/{key}: expected one value")
        return found[0] if found else None

    ipv4 = get("local-ipv4s", IPv4Address, "")
    return EniFacts(
        eni_id=str(one("interface-id", _id("eni"))),
        mac=mac,
        network_card_index=int(one("network-card", _number, "0") or 0),
        device_index=int(one("device-number", _number) or 0),
        subnet_id=str(one("subnet-id", _id("subnet"))),
        subnet_cidr=one("subnet-ipv4-cidr-block", _net4, ""),
        ipv6_subnets=get("subnet-ipv6-cidr-blocks", _net6, ""),
        primary_ipv4=ipv4[0] if ipv4 else None,
        secondary_ipv4s=ipv4[1:],
        ipv4_prefixes=get("ipv4-prefix", _net4, ""),
        ipv6_addresses=get("ipv6s", _ipv6, ""),
        ipv6_prefixes=get("ipv6-prefix", _net6, ""),
    )


def read_enis(imds: Imds) -> tuple[str, list[EniFacts]]:
    """(primary MAC, every ENI IMDS lists) in (network card, device) order."""
    primary = _checked("mac", imds.get("mac") or "", _mac)
    listing = imds.get(MACS) or ""
    macs = [_checked(MACS, word.rstrip("/"), _mac) for word in listing.split()]
    enis = [read_eni(imds, mac) for mac in macs]
    return primary, sorted(enis, key=lambda e: (e.network_card_index, e.device_index))


def stable_enis(
    imds: Imds, want: str | None, present: Callable[[str], bool], sleep: Callable[[float], None]
) -> list[EniFacts]:
    """The ENIs once IMDS is consistent: the primary listed as card 0 device 0, one ENI per
    slot (a new ENI's device-number can be stale for a moment), and the hotplugged MAC
    `want` listed while its link is there. Re-reads until the IMDS deadline."""
    while True:
        primary, enis = read_enis(imds)
        slots = [(e.network_card_index, e.device_index) for e in enis]
        stale = len(set(slots)) != len(slots) or (
            primary not in {e.mac for e in enis if e.is_primary}
        )
        late = want is not None and present(want) and want not in {e.mac for e in enis}
        if not stale and not late:
            return enis
        why = f"{want} not listed yet" if late else "device numbers not settled"
        if imds.clock() + 0.5 > imds.deadline:
            raise AgentError(f"IMDS: {why} at the deadline")
        log(f"IMDS: {why}, reading again")
        sleep(0.5)


# --- the host ---------------------------------------------------------------------------


def local_links(sysfs: Path) -> dict[str, str]:
    """MAC -> link name of the links here (first one wins)."""
    links: dict[str, str] = {}
    for link in sorted(sysfs.iterdir()) if sysfs.is_dir() else ():
        try:
            address = (link / "address").read_text().strip()
        except OSError:
            continue
        links.setdefault(address, link.name)
    return links


def other_owner(root: Path) -> str | None:
    """The agent that already owns policy routing on this host, if any."""
    for path, owner in OWNERS:
        if (root / path).exists():
            return f"{owner} ({'/' + path})"
    for netplan in sorted((root / "etc/netplan").glob("*.yaml")):
        try:
            text = netplan.read_text(errors="replace")
        except OSError:
            continue
        if "routing-policy" in text and "# eniplan" not in text:
            return f"netplan policy routing, cloud-init's multi-NIC routing ({netplan})"
    return None


# --- the plan as the engine's input (plancore.engine_input: the iproute2 target's too) ---


def script(instance_id: str, enis: Sequence[EniPlan], base: int, guard: bool) -> str:
    """The engine's input: the plan as sh variables, then engine.sh itself."""
    guarded = "on" if guard and enis else "off"
    marker = f"# eniplan {__version__} mode=dynamic table-base={base} guard={guarded}"
    variables = engine_input(instance_id, enis, base, guard)
    engine = ENGINE.read_text(encoding="utf-8")
    return "\n".join(["#!/bin/sh", marker, "set -u", variables, engine])


# --- one run ----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    owner = other_owner(Path(args.root))
    if owner and not args.force:
        log(f"standing aside: {owner} already installs per-ENI policy routing")
        return 0
    sysfs = Path(args.sysfs)
    want = None
    if args.hotplug:
        link = sysfs / args.hotplug / "address"
        want = link.read_text().strip() if link.exists() else None
        log(f"hotplug: {args.hotplug} {'added' if want else 'removed'}")
    imds = Imds(args.imds or ENDPOINTS, deadline=args.deadline)
    instance_id = _checked("instance-id", imds.get("instance-id") or "", _id("i"))
    if want:
        imds.extend(args.hotplug_wait)

    def present(mac: str) -> bool:
        return mac in local_links(sysfs)

    enis = stable_enis(imds, want, present, imds.sleep)
    links = local_links(sysfs)
    for eni in enis:
        if eni.mac not in links:
            log(f"{eni.eni_id} ({eni.mac}): no link with this MAC here, left out")
    here = [eni for eni in enis if eni.mac in links]
    try:
        plans = plan_enis(instance_id, here, args.table_base) if len(here) > 1 else ()
    except PlanError as error:
        raise AgentError(str(error)) from None
    log(
        f"{instance_id}: {len(enis)} ENIs in IMDS ({imds.requests} requests), "
        + (f"{len(plans)} routed" if plans else "fewer than two here: removing eniplan's state")
    )
    env = dict(os.environ, ENIPLAN_DRY_RUN="1" if args.dry_run else "")
    text = script(instance_id, plans, args.table_base, not args.no_guard)
    status = subprocess.run(["sh", "-c", text, "eniplan-agent"], env=env, check=False)
    if not plans and not args.dry_run:  # no guard now: ENIs leave its netdev group
        listed = subprocess.run(
            ["ip", "-o", "link", "show", "group", str(args.table_base)],
            capture_output=True,
            text=True,
            check=False,
        )
        for line in listed.stdout.splitlines():
            name = line.split(":")[1].strip().partition("@")[0] if ":" in line else ""
            if re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", name):
                subprocess.run(["ip", "link", "set", "dev", name, "group", "0"], check=False)
    return status.returncode


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eniplan-agent", description="eniplan dynamic mode: per-ENI policy routing from IMDSv2"
    )
    add: Any = p.add_argument
    add("--table-base", type=int, default=DEFAULT_TABLE_BASE)
    add("--no-guard", action="store_true", help="no main-table guard")
    add("--hotplug", metavar="IFACE", help="the ENI link that came or went")
    add("--dry-run", action="store_true", help="print the ip commands only")
    add("--force", action="store_true", help="even where another agent routes")
    add("--imds", action="append", metavar="URL", help="IMDS endpoint (repeatable)")
    add("--deadline", type=float, default=30.0, help="seconds for IMDS")
    add("--hotplug-wait", type=float, default=60.0, help="seconds for a new ENI in IMDS")
    add("--root", default="/", help="where other agents' files are")
    add("--sysfs", default="/sys/class/net", help=argparse.SUPPRESS)
    add("--lock", default="/run/eniplan-agent.lock")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not MIN_TABLE_BASE <= args.table_base <= MAX_TABLE_BASE:
        log(f"--table-base {args.table_base}: expected {MIN_TABLE_BASE} to {MAX_TABLE_BASE}")
        return 2
    if args.hotplug and not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", args.hotplug):
        log(f"--hotplug {args.hotplug[:40]!r}: not a link name")
        return 2
    try:
        with open(args.lock, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # boot and hotplug runs take turns
            return run(args)
    except (AgentError, ImdsError, OSError) as error:
        log(f"failed, nothing changed: {error}")
        return 1
