"""The doctor's verdicts: for every address of every ENI, where a reply goes.

For each usable (global, not tentative) address A on an ENI's interface I, two flows are
decided by the simulator with source A, as a reply from A would be sent:
- toward a same-subnet peer: the first address of A's subnet from base+4 (AWS reserves
  base..base+3) that is not local (IPv4); base+0x100 onward for IPv6. The subnet is the
  ENI's from IMDS when known, else A's prefix, else the prefix of another address of I
  that contains A (a /32 secondary address);
- toward an off-subnet address: 8.8.8.8 for IPv4, 2600::1 for IPv6 (1.1.1.1 and
  2606:4700::1111 when those are inside a local subnet).
A reply that leaves through another interface than I fails (ENI101 off-subnet, ENI102
peer); one that finds no route while the host itself can reach the destination is ENI104.
Rules for A pointing at tables without a default route are ENI103; IMDS addresses missing
from the interface are ENI105; other agents' rules are listed (ENI106, info); rules for
addresses no interface has are ENI107.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from eniplan.doctor import owners
from eniplan.doctor.ec2rescue import FAILURE, ParityResult, asymmetricroute
from eniplan.doctor.model import (
    LOOKUP,
    Address,
    HostState,
    ImdsEni,
    ImdsInfo,
    IPAddress,
    IPNetwork,
    KernelRule,
    Link,
)
from eniplan.doctor.simulate import MAX_PATHS, Decision, Flow, decide
from eniplan.findings import Finding, sort_findings

INTERNET = {4: ip_address("8.8.8.8"), 6: ip_address("2600::1")}
INTERNET_FALLBACK = {4: ip_address("1.1.1.1"), 6: ip_address("2606:4700::1111")}
PEER_OFFSET = {4: 4, 6: 0x100}

# Interfaces that are not ENIs when IMDS cannot tell: bridges, tunnels, container veths.
VIRTUAL = re.compile(
    r"(docker\d*|br-.*|virbr.*|cni.*|flannel.*|cali.*|vxlan.*|tun.*|tap.*|wg.*|veth.*|lxc.*"
    r"|kube.*|cilium.*|eni[0-9a-f]{11}|genev.*|nodelocaldns|podman.*)"
)

OK, FAIL, SKIP, DEPENDS = "ok", "fail", "n/a", "depends"

REMEDIATION = (
    "give every ENI its own routing table and a rule for each of its addresses: "
    "`eniplan render --instance-id INSTANCE --target iproute2` (or --target cloud-init / "
    "netplan / networkd / networkmanager / ifcfg for a persistent configuration)"
)


@dataclass(frozen=True)
class Interface:
    link: Link
    eni: ImdsEni | None = None

    @property
    def name(self) -> str:
        return self.link.name


@dataclass(frozen=True)
class Toward:
    """One simulated reply: where it goes and whether that is right."""

    destination: IPAddress
    decision: Decision
    status: str  # ok, fail, n/a, depends (on the traffic: protocol, ports, DS field, ...)
    reason: str = ""


@dataclass(frozen=True)
class AddressVerdict:
    interface: Interface
    address: Address
    subnet: IPNetwork | None
    peer: Toward | None
    internet: Toward

    @property
    def status(self) -> str:
        statuses = [self.internet.status] + ([self.peer.status] if self.peer else [])
        if FAIL in statuses:
            return FAIL
        if DEPENDS in statuses:
            return DEPENDS
        return OK if OK in statuses else SKIP


@dataclass(frozen=True)
class RuleInfo:
    rule: KernelRule
    owner: str
    note: str


@dataclass(frozen=True)
class Disagreement:
    address: str
    text: str


@dataclass(frozen=True)
class Diagnosis:
    interfaces: tuple[Interface, ...]
    skipped_links: tuple[tuple[str, str], ...]
    addresses: tuple[AddressVerdict, ...]
    rules: tuple[RuleInfo, ...]
    parity: ParityResult | None
    disagreements: tuple[Disagreement, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()
    instance_id: str | None = None


def diagnose(state: HostState, imds: ImdsInfo | None = None) -> Diagnosis:
    interfaces, skipped = _interfaces(state, imds)
    instance_id = imds.instance_id if imds else None
    verdicts = tuple(
        _address_verdict(state, interface, address)
        for interface in interfaces
        for address in interface.link.addresses
        if address.usable
    )
    rules = tuple(_rule_info(state, rule) for family in (4, 6) for rule in state.rules_for(family))
    findings = [*_path_findings(verdicts, instance_id)]
    findings += _table_findings(state, interfaces, instance_id)
    findings += _imds_findings(interfaces, instance_id)
    findings += _agent_findings(rules, instance_id)
    findings += _stray_rule_findings(state, rules, instance_id)
    parity = None
    disagreements: tuple[Disagreement, ...] = ()
    if state.raw_addr_text is not None and state.raw_rule_text is not None:
        parity = asymmetricroute(state.raw_addr_text, state.raw_rule_text)
        disagreements = _disagreements(parity, verdicts)
    notes = list(state.notes)
    for verdict in verdicts:
        for toward in (verdict.peer, verdict.internet):
            if toward and toward.decision.alternatives:
                notes.append(_alternatives_note(verdict.address.ip, toward))
    return Diagnosis(
        interfaces=interfaces,
        skipped_links=skipped,
        addresses=verdicts,
        rules=rules,
        parity=parity,
        disagreements=disagreements,
        findings=sort_findings(findings),
        notes=tuple(dict.fromkeys(notes)),
        instance_id=instance_id,
    )


# --- interfaces ----------------------------------------------------------------------------


def _interfaces(
    state: HostState, imds: ImdsInfo | None
) -> tuple[tuple[Interface, ...], tuple[tuple[str, str], ...]]:
    by_mac = {eni.mac: eni for eni in imds.enis} if imds and imds.enis else {}
    chosen: list[Interface] = []
    skipped: list[tuple[str, str]] = []
    for link in state.links:
        if link.is_loopback:
            continue
        if by_mac:
            eni = by_mac.get(link.mac or "")
            if eni is None:
                skipped.append((link.name, "not an ENI (its MAC is not in the instance metadata)"))
                continue
            chosen.append(Interface(link, eni))
        elif VIRTUAL.fullmatch(link.name):
            skipped.append((link.name, "a bridge, tunnel or container interface, not an ENI"))
        elif not any(a.usable for a in link.addresses):
            skipped.append((link.name, "no global address"))
        else:
            chosen.append(Interface(link))
    chosen.sort(key=lambda i: (i.eni.network_card, i.eni.device_number) if i.eni else (0, 0))
    return tuple(chosen), tuple(skipped)


def _subnet(interface: Interface, address: Address) -> IPNetwork | None:
    eni = interface.eni
    if eni is not None:
        if address.family == 4 and eni.subnet_ipv4 and address.ip in eni.subnet_ipv4:
            return eni.subnet_ipv4
        for subnet in eni.subnet_ipv6:
            if address.ip in subnet:
                return subnet
    network = address.address.network
    if network.prefixlen < network.max_prefixlen - 1:
        return network
    wider = [
        a.address.network
        for a in interface.link.addresses
        if a.family == address.family
        and address.ip in a.address.network
        and a.address.network.prefixlen < a.address.network.max_prefixlen - 1
    ]
    return min(wider, key=lambda n: n.prefixlen) if wider else None


def _peer(state: HostState, subnet: IPNetwork) -> IPAddress | None:
    local = state.local_ips()
    start = int(subnet.network_address) + PEER_OFFSET[subnet.version]
    last = int(subnet.broadcast_address)
    for value in range(start, min(start + 256, last)):
        candidate = IPv4Address(value) if subnet.version == 4 else IPv6Address(value)
        if candidate not in local:
            return candidate
    return None


def _internet(state: HostState, family: int) -> IPAddress:
    subnets = [a.address.network for a in state.addresses() if a.family == family]
    target = INTERNET[family]
    if any(target in s for s in subnets):
        return INTERNET_FALLBACK[family]
    return target


def _judge(state: HostState, interface: Interface, address: Address, dst: IPAddress) -> Toward:
    """Where a reply from `address` to `dst` goes; when that depends on what the reply's
    socket decides (protocol, ports, DS field, owner), every way is judged, and the verdict
    is `depends` unless all agree."""
    decision = decide(state, Flow(dst=dst, src=address.ip))
    unbound = decide(state, Flow(dst=dst))
    reachable = any(d.routed for d in (unbound, *unbound.alternatives))
    ways = [(d, *_judge_one(state, interface, d, reachable)) for d in _ways(decision)]
    statuses = {status for _, status, _ in ways}
    if len(statuses) == 1 and decision.complete:
        return Toward(dst, decision, ways[0][1], ways[0][2])
    odd = next((w for w in ways if w[1] != ways[0][1]), ways[-1])
    reason = (
        f"{ways[0][1].upper()} when {ways[0][0].assumed}; {odd[1].upper()} when {odd[0].assumed}"
    )
    if odd[2]:
        reason += f": {odd[2]}"
    if not decision.complete:
        reason += f" (more than {MAX_PATHS} ways: not all judged)"
    return Toward(dst, decision, DEPENDS, reason)


def _ways(decision: Decision) -> tuple[Decision, ...]:
    return (decision, *decision.alternatives)


def _judge_one(
    state: HostState, interface: Interface, decision: Decision, reachable: bool
) -> tuple[str, str]:
    own = interface.link.name
    if not decision.routed:
        if not reachable:
            return SKIP, "the host has no route there at all"
        return FAIL, decision.describe()
    devs = [_canonical(state, dev) for dev in decision.devs]
    wrong = [dev for dev in devs if dev != own]
    if wrong:
        return FAIL, f"leave through {', '.join(wrong)}, not {own}"
    return OK, ""


def _alternatives_note(address: IPAddress, toward: Toward) -> str:
    by_outcome: dict[str, list[str]] = {}
    for decision in _ways(toward.decision):
        by_outcome.setdefault(decision.describe(), []).append(decision.assumed)
    ways = "; ".join(f"{where} when {' | '.join(assumed)}" for where, assumed in by_outcome.items())
    return (
        f"{address} -> {toward.destination}: depends on what the reply's socket sets (tos, "
        f"ipproto, ports, uid, flow label) or on the gateways' neighbours: {ways}"
    )


def _canonical(state: HostState, name: str) -> str:
    link = state.link(name)
    return link.name if link else name


def _address_verdict(state: HostState, interface: Interface, address: Address) -> AddressVerdict:
    subnet = _subnet(interface, address)
    peer = None
    if subnet is not None:
        target = _peer(state, subnet)
        if target is not None:
            peer = _judge(state, interface, address, target)
    internet = _judge(state, interface, address, _internet(state, address.family))
    return AddressVerdict(interface, address, subnet, peer, internet)


# --- findings ------------------------------------------------------------------------------


def _finding(
    rule_id: str,
    severity: str,
    message: str,
    instance_id: str | None,
    interface: Interface | None,
    remediation: str = REMEDIATION,
    **details: Any,
) -> Finding:
    eni_ids = (
        (interface.eni.interface_id,)
        if interface and interface.eni and interface.eni.interface_id
        else ()
    )
    if interface is not None:
        details = {"interface": interface.name, **details}
    return Finding(
        rule_id=rule_id,
        severity=severity,
        message=message,
        remediation=remediation.replace("INSTANCE", instance_id or "INSTANCE_ID"),
        instance_id=instance_id,
        eni_ids=eni_ids,
        details=details,
    )


def _path_findings(verdicts: tuple[AddressVerdict, ...], instance_id: str | None) -> list[Finding]:
    findings = []
    for verdict in verdicts:
        name = verdict.interface.name
        for kind, toward in (("peer", verdict.peer), ("internet", verdict.internet)):
            if toward is None or toward.status != FAIL:
                continue
            decision = toward.decision
            where = "same-subnet peer" if kind == "peer" else "off-subnet"
            details: dict[str, Any] = {
                "address": str(verdict.address.ip),
                "destination": str(toward.destination),
                "decision": decision.describe(),
                "rule": decision.rule.describe() if decision.rule else None,
                "rule_priority": decision.rule.priority if decision.rule else None,
            }
            if not decision.routed:
                findings.append(
                    _finding(
                        "ENI104",
                        "medium",
                        f"{name} {verdict.address.ip}: no route toward {toward.destination} "
                        f"({where}): {decision.describe()}",
                        instance_id,
                        verdict.interface,
                        **details,
                    )
                )
                continue
            findings.append(
                _finding(
                    "ENI102" if kind == "peer" else "ENI101",
                    "high",
                    f"{name} {verdict.address.ip}: replies toward {toward.destination} "
                    f"({where}) {toward.reason} ({decision.describe()})",
                    instance_id,
                    verdict.interface,
                    **details,
                )
            )
    return findings


def _default_route(state: HostState, table: str, family: int) -> bool:
    return any(r.is_default for r in state.routes_for(family, table))


def _table_findings(
    state: HostState, interfaces: tuple[Interface, ...], instance_id: str | None
) -> list[Finding]:
    findings = []
    for interface in interfaces:
        for address in interface.link.addresses:
            if not address.usable:
                continue
            for rule in state.rules_for(address.family):
                if (
                    rule.action != LOOKUP
                    or rule.table in (None, "local", "main", "default")
                    or rule.src is None
                    or rule.invert
                    or rule.dst is not None
                    or rule.suppress_prefixlength is not None
                    or rule.suppress_ifgroup is not None
                    or address.ip not in rule.src
                ):
                    continue
                assert rule.table is not None
                if _default_route(state, rule.table, address.family):
                    continue
                empty = not state.routes_for(address.family, rule.table)
                what = "is empty or missing" if empty else "has no default route"
                findings.append(
                    _finding(
                        "ENI103",
                        "medium",
                        f"{interface.name} {address.ip}: rule {rule.priority} "
                        f"'{rule.describe()}' points at table {rule.table}, which {what}",
                        instance_id,
                        interface,
                        address=str(address.ip),
                        rule_priority=rule.priority,
                        table=rule.table,
                    )
                )
    return findings


def _imds_findings(interfaces: tuple[Interface, ...], instance_id: str | None) -> list[Finding]:
    findings = []
    for interface in interfaces:
        eni = interface.eni
        if eni is None:
            continue
        configured = {a.ip for a in interface.link.addresses}
        missing = [str(ip) for ip in (*eni.local_ipv4s, *eni.ipv6s) if ip not in configured]
        if missing:
            findings.append(
                _finding(
                    "ENI105",
                    "medium",
                    f"{interface.name} ({eni.interface_id or eni.mac}): "
                    f"{', '.join(missing)} assigned in EC2 but not configured on the interface",
                    instance_id,
                    interface,
                    remediation="configure the ENI's secondary addresses on the interface "
                    "(ec2-net-utils, cloud-init or your network configuration) and give them "
                    "rules to the ENI's table",
                    missing=missing,
                )
            )
    return findings


def _agent_findings(rules: tuple[RuleInfo, ...], instance_id: str | None) -> list[Finding]:
    findings = []
    for agent in owners.AGENTS:
        mine = [info.rule for info in rules if info.owner == agent]
        if not mine:
            continue
        priorities = sorted({r.priority for r in mine})
        tables = sorted({r.table for r in mine if r.table}, key=lambda t: (len(t), t))
        findings.append(
            _finding(
                "ENI106",
                "info",
                f"{agent}: {len(mine)} rule(s), priorities {_ranges(priorities)}, "
                f"tables {', '.join(tables) or '-'}",
                instance_id,
                None,
                remediation="nothing to do: listed so you know who routes what",
                agent=agent,
                priorities=priorities,
                tables=tables,
            )
        )
    return findings


def _stray_rule_findings(
    state: HostState, rules: tuple[RuleInfo, ...], instance_id: str | None
) -> list[Finding]:
    """`from ADDRESS` rules (a host address) for an address no interface has; the VPC
    CNI's pod addresses live in pod namespaces and are left out."""
    local = state.local_ips()
    findings = []
    for info in rules:
        src = info.rule.src
        if (
            src is None
            or src.prefixlen != src.max_prefixlen
            or info.rule.invert
            or info.owner == owners.VPC_CNI
            or src.network_address in local
        ):
            continue
        findings.append(
            _finding(
                "ENI107",
                "low",
                f"rule {info.rule.priority} '{info.rule.describe()}' names "
                f"{src.network_address}, which no interface has",
                instance_id,
                None,
                remediation="correct the address in the rule (or delete the rule if the "
                "address moved away)",
                rule_priority=info.rule.priority,
                address=str(src.network_address),
            )
        )
    return findings


def _ranges(numbers: list[int]) -> str:
    if len(numbers) > 4:
        return f"{numbers[0]}..{numbers[-1]}"
    return ", ".join(str(n) for n in numbers)


def _rule_info(state: HostState, rule: KernelRule) -> RuleInfo:
    note = ""
    if rule.action == LOOKUP and rule.table not in (None, "local"):
        assert rule.table is not None
        routes = state.routes_for(rule.family, rule.table)
        defaults = [r for r in routes if r.is_default]
        if not routes:
            note = f"table {rule.table} is empty"
        elif defaults:
            note = f"default {defaults[0].describe().removeprefix('default ')}"
        else:
            note = f"table {rule.table}: {len(routes)} route(s), no default"
    if rule.selectors:
        per_packet = "matches per packet: " + ", ".join(s.describe() for s in rule.selectors)
        note = f"{per_packet}; {note}" if note else per_packet
    return RuleInfo(rule, owners.rule_owner(rule), note)


# --- parity --------------------------------------------------------------------------------


def _disagreements(
    parity: ParityResult, verdicts: tuple[AddressVerdict, ...]
) -> tuple[Disagreement, ...]:
    by_ip = {str(v.address.ip): v for v in verdicts}
    found: list[Disagreement] = []
    seen: set[str] = set()
    for check in parity.checks:
        if check.address in seen:
            continue
        seen.add(check.address)
        verdict = by_ip.get(check.address)
        if verdict is None:
            continue
        if check.matched and verdict.status == FAIL:
            exact = [r for r in check.matching_rules if _names_exactly(r, check.address)]
            if not exact:
                why = "only as a substring of another address"
            else:
                why = "by a rule whose table does not route it out of its interface"
            found.append(
                Disagreement(
                    check.address,
                    f"asymmetricroute counts {check.address} as matched ({why}: "
                    f"{check.matching_rules[0].strip()!r}), but its replies fail: "
                    f"{_first_failure(verdict)}",
                )
            )
    if (
        len(parity.duplicate_broadcasts) > len(set(parity.duplicate_broadcasts))
        or len(set(parity.duplicate_broadcasts)) > 1
    ):
        found.append(
            Disagreement(
                "",
                "asymmetricroute walks the duplicate subnets "
                f"{', '.join(parity.duplicate_broadcasts)} with one counter that is never "
                "reset (a subnet with three addresses is walked twice)",
            )
        )
    unseen = [
        v
        for v in verdicts
        if v.address.family == 4 and v.address.broadcast is None and v.status == FAIL
    ]
    if unseen:
        found.append(
            Disagreement(
                str(unseen[0].address.ip),
                "asymmetricroute only sees addresses printed with a broadcast address (brd): "
                f"{', '.join(str(v.address.ip) for v in unseen)} fail here",
            )
        )
    failing6 = [v for v in verdicts if v.address.family == 6 and v.status == FAIL]
    if failing6:
        found.append(
            Disagreement(
                str(failing6[0].address.ip),
                f"asymmetricroute does not look at IPv6: {len(failing6)} IPv6 address(es) "
                "fail here",
            )
        )
    failing = any(v.status == FAIL for v in verdicts)
    if parity.status == FAILURE and not failing:
        found.append(Disagreement("", "asymmetricroute fails, but every reply leaves right"))
    elif parity.status != FAILURE and failing:
        found.append(Disagreement("", "asymmetricroute succeeds, but some replies leave wrong"))
    return tuple(found)


def _names_exactly(rule_line: str, address: str) -> bool:
    words = rule_line.split()
    return any(
        w.split("/")[0] == address and (("/" not in w) or w.endswith(("/32", "/128")))
        for w in words
    )


def _first_failure(verdict: AddressVerdict) -> str:
    for toward in (verdict.peer, verdict.internet):
        if toward is not None and toward.status == FAIL:
            return f"toward {toward.destination} {toward.reason}"
    return ""
