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
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eniplan.agent.imds import ENDPOINTS, BadAnswer, Imds, ImdsError
from eniplan.plancore import (
    DEFAULT_TABLE_BASE,
    MAX_TABLE_BASE,
    MIN_TABLE_BASE,
    EniFacts,
    EniPlan,
    PlanError,
    engine_input,
    plan_eni,
    plan_enis,
)

ENGINE = Path(__file__).with_name("engine.sh")
MACS = "network/interfaces/macs/"
LINK_NAME = r"[A-Za-z0-9_.-]{1,15}"
# Files that show another agent owns policy routing here (paths under --root).
OWNERS = (
    ("usr/bin/setup-policy-routes", "amazon-ec2-net-utils"),
    ("usr/lib/systemd/system/policy-routes@.service", "amazon-ec2-net-utils"),
    ("etc/sysconfig/network-scripts/ec2net-functions", "amazon-ec2-net-utils (v1)"),
    ("etc/cni/net.d/10-aws.conflist", "the Amazon VPC CNI (EKS)"),
)
if TYPE_CHECKING:  # (annotations only: the agent does not import typing's TypeVar)
    from typing import TypeVar

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


# Every key of an ENI the planner reads, and those that change while it stays attached
# (secondary addresses and prefixes): a reconcile run reads only these.
KEYS = (
    "interface-id",
    "network-card",
    "device-number",
    "subnet-id",
    "subnet-ipv4-cidr-block",
    "subnet-ipv6-cidr-blocks",
    "local-ipv4s",
    "ipv4-prefix",
    "ipv6s",
    "ipv6-prefix",
)
VOLATILE = ("local-ipv4s", "ipv4-prefix", "ipv6s", "ipv6-prefix")


class Unsettled(Exception):
    """One ENI's key is missing or invalid: its installed state is kept, it is read again."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(f"{key}: {why}")
        self.key = key


def read_keys(imds: Imds, mac: str, keys: Sequence[str]) -> dict[str, str | None]:
    """The texts of an ENI's `keys` (None: IMDS has no such key)."""
    raw: dict[str, str | None] = {}
    for key in keys:
        try:
            raw[key] = imds.get(f"{MACS}{mac}/{key}")
        except BadAnswer as error:
            raise Unsettled(key, str(error).rpartition(": ")[2]) from None
    return raw


def eni_facts(mac: str, raw: Mapping[str, str | None]) -> EniFacts:
    """One ENI's facts from the texts of its KEYS, every value checked; Unsettled names
    the first key that is missing or not valid."""

    def get(key: str, parse: Callable[[str], T], required: bool = False) -> tuple[T, ...]:
        text = raw.get(key)
        if text is None and required:
            raise Unsettled(key, "missing")
        values = []
        for word in (text or "").split():
            try:
                values.append(parse(word))
            except ValueError:
                raise Unsettled(key, f"{word[:80]!r} is not valid") from None
        return tuple(values)

    def one(key: str, parse: Callable[[str], T], required: bool = False) -> T | None:
        found = get(key, parse, required)
        if len(found) > 1 or (required and not found):
            raise Unsettled(key, "expected one value")
        return found[0] if found else None

    ipv4, ipv6 = get("local-ipv4s", IPv4Address), get("ipv6s", _ipv6)
    cidr = one("subnet-ipv4-cidr-block", _net4)
    if not ipv4 and (cidr is not None or not ipv6):  # IPv6-only: neither, and IPv6s
        raise Unsettled("local-ipv4s", "missing" if raw.get("local-ipv4s") is None else "empty")
    if ipv4 and cidr is None:
        raise Unsettled("subnet-ipv4-cidr-block", "missing")
    return EniFacts(
        eni_id=str(one("interface-id", _id("eni"), required=True)),
        mac=mac,
        network_card_index=one("network-card", _number) or 0,
        device_index=one("device-number", _number, required=True) or 0,
        subnet_id=str(one("subnet-id", _id("subnet"), required=True)),
        subnet_cidr=cidr,
        ipv6_subnets=get("subnet-ipv6-cidr-blocks", _net6),
        primary_ipv4=ipv4[0] if ipv4 else None,
        secondary_ipv4s=ipv4[1:],
        ipv4_prefixes=get("ipv4-prefix", _net4),
        ipv6_addresses=ipv6,
        ipv6_prefixes=get("ipv6-prefix", _net6),
    )


def read_listing(imds: Imds) -> list[str]:
    """The MACs of network/interfaces/macs/ (a bad one: the run stops, nothing changed)."""
    return [_checked(MACS, word.rstrip("/"), _mac) for word in (imds.get(MACS) or "").split()]


@dataclass
class Reading:
    """What one run knows of the ENIs: the texts of their keys (IMDS's, or the last run's
    for keys that cannot change), the facts of those that are settled, and why the others
    are not."""

    instance_id: str
    primary: str
    listed: list[str]
    raw: dict[str, dict[str, str | None]] = field(default_factory=dict)
    facts: dict[str, EniFacts] = field(default_factory=dict)
    unsettled: dict[str, str] = field(default_factory=dict)
    crawled: bool = False  # the keys are cloud-init's crawl of this boot

    def read(
        self, imds: Imds, mac: str, keys: Sequence[str], known: dict[str, str | None] | None
    ) -> None:
        """Reads `keys` of one ENI (the rest from `known`) and settles it if it can; an
        ImdsError (the deadline) leaves it as it was."""
        try:
            raw = {**(known or {}), **read_keys(imds, mac, keys)}
            facts = eni_facts(mac, raw)
        except Unsettled as error:
            self.facts.pop(mac, None)
            self.unsettled[mac] = f"IMDS {MACS}{mac}/{error}"
            return
        self.raw[mac], self.facts[mac] = raw, facts
        self.unsettled.pop(mac, None)

    def check_slots(self) -> None:
        """Only the primary may be card 0 device 0 (IMDS says 0 for a new ENI's
        device-number until it has the real one); one ENI per (card, device)."""
        slots: dict[tuple[int, int], list[str]] = {}
        for mac, eni in self.facts.items():
            slots.setdefault((eni.network_card_index, eni.device_index), []).append(mac)
        for (card, device), macs in slots.items():
            for mac in macs:
                if mac != self.primary and (len(macs) > 1 or (card, device) == (0, 0)):
                    del self.facts[mac]
                    self.unsettled[mac] = (
                        f"IMDS {MACS}{mac}/device-number: card {card} device {device} is "
                        + ("the primary's" if (card, device) == (0, 0) else "another ENI's")
                    )

    def primary_problem(self) -> str | None:
        """Why the primary ENI cannot be trusted yet (a run then changes nothing)."""
        eni = self.facts.get(self.primary)
        if self.primary not in self.listed:
            return f"IMDS mac: {self.primary} is not in {MACS}"
        if eni is None:
            return self.unsettled.get(self.primary, "the primary ENI is not settled")
        if not eni.is_primary:
            return f"IMDS mac: {self.primary} is not card 0 device 0"
        return None


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
            return f"cloud-init's netplan policy routing ({netplan})"
    return None


# --- the plan as the engine's input (plancore.engine_input: the iproute2 target's too) ---


def script(instance_id: str, enis: Sequence[EniPlan], base: int, guard: bool) -> str:
    """The engine's input (`sh -c`): the plan as sh variables, then engine.sh itself."""
    variables = engine_input(instance_id, enis, base, guard)
    return "\n".join(["set -u", variables, ENGINE.read_text(encoding="utf-8")])


# --- what the last run left (in /run: this boot's) ----------------------------------------

STATE_VERSION = 1
DONE = ("routed", "the only ENI here")  # a link's `add` event finds nothing more to do


def load_state(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(state, dict) and state.get("version") == STATE_VERSION
    return state if ok and isinstance(state.get("enis"), dict) else None


def known_keys(state: dict[str, Any] | None, mac: str) -> dict[str, str | None] | None:
    """The texts of an ENI's keys as the last run read them (settled ones only)."""
    eni = state["enis"].get(mac) if state else None
    keys = eni.get("keys") if isinstance(eni, dict) else None
    return dict(keys) if isinstance(keys, dict) else None


def save_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, path)


def stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


# --- one run --------------------------------------------------------------------------------

PACE = 0.055  # seconds a request: at most 19 in 1.05 s, never 21 in a second at IMDS

# cloud-init's EC2 datasource crawls all of meta-data at every boot (22.4: its local stage
# finds the EC2 cache invalid and drops it, unless manual_cache_clean keeps it) and writes
# it here (/run: this boot's) before the boot unit starts (After=cloud-init.service).
CRAWL = "run/cloud-init/instance-data.json"


def crawled(root: Path, reading: Reading) -> dict[str, dict[str, str | None]]:
    """The KEYS of the listed ENIs as cloud-init crawled them at this boot (its leaves:
    a text, or a list of lines), or {} in any doubt: no crawl, another instance or other
    ENIs than IMDS lists now, a cache cloud-init may have kept, a value of another type.
    The values are then validated as IMDS's are."""
    found: dict[str, dict[str, str | None]] = {}
    try:
        configs = [root / "etc/cloud/cloud.cfg", *(root / "etc/cloud/cloud.cfg.d").glob("*.cfg")]
        if (root / "var/lib/cloud/instance/manual-clean").exists() or any(
            "manual_cache_clean" in path.read_text() for path in configs if path.is_file()
        ):
            return {}
        meta = json.loads((root / CRAWL).read_text())["ds"]["meta-data"]
        macs = meta["network"]["interfaces"]["macs"]
        if [meta["instance-id"], meta["mac"], sorted(macs)] != [
            reading.instance_id,
            reading.primary,
            sorted(reading.listed),
        ]:
            return {}
        for mac in reading.listed:
            found[mac] = {}
            for key in KEYS:
                value = macs[mac].get(key)
                if isinstance(value, list) and all(isinstance(v, str) for v in value):
                    value = "\n".join(value)
                if value is not None and not isinstance(value, str):
                    return {}
                found[mac][key] = value
    except (OSError, ValueError, LookupError, TypeError, AttributeError):
        return {}
    return found


def gather(imds: Imds, old: dict[str, Any] | None, kind: str, root: Path | None = None) -> Reading:
    """The first read of a run. What cannot change comes from the last run where it has
    the ENI: a reconcile reads only VOLATILE keys, a hotplug only the new ENI's keys; the
    boot's first run takes them from cloud-init's crawl under `root` where it can."""
    instance_id = old["instance_id"] if old else None
    primary = old["primary"] if old else None
    if instance_id is None or primary is None:
        instance_id = _checked("instance-id", imds.get("instance-id") or "", _id("i"))
        primary = _checked("mac", imds.get("mac") or "", _mac)
    reading = Reading(str(instance_id), str(primary), read_listing(imds))
    crawl = crawled(root, reading) if root else {}
    reading.crawled = bool(crawl)
    for mac in reading.listed:
        known = crawl.get(mac) if kind == "boot" else known_keys(old, mac)
        keys = KEYS if known is None else VOLATILE if kind == "reconcile" else ()
        reading.read(imds, mac, keys, known)
    return reading


def settle(
    imds: Imds, reading: Reading, here: Mapping[str, str], first_wait: Callable[[], None]
) -> None:
    """Re-reads only what is not settled (the primary, or ENIs with a link here) until
    the deadline, backing off; `first_wait` routes the others before the first wait."""
    delay, waited = 0.25, False
    while True:
        reading.check_slots()
        problem = reading.primary_problem()
        waiting = [mac for mac in reading.unsettled if mac in here]
        if problem is None and not waiting:
            return
        if problem is None and not waited:
            first_wait()
        if imds.left() < delay:
            if problem:
                raise AgentError(f"{problem} at the deadline")
            return
        for why in [problem] if problem else [reading.unsettled[mac] for mac in waiting]:
            log(f"{why}: reading it again in {delay:g} s")
        imds.sleep(delay)
        delay, waited = min(delay * 2, 1.0), True
        try:
            if problem or any(mac not in reading.listed for mac in waiting):
                reading.primary = _checked("mac", imds.get("mac") or "", _mac)
                reading.listed = read_listing(imds)
            for mac in {*waiting, reading.primary} if problem else waiting:
                if mac in reading.listed:
                    reading.read(imds, mac, KEYS, None)
                else:
                    reading.unsettled[mac] = f"IMDS {MACS}: {mac} is not listed"
        except ImdsError:  # the deadline came during the re-read: as they were
            if problem:
                raise AgentError(f"{problem} at the deadline") from None
            return


def compose(
    reading: Reading, old: dict[str, Any] | None, here: Mapping[str, str], base: int
) -> tuple[list[EniFacts], tuple[EniPlan, ...], dict[str, str]]:
    """The ENIs to plan and their plans (none for fewer than two): the settled ones with a
    link here, and for the others with a link here what the last run installed (never torn
    down for missing data); and why each one left unsettled is so. An ENI whose facts
    cannot be planned is unsettled too."""
    routed = {mac for mac, eni in (old or {}).get("enis", {}).items() if eni.get("keys")}
    enis: list[EniFacts] = []
    problems: dict[str, str] = {}
    for mac in sorted({*reading.listed, *routed} & set(here)):
        facts = reading.facts.get(mac)
        if facts is None:
            problems[mac] = reading.unsettled.get(mac, f"IMDS {MACS}: {mac} is not listed")
            try:
                facts = eni_facts(mac, known_keys(old, mac) or {})
            except Unsettled:
                continue  # nothing installed to keep
        enis.append(facts)
    enis.sort(key=lambda e: (e.network_card_index, e.device_index))
    try:
        return enis, plan_enis(reading.instance_id, enis, base) if len(enis) > 1 else (), problems
    except PlanError as error:
        culprits = 0
        for mac, facts in list(reading.facts.items()):
            try:
                plan_eni(facts, base, facts.eni_id)
            except PlanError as why:
                reading.unsettled[mac], culprits = str(why), culprits + 1
                del reading.facts[mac]
        if not culprits:
            raise AgentError(str(error)) from None
        return compose(reading, old, here, base)


def apply(
    args: argparse.Namespace, instance_id: str, plans: Sequence[EniPlan], hold: bool
) -> tuple[int, str]:
    """Runs the engine: (its exit status, its 'A added, R removed' or ''). With no plans it
    removes eniplan's state, unless `hold` (an ENI is not settled)."""
    if not plans and hold:
        return 0, ""
    # (no ENIPLAN_LOCK: this run holds the agent's lock already)
    env = dict(os.environ, ENIPLAN_DRY_RUN="1" if args.dry_run else "", ENIPLAN_LOCK="")
    if args.reconcile:  # a router heard since is in the state it reads; no wait
        env.setdefault("ENIPLAN_RA_WAIT", "0")
    text = script(instance_id, plans, args.table_base, not args.no_guard)
    done = subprocess.run(
        ["sh", "-c", text, "eniplan-agent"], env=env, stdout=subprocess.PIPE, text=True
    )
    sys.stdout.write(done.stdout)
    counts = re.search(r"\d+ added, \d+ removed", done.stdout)
    return done.returncode, counts[0] if counts else ""


def altnames(enis: Sequence[EniFacts], here: Mapping[str, str], dry_run: bool) -> None:
    """amazon-ec2-net-utils' altnames, so `ip link show eni-...` finds the link: the ENI ID
    and device-number-DEVICE.CARD (one ip -batch; those already there fail quietly)."""
    lines = [
        f"link property add dev {here[eni.mac]} altname {name}"
        for eni in enis
        if re.fullmatch(LINK_NAME, here[eni.mac])
        for name in (eni.eni_id, f"device-number-{eni.device_index}.{eni.network_card_index}")
    ]
    if dry_run:
        print("# altnames\n" + "\n".join(lines))
    elif lines:
        subprocess.run(["ip", "-force", "-batch", "-"], input="\n".join(lines) + "\n",
                       text=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    owner = other_owner(Path(args.root))
    if owner and not args.force:
        log(f"standing aside: {owner} already installs per-ENI policy routing")
        return 0
    sysfs, path, guard = Path(args.sysfs), Path(args.state), not args.no_guard
    old = load_state(path)
    first = old is None  # the boot's first run: cloud-init's crawl is as new as IMDS
    if old and (old.get("table_base"), old.get("guard")) != (args.table_base, guard):
        old = None  # another configuration's: read everything again
    kind = "reconcile" if args.reconcile else "hotplug" if args.hotplug else "boot"
    want = None
    if args.hotplug:
        link = sysfs / args.hotplug / "address"
        want = link.read_text().strip() if link.exists() else None
        log(f"hotplug: {args.hotplug} {'added' if want else 'removed'}")
        before = old["enis"].get(want, {}) if old and want else {}
        if old and (before.get("status") in DONE or want in old.get("ignored", [])):
            log(f"{args.hotplug}: {before.get('status', 'ignored')} by the run of "
                f"{stamp(old['run']['started'])}: nothing to do")  # fmt: skip
            return 0
    started, clock = time.time(), time.monotonic()
    deadline = args.hotplug_wait if want else args.deadline
    imds = Imds(args.imds or ENDPOINTS, deadline, interval=PACE, pace_file=args.lock + ".pace")
    with imds:
        reading = gather(imds, old, kind, Path(args.root) if first and kind == "boot" else None)
        if want and want not in reading.listed:
            if not (sysfs / str(args.hotplug) / "device").exists():
                log(f"{args.hotplug} ({want}): a virtual link of no ENI here: ignored")
                if old:
                    old["ignored"] = sorted({*old.get("ignored", []), want})
                    save_state(path, old)
                return 0
            reading.unsettled[want] = f"IMDS {MACS}: {want} is not listed"
        here = local_links(sysfs)
        for mac in reading.listed:
            if mac not in here and mac in reading.facts:
                log(f"{reading.facts[mac].eni_id} ({mac}): no link here, left out")
        status, change, applied = 0, "", None

        def now() -> None:  # the settled ENIs, before waiting for the others
            nonlocal status, change, applied
            enis, plans, problems = compose(reading, old, here, args.table_base)
            if any(eni.mac not in problems for eni in enis):
                status, change = apply(args, reading.instance_id, plans, bool(problems))
                applied = enis

        settle(imds, reading, here, now)
        enis, plans, problems = compose(reading, old, here, args.table_base)
        if enis != applied:
            status, change = apply(args, reading.instance_id, plans, bool(problems))
        requests, connections = imds.requests, imds.connections
    planned = {eni.mac for eni in plans}
    fresh = [e for e in enis if e.mac in planned and (old or {}).get("enis", {})
             .get(e.mac, {}).get("status") != "routed"]  # fmt: skip
    altnames(fresh, here, args.dry_run)
    for mac, why in problems.items():
        kept = any(eni.mac == mac for eni in enis)
        name = next((e.eni_id for e in enis if e.mac == mac), mac)
        log(f"{name} ({here[mac]}) not settled: {why}; "
            + ("kept what was installed" if kept else "not routed yet"))  # fmt: skip
    log(
        f"{reading.instance_id}: {len(reading.listed)} ENIs in IMDS ({requests} requests, "
        f"{connections} connection{'s' if connections != 1 else ''}"
        f"{', the rest from cloud-init' if reading.crawled else ''}), "
        + (f"{len(planned)} routed" if planned else "fewer than two here")
    )
    if args.dry_run:
        return status or (1 if problems else 0)
    exit_status = status or (1 if problems else 0)
    enis_state: dict[str, Any] = {}
    for mac in sorted({*reading.listed, *(old or {}).get("enis", {})}):
        keys = reading.raw.get(mac) if mac in reading.facts else known_keys(old, mac)
        if mac in problems:
            why = f"not settled: {problems[mac]}"
        elif mac not in here:
            why = "no link here"
        else:
            why = "routed" if mac in planned else "the only ENI here"
        if mac in here or mac in reading.listed:
            enis_state[mac] = {"keys": keys, "link": here.get(mac), "status": why}
    previous_change = (old or {}).get("change") or {}
    save_state(path, {
        "version": STATE_VERSION, "instance_id": reading.instance_id,
        "primary": reading.primary, "table_base": args.table_base, "guard": guard,
        "enis": enis_state, "ignored": (old or {}).get("ignored", []),
        "run": {"kind": kind, "started": started, "seconds": round(time.monotonic() - clock, 3),
                "requests": requests, "connections": connections, "exit": exit_status},
        "change": {"at": started, "counts": change} if change else previous_change,
    })  # fmt: skip
    return exit_status


def status(args: argparse.Namespace) -> int:
    """What the last run installed and when (`eniplan-agent status`)."""
    state = load_state(Path(args.state))
    if state is None:
        log(f"no run recorded since boot ({args.state})")
        return 1
    run, change = state["run"], state.get("change") or {}
    last = f"at {stamp(change['at'])}: {change['counts']}" if change else "none"
    print(f"{state['instance_id']}: last run {run['kind']} at {stamp(run['started'])} "
          f"({run['seconds']} s, {run['requests']} IMDS requests), exit {run['exit']}; "
          f"last change {last}")  # fmt: skip
    for mac, eni in state["enis"].items():
        try:
            facts = eni_facts(mac, eni.get("keys") or {})
            table = state["table_base"] + 100 * facts.network_card_index + facts.device_index
            what = f"{facts.eni_id} table {table}"
        except Unsettled:
            what = "(no facts)"
        print(f"  {mac} {eni.get('link') or '-'} {what}: {eni['status']}")
    return 0 if run["exit"] == 0 else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eniplan-agent", description="eniplan dynamic mode: per-ENI policy routing from IMDSv2"
    )
    add: Any = p.add_argument
    add("command", nargs="?", choices=("run", "status"), default="run",
        help="status: what the last run installed and when")  # fmt: skip
    add("--table-base", type=int, default=DEFAULT_TABLE_BASE)
    add("--no-guard", action="store_true", help="no main-table guard")
    add("--hotplug", metavar="IFACE", help="the ENI link that came or went")
    add("--reconcile", action="store_true",
        help="the periodic run: reads only addresses and prefixes")  # fmt: skip
    add("--dry-run", action="store_true", help="print the ip commands only")
    add("--force", action="store_true", help="even where another agent routes")
    add("--imds", action="append", metavar="URL", help="IMDS endpoint (repeatable)")
    add("--deadline", type=float, default=30.0, help="seconds for a whole run")
    add("--hotplug-wait", type=float, default=60.0, help="seconds for a new ENI in IMDS")
    add("--root", default="/", help="where other agents' and cloud-init's files are")
    add("--sysfs", default="/sys/class/net", help=argparse.SUPPRESS)
    add("--lock", default="/run/eniplan-agent.lock")
    add("--state", default="/run/eniplan-agent/state.json", help="what the last run did")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not MIN_TABLE_BASE <= args.table_base <= MAX_TABLE_BASE:
        log(f"--table-base {args.table_base}: expected {MIN_TABLE_BASE} to {MAX_TABLE_BASE}")
        return 2
    if args.hotplug and not re.fullmatch(LINK_NAME, args.hotplug):
        log(f"--hotplug {args.hotplug[:40]!r}: not a link name")
        return 2
    for url in args.imds or ():  # a typo fails here, not as 30 s of unreachable IMDS
        if not re.fullmatch(r"http://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?/?", url):
            log(f"--imds {url[:60]!r}: expected http://HOST[:PORT]")
            return 2
    for option in ("deadline", "hotplug_wait"):
        if not 0 < getattr(args, option) <= 3600:
            log(f"--{option.replace('_', '-')} {getattr(args, option)}: expected 0 to 3600 s")
            return 2
    if args.command == "status":
        return status(args)
    try:
        with open(args.lock, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # boot, hotplug and reconcile runs take turns
            return run(args)
    except (AgentError, ImdsError, OSError) as error:
        log(f"failed, nothing changed: {error}")
        return 1
