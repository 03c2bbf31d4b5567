"""The lab's proofs, before and after applying a target, and the run that makes them.

One *round* of probes (all at once, one probe agent per source namespace) answers
proofs 1-4; the nftables counters in the vpc namespace, read before and after the round,
say which ENI each packet left through and whether it went to the peer or to the router.

    1 reachable    every ENI address answers ping and TCP from its subnet's peer and
                   from the remote host beyond the router
    2 symmetric    packets from an address leave through the ENI that owns it only
    3 direct       replies to a same-subnet peer go to the peer's MAC, not the router's
    4 coexistence  the instance reaches a docker0-like bridge's container and a static
                   route's destination, unbound and from every ENI address
    5 idempotent   a second apply leaves `ip rule` and `ip route show table all` as they were
    6 reboot       rules, routes and added addresses flushed, the files alone restore 1-4
    7 hotplug      one ENI detached and a new one attached, re-applied: 1-4 hold

With `--target dynamic` the lab's IMDS serves the instance's meta-data (lab/imds.py);
proof 7 updates it and runs what udev runs for the removed and the added link (the
user data is not rendered again: it is the same for every instance).
"""

from __future__ import annotations

import difflib
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address
from pathlib import Path

from eniplan.lab import install, shell
from eniplan.lab import nft as nft_rules
from eniplan.lab.imds import MACS, metadata_tree
from eniplan.lab.shell import LabError
from eniplan.lab.topology import (
    TCP_PORT,
    EniPort,
    Lab,
    Topology,
    agent_command,
    design,
    free_host,
    owned_addresses,
)
from eniplan.model import Instance, Inventory
from eniplan.plan import (
    MANAGED,
    MAX_NETWORK_CARDS,
    InstancePlan,
    PlanOptions,
    plan_instance,
    plan_inventory,
)

PROOFS: tuple[tuple[str, str], ...] = (
    ("reachable", "every ENI address answers ping and TCP (peer, remote host)"),
    ("symmetric", "replies leave through the ENI that owns the address"),
    ("direct", "replies to a same-subnet peer go straight, not via the router"),
    ("coexistence", "a docker0-like bridge and a static route keep working"),
    ("idempotent", "applying twice: identical ip rule and ip route show table all"),
    ("reboot", "reboot: the persisted files alone restore proofs 1-4"),
    ("hotplug", "an ENI detached, another attached, re-applied: proofs 1-4"),
)
ROUND_PROOFS = ("reachable", "symmetric", "direct", "coexistence")
PROBE_TIMEOUT = 1.0  # seconds: a ping or a TCP connect between namespaces takes < 1 ms


@dataclass(frozen=True)
class Outcome:
    """One proof in one column: how many checks, and a line for each that failed."""

    checks: int
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.checks > 0 and not self.failures


@dataclass(frozen=True)
class ProofRow:
    number: int
    key: str
    title: str
    before: Outcome | None
    after: Outcome | None


@dataclass(frozen=True)
class LabOptions:
    target: str = "iproute2"
    source_dest_check: bool = True
    rp_filter: int = 1
    persist: str = "script"  # lab --boot --target cloud-init
    image_dir: Path = Path()  # lab --boot: where the OS image is cached
    stack: str | None = None  # lab --boot: the OS's network stack (None: the target's)


@dataclass(frozen=True)
class LabReport:
    instance_id: str
    name: str
    target: str
    enis: tuple[EniPort, ...]  # as wired at the start
    rows: tuple[ProofRow, ...]
    timings: tuple[tuple[str, float], ...]
    apply_output: str
    leftovers: tuple[str, ...] = ()
    booted_os: str | None = None  # lab --boot: the OS the instance booted

    @property
    def passed(self) -> bool:
        """Every proof holds after applying (the before column is the problem shown)."""
        return all(row.after is not None and row.after.passed for row in self.rows) and not (
            self.leftovers
        )


# --- probes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    ns: str
    kind: str  # ping | tcp
    target: IPv4Address
    bind: IPv4Address | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target}:{self.bind or ''}"

    def spec(self) -> dict[str, object]:
        return {
            "id": self.key,
            "kind": self.kind,
            "target": str(self.target),
            "port": TCP_PORT,
            "bind": None if self.bind is None else str(self.bind),
            "timeout": PROBE_TIMEOUT,
        }


def run_probes(probes: Sequence[Probe]) -> dict[Probe, bool]:
    """All probes at once: one agent per namespace, the agents concurrently."""
    by_ns: dict[str, list[Probe]] = {}
    for probe in probes:
        by_ns.setdefault(probe.ns, []).append(probe)

    def one(ns: str) -> dict[str, bool]:
        done = shell.run(
            ns, agent_command("probe"), input=json.dumps([p.spec() for p in by_ns[ns]])
        )
        answer: dict[str, bool] = json.loads(done.stdout)
        return answer

    with ThreadPoolExecutor(max_workers=max(1, len(by_ns))) as pool:
        answers = dict(zip(by_ns, pool.map(one, by_ns), strict=True))
    return {probe: bool(answers[probe.ns].get(probe.key)) for probe in probes}


def counters(topology: Topology) -> dict[str, int]:
    listing = shell.nft_json(topology.vpc_ns, *nft_rules.list_counters_args())
    return nft_rules.parse_counters(listing)


# --- one round: proofs 1-4 ----------------------------------------------------------------


def measure(lab: Lab) -> dict[str, Outcome]:
    t = lab.topology
    lab.flush_neighbours()
    probes: list[Probe] = []
    for eni in t.enis:
        for address in eni.addresses:
            for ns in (t.lan(eni).peer_ns, t.remote_ns):
                probes += [Probe(ns, "ping", address), Probe(ns, "tcp", address)]
    sources: list[IPv4Address | None] = [None, *(a for eni in t.enis for a in eni.addresses)]
    for target in (t.container.ip, t.static_target):
        probes += [Probe(t.instance_ns, "ping", target, source) for source in sources]
    start = counters(t)
    results = run_probes(probes)
    end = counters(t)
    delta = {name: end.get(name, 0) - start.get(name, 0) for name in end}
    return {
        "reachable": _reachable(t, results),
        "symmetric": _symmetric(t, delta),
        "direct": _direct(t, results, delta),
        "coexistence": _coexistence(t, results),
    }


def _reachable(t: Topology, results: Mapping[Probe, bool]) -> Outcome:
    checks, failures = 0, []
    for eni in t.enis:
        for address in eni.addresses:
            for ns, where in ((t.lan(eni).peer_ns, "peer"), (t.remote_ns, "remote host")):
                checks += 1
                lost = [
                    what
                    for kind, what in (("ping", "ping"), ("tcp", f"TCP :{TCP_PORT}"))
                    if not results[Probe(ns, kind, address)]
                ]
                if lost:
                    failures.append(
                        f"{address} ({eni.ifname}) from the {where}: "
                        f"no answer to {' or '.join(lost)}"
                    )
    return Outcome(checks, tuple(failures))


def _symmetric(t: Topology, delta: Mapping[str, int]) -> Outcome:
    checks, failures = 0, []
    for eni in t.enis:
        for address in eni.addresses:
            checks += 1
            own = delta.get(nft_rules.tx_counter(eni.ifname, address), 0)
            wrong = {
                other.ifname: delta.get(nft_rules.tx_counter(other.ifname, address), 0)
                for other in t.enis
                if other is not eni
            }
            strays = ", ".join(f"{_packets(n)} through {name}" for name, n in wrong.items() if n)
            if strays:
                checked = t.source_dest_check and all(
                    other.source_dest_check for other in t.enis if other is not eni
                )
                dropped = " (dropped by the source/dest check)" if checked else ""
                failures.append(f"{address} ({eni.ifname}): {strays}{dropped}")
            elif own == 0:
                failures.append(f"{address} ({eni.ifname}): sent nothing (no request got in)")
    return Outcome(checks, tuple(failures))


def _packets(count: int) -> str:
    return f"{count} packet{'s' if count != 1 else ''}"


def _direct(t: Topology, results: Mapping[Probe, bool], delta: Mapping[str, int]) -> Outcome:
    checks, failures = 0, []
    for eni in t.enis:
        lan = t.lan(eni)
        for address in eni.addresses:
            checks += 1
            via = delta.get(nft_rules.via_counter(address), 0)
            direct = delta.get(nft_rules.direct_counter(address), 0)
            if via:
                failures.append(
                    f"{address}: {_packets(via)} to the peer {lan.peer.ip} via the router"
                )
            elif not direct or not results[Probe(lan.peer_ns, "tcp", address)]:
                failures.append(f"{address}: no reply reached the peer {lan.peer.ip}")
    return Outcome(checks, tuple(failures))


def _coexistence(t: Topology, results: Mapping[Probe, bool]) -> Outcome:
    checks, failures = 0, []
    for target, what in ((t.container.ip, "docker0 container"), (t.static_target, "static route")):
        for probe, ok in results.items():
            if probe.ns == t.instance_ns and probe.target == target:
                checks += 1
                if not ok:
                    source = f"from {probe.bind}" if probe.bind else "unbound"
                    failures.append(f"{what} {target} {source}: no reply")
    return Outcome(checks, tuple(failures))


# --- routing state ------------------------------------------------------------------------


RULE_LINES = ("ip -4 rule ", "ip -6 rule ")  # routing_snapshot's lines of `ip rule`


def routing_snapshot(ns: str) -> list[str]:
    """`ip rule` and `ip route show table all`, both families. IPv6 link-local entries
    are left out: the kernel adds them when duplicate address detection ends, whenever
    that is, and nothing eniplan does touches them."""
    lines = []
    for family in ("-4", "-6"):
        for what in (("rule", "show"), ("route", "show", "table", "all")):
            output = shell.ip(ns, family, *what).stdout
            lines += [
                f"ip {family} {' '.join(what)}: {line}"
                for line in output.splitlines()
                if " fe80:" not in f" {line}"
            ]
    return lines


def _diff(old: Sequence[str], new: Sequence[str], limit: int = 6) -> tuple[str, ...]:
    changed = [
        line
        for line in difflib.unified_diff(list(old), list(new), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return _limited(changed, limit)


def state_changes(old: Sequence[str], new: Sequence[str], limit: int = 6) -> tuple[str, ...]:
    """What differs between two routing snapshots: the rules in order (rules of one
    priority are tried in the order listed), the routes as a multiset. The kernel lists
    routes by table, destination and metric, and only routes equal in all three (two ENIs'
    DHCP routes to one subnet) in the order they were added: an OS that re-acquires its
    leases (`netplan apply`) may add them in another order, with every route as before.
    Any route added, removed, duplicated or changed in any attribute is a change."""
    rules_old = [line for line in old if line.startswith(RULE_LINES)]
    rules_new = [line for line in new if line.startswith(RULE_LINES)]
    changed = list(_diff(rules_old, rules_new, limit=len(old) + len(new)))
    routes_old = Counter(line for line in old if not line.startswith(RULE_LINES))
    routes_new = Counter(line for line in new if not line.startswith(RULE_LINES))
    changed += [f"-{line}" for line in (routes_old - routes_new).elements()]
    changed += [f"+{line}" for line in (routes_new - routes_old).elements()]
    return _limited(changed, limit)


def _limited(changed: Sequence[str], limit: int) -> tuple[str, ...]:
    return tuple(changed[:limit]) + (
        (f"... {len(changed) - limit} more",) if len(changed) > limit else ()
    )


def flush_routing(lab: Lab, plan: InstancePlan) -> None:
    """What a reboot clears: the rules and per-ENI routes eniplan installed, the addresses
    it added, the netdev group. The boot addresses (DHCP) stay."""
    t = lab.topology
    low, high = plan.table_base - 1, plan.table_base + 100 * MAX_NETWORK_CARDS
    for family in ("-4", "-6"):
        rules = shell.ip_json(t.instance_ns, family, "rule", "show")
        lines = [
            f"rule del priority {rule['priority']}"
            for rule in rules
            if low <= int(rule.get("priority", -1)) < high
        ]
        lines += [f"route flush table {eni.table}" for eni in plan.enis]
        _batch(t.instance_ns, family, lines)
    boot = {eni.mac: eni for eni in t.enis}
    lines = []
    for link in shell.ip_json(t.instance_ns, "addr", "show"):
        eni = boot.get(link.get("address", ""))
        if eni is None:
            continue
        lines.append(f"link set dev {eni.ifname} group default")
        for info in link.get("addr_info", []):
            local, family = info.get("local"), info.get("family")
            added = local != str(eni.boot.ip) if family == "inet" else info.get("scope") == "global"
            if added:
                lines.append(f"addr del {local}/{info['prefixlen']} dev {eni.ifname}")
    shell.ip_batch(t.instance_ns, lines)


def _batch(ns: str, family: str, lines: Iterable[str]) -> None:
    text = "".join(f"{line}\n" for line in lines)
    if text:
        shell.run(ns, ["ip", family, "-force", "-batch", "-"], input=text, check=False)


# --- ENI detach and attach ----------------------------------------------------------------


def attach_candidate(
    instance: Instance, topology: Topology, plan: InstancePlan
) -> tuple[Instance, EniPort]:
    """`instance` with its last secondary ENI detached and a new ENI attached in the same
    subnet (next device index, a fresh MAC, a free address)."""
    detached = topology.enis[-1]
    if len(topology.enis) < 2:
        raise LabError("detach and attach need two ENIs")
    model = next(eni for eni in instance.enis if eni.mac == detached.mac)
    lan = topology.lan(detached)
    taken = owned_addresses(plan) | {lan.peer.ip for lan in topology.lans}
    address = free_host(lan.cidr, taken, "attached ENI")
    macs = {eni.mac for eni in instance.enis}
    mac = detached.mac
    while mac in macs:
        mac = "02:e1:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(4))
    card = model.network_card_index
    device = 1 + max(e.device_index or 0 for e in instance.enis if e.network_card_index == card)
    new = replace(
        model,
        eni_id=f"eni-{secrets.token_hex(9)[:17]}",
        mac=mac,
        primary_ipv4=address,
        secondary_ipv4s=(),
        ipv4_prefixes=(),
        ipv6_addresses=(),
        ipv6_prefixes=(),
        device_index=device,
    )
    enis = tuple(sorted((*(e for e in instance.enis if e is not model), new), key=lambda e: e.slot))
    return replace(instance, enis=enis), detached


def select_instance(inventory: Inventory, options: PlanOptions) -> Instance:
    """The one selected instance that eniplan manages; LabError for none or several."""
    plans = plan_inventory(inventory, options)
    managed = [plan for plan in plans if plan.status == MANAGED]
    if not managed:
        raise LabError(
            f"none of the {len(plans)} selected instance(s) needs policy routing: select one "
            "with --instance-id or --tag"
        )
    if len(managed) > 1:
        names = ", ".join(f"{p.instance_id} ({p.name or 'no name'})" for p in managed[:4])
        more = ", ..." if len(managed) > 4 else ""
        raise LabError(
            f"{len(managed)} selected instances need policy routing ({names}{more}): the lab "
            "proves one; select it with --instance-id or --tag"
        )
    instance = inventory.instance(managed[0].instance_id)
    assert instance is not None
    return instance


# --- the run ------------------------------------------------------------------------------


@dataclass
class _Clock:
    progress: Callable[[str], None] | None
    timings: list[tuple[str, float]] = field(default_factory=list)
    _start: float = field(default_factory=time.monotonic)

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.timings.append((phase, round(now - self._start, 3)))
        self._start = now
        if self.progress:
            self.progress(phase)


def _applied_outcome(applied: install.Applied) -> tuple[str, ...]:
    if applied.ok:
        return ()
    last = applied.output.strip().splitlines()[-1:] or ["no output"]
    return (f"apply failed ({applied.returncode}): {last[0]}",)


def _combined(outcomes: Mapping[str, Outcome], extra: Sequence[str], checks: int) -> Outcome:
    failures = list(extra)
    total = checks
    for key in ROUND_PROOFS:
        outcome = outcomes[key]
        total += outcome.checks
        failures += [f"proof {ROUND_PROOFS.index(key) + 1}: {line}" for line in outcome.failures]
    return Outcome(total, tuple(failures))


def _apply(lab: Lab, target: str, plan: InstancePlan, outputs: list[str]) -> install.Applied:
    install.install(target, plan, lab.root)
    return _boot(lab, outputs)


def _boot(lab: Lab, outputs: list[str]) -> install.Applied:
    applied = install.boot(lab.topology.instance_ns, lab.root)
    outputs.append(applied.output)
    return applied


def _prove_idempotent(lab: Lab, first: install.Applied, outputs: list[str]) -> Outcome:
    """Proof 5: a second apply changes neither the rules nor any route."""
    applied_state = routing_snapshot(lab.topology.instance_ns)
    second = _boot(lab, outputs)
    again = routing_snapshot(lab.topology.instance_ns)
    return Outcome(
        1,
        (*_applied_outcome(first), *_applied_outcome(second), *state_changes(applied_state, again)),
    )


def _prove_reboot(
    lab: Lab, plan: InstancePlan, boot_state: Sequence[str], outputs: list[str]
) -> Outcome:
    """Proof 6: flush what eniplan installed, boot from the persisted files, prove 1-4."""
    flush_routing(lab, plan)
    flushed = _diff(boot_state, routing_snapshot(lab.topology.instance_ns))
    rebooted = _boot(lab, outputs)
    extra = (*(f"flush left: {line}" for line in flushed), *_applied_outcome(rebooted))
    return _combined(measure(lab), extra, 1)


Udev = Callable[[str, str], install.Applied]  # (action, link): what udev's rules ran


def _replug(
    lab: Lab,
    tree: dict[str, str],
    detached: Sequence[EniPort],
    attached: Sequence[EniPort],
    outputs: list[str],
    udev: Udev,
) -> install.Applied:
    """The dynamic target's hotplug, event by event: IMDS drops the detached ENIs and
    udev reports their links removed; then IMDS lists the attached ones (`tree`: the
    instance after both) and udev reports their links added."""
    new = tuple(f"{MACS}{eni.mac}/" for eni in attached)
    steps = [({k: v for k, v in tree.items() if not k.startswith(new)}, "remove", detached)]
    steps.append((tree, "add", attached))
    applied = install.Applied("hotplug", 0, "")
    for served, action, enis in steps:
        lab.update_imds(served)
        for eni in enis:
            applied = udev(action, eni.ifname)
            outputs.append(applied.output)
            if not applied.ok:
                return applied
    return applied


def _prove_hotplug(
    lab: Lab,
    instance: Instance,
    inventory: Inventory,
    plan: InstancePlan,
    plan_options: PlanOptions,
    target: str,
    outputs: list[str],
    udev: Udev | None = None,
) -> Outcome:
    """Proof 7: detach an ENI, attach a new one, re-render and re-apply (the dynamic
    target: what its udev rule starts runs for each link, by default the unit's ExecStart
    in the instance namespace), prove 1-4, and nothing of the detached ENI's table is
    left."""
    attached_instance, detached = attach_candidate(instance, lab.topology, plan)
    new_plan = plan_instance(attached_instance, inventory, plan_options)
    unchecked = [eni.mac for eni in attached_instance.enis if not eni.source_dest_check]
    detached_links, attached_links = lab.rewire(
        design(
            new_plan,
            lab.topology.run_id,
            previous=lab.topology,
            taken=detached.addresses,
            unchecked=unchecked,
        )
    )
    if target == "dynamic":
        tree = metadata_tree(attached_instance, inventory)
        if udev is None:
            udev = lambda action, link: install.hotplug(  # noqa: E731
                lab.topology.instance_ns, lab.root, action, link
            )
        replugged = _replug(lab, tree, detached_links, attached_links, outputs, udev)
    else:
        replugged = _apply(lab, target, new_plan, outputs)
    table = str(detached.table)
    stale = [
        f"left of {detached.ifname}: {line}"
        for line in routing_snapshot(lab.topology.instance_ns)
        if f"lookup {table} " in f"{line} " or f"table {table} " in f"{line} "
    ]
    return _combined(measure(lab), (*_applied_outcome(replugged), *stale), 2)


def run_lab(
    instance: Instance,
    inventory: Inventory,
    plan_options: PlanOptions,
    options: LabOptions,
    *,
    run_id: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> LabReport:
    """Builds the lab for `instance`, proves, applies `options.target`, proves again, and
    removes the lab (also on errors and signals)."""
    if options.target not in install.TARGETS:
        raise LabError(f"--target {options.target}: the lab applies {', '.join(install.TARGETS)}")
    plan = plan_instance(instance, inventory, plan_options)
    if plan.status != MANAGED:
        raise LabError(f"{instance.instance_id}: {plan.status}: {plan.reason}")
    reason = install.unrunnable(options.target, plan.os)
    if reason:
        what = "cloud-init --mode dynamic" if options.target == "dynamic" else options.target
        raise LabError(
            f"{instance.instance_id} ({instance.name!r}) runs {plan.os.family} "
            f"({plan.os.evidence}): --target {what} cannot run there: {reason}; "
            "the lab would prove it on this host's kernel, not the instance's"
        )
    topology = design(
        plan,
        run_id or shell.unique_run_id(),
        source_dest_check=options.source_dest_check,
        rp_filter=options.rp_filter,
        unchecked=[eni.mac for eni in instance.enis if not eni.source_dest_check],
    )
    clock = _Clock(progress)
    total_start = time.monotonic()
    outputs: list[str] = []
    lab = Lab(topology)
    with lab:
        if options.target == "dynamic":
            lab.serve_imds(metadata_tree(instance, inventory))
        clock.lap("build")
        before = measure(lab)
        boot_state = routing_snapshot(topology.instance_ns)
        clock.lap("before")

        first = _apply(lab, options.target, plan, outputs)
        clock.lap("apply")
        after = {
            key: replace(outcome, failures=(*_applied_outcome(first), *outcome.failures))
            for key, outcome in measure(lab).items()
        }
        clock.lap("after")
        after["idempotent"] = _prove_idempotent(lab, first, outputs)
        clock.lap("idempotency")
        after["reboot"] = _prove_reboot(lab, plan, boot_state, outputs)
        clock.lap("reboot")
        after["hotplug"] = _prove_hotplug(
            lab, instance, inventory, plan, plan_options, options.target, outputs
        )
        clock.lap("hotplug")
    clock.lap("teardown")
    return lab_report(
        instance, options.target, topology.enis, lab, PROOFS, before, after, clock, total_start,
        outputs,
    )  # fmt: skip


def lab_report(
    instance: Instance,
    target: str,
    enis: tuple[EniPort, ...],
    lab: Lab,
    proofs: Sequence[tuple[str, str]],
    before: Mapping[str, Outcome],
    after: Mapping[str, Outcome],
    clock: _Clock,
    total_start: float,
    outputs: Sequence[str],
    booted_os: str | None = None,
) -> LabReport:
    """The report of a finished lab (`lab` removed; `enis` as wired at its start), a row
    per proof in `proofs`' order, the time since `total_start` as its total."""
    rows = tuple(
        ProofRow(number=index, key=key, title=title, before=before.get(key), after=after.get(key))
        for index, (key, title) in enumerate(proofs, start=1)
    )
    return LabReport(
        instance_id=instance.instance_id,
        name=instance.name,
        target=target,
        enis=enis,
        rows=rows,
        timings=(*clock.timings, ("total", round(time.monotonic() - total_start, 3))),
        apply_output="\n".join(o for o in outputs if o),
        leftovers=tuple(lab.leftovers),
        booted_os=booted_os,
    )
