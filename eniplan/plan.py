"""Inventory -> routing plan (pure: values in, values out).

For every managed ENI i, table T(i) = base + 100*network_card + device_index, and:

    default via <subnet router> dev <if(i)> table T(i)
    <subnet cidr> dev <if(i)> src <primary ip(i)> table T(i)
    from <each address or prefix of i> lookup T(i) priority T(i)       (IPv4 and IPv6)

plus the main-table guard: every managed ENI joins netdev group G and
`lookup main suppress_ifgroup G priority base-1` keeps main-table answers only when they
do not leave through an ENI. The IPv6 default route comes from router advertisements at
apply time: the plan says "default via the RA router", never an address.

Renderers turn an InstancePlan into files; they never look at the inventory again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Interface, IPv6Network
from typing import Any

from eniplan import agents
from eniplan.errors import InputError
from eniplan.model import Eni, Instance, Inventory

DEFAULT_TABLE_BASE = 10000
# Rule priorities (= tables) must stay below the main rule (32766). The largest instances
# have 32 network cards; with up to 100 devices per card this is the highest safe base.
MAIN_RULE_PRIORITY = 32766
MAX_NETWORK_CARDS = 32
MAX_TABLE_BASE = MAIN_RULE_PRIORITY - 1 - 100 * (MAX_NETWORK_CARDS - 1) - 99
MIN_TABLE_BASE = 1000


@dataclass(frozen=True)
class Rule:
    """`ip rule add from SOURCE lookup TABLE priority PRIORITY`."""

    source: IPv4Network | IPv6Network  # a /32 or /128 for an address, else the prefix
    table: int
    priority: int

    @property
    def family(self) -> int:
        return self.source.version

    @property
    def source_text(self) -> str:
        """`from` as `ip rule` prints it: a bare address for a /32 or /128, else the prefix."""
        if self.source.prefixlen == self.source.max_prefixlen:
            return str(self.source.network_address)
        return str(self.source)


@dataclass(frozen=True)
class Route:
    """A route in an ENI's table. `gateway` None: on-link; `via_ra`: the IPv6 router that
    router advertisements announce on the interface, learned at apply time."""

    destination: IPv4Network | IPv6Network  # 0.0.0.0/0 or ::/0 for the default
    table: int
    gateway: IPv4Address | None = None
    source: IPv4Address | None = None
    via_ra: bool = False

    @property
    def family(self) -> int:
        return self.destination.version

    @property
    def is_default(self) -> bool:
        return self.destination.prefixlen == 0


@dataclass(frozen=True)
class EniPlan:
    eni_id: str
    mac: str
    network_card_index: int
    device_index: int
    table: int
    is_primary: bool
    subnet_id: str
    subnet_cidr: IPv4Network | None
    router: IPv4Address | None
    ipv6_subnets: tuple[IPv6Network, ...]
    # addresses to configure on the interface (with the subnet's prefix length). On the
    # primary ENI the OS (DHCP) owns the primary IPv4: it is not in this list.
    ipv4_addresses: tuple[IPv4Interface, ...]
    ipv6_addresses: tuple[IPv6Interface, ...]
    primary_ipv4: IPv4Address | None
    rules: tuple[Rule, ...]
    routes: tuple[Route, ...]

    @property
    def name_hint(self) -> str:
        """The name EC2 Linux images give it (eth0, eth1, ...); only for formats that need
        a name. Scripts find the interface by MAC."""
        index = self.network_card_index * 100 + self.device_index
        return f"eth{index}"


@dataclass(frozen=True)
class SkippedEni:
    eni_id: str
    mac: str
    reason: str


@dataclass(frozen=True)
class Guard:
    """`ip link set dev IF group GROUP` for every managed ENI, and
    `ip rule add lookup main suppress_ifgroup GROUP priority PRIORITY`."""

    group: int
    priority: int


# Instance statuses
MANAGED = "managed"
NOTHING_TO_DO = "nothing-to-do"
HANDLED_ELSEWHERE = "handled-elsewhere"


@dataclass(frozen=True)
class InstancePlan:
    instance_id: str
    name: str
    account_id: str
    region: str
    status: str
    reason: str  # why not managed, or a one-line summary
    os: agents.OsGuess
    table_base: int
    enis: tuple[EniPlan, ...] = ()
    skipped: tuple[SkippedEni, ...] = ()
    guard: Guard | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(rule for eni in self.enis for rule in eni.rules)

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(route for eni in self.enis for route in eni.routes)

    def digest(self) -> str:
        """sha256 of the plan's routing content: what a drift check compares."""
        canonical = json.dumps(plan_routing_json(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class PlanOptions:
    table_base: int = DEFAULT_TABLE_BASE
    guard: bool = True
    force: bool = False  # plan even where another agent already handles policy routing


def check_table_base(base: int) -> int:
    if not MIN_TABLE_BASE <= base <= MAX_TABLE_BASE:
        raise InputError(
            f"--table-base: {base} is out of range (expected {MIN_TABLE_BASE} to "
            f"{MAX_TABLE_BASE}, so that every table and priority stays below the main rule)"
        )
    return base


# --- planning --------------------------------------------------------------------------


@dataclass(frozen=True)
class Triage:
    """What the planner decides before it plans any route: whether the OS must route two
    or more ENIs (MANAGED) and which, or why not. Cheap; the audit needs no more for most
    instances."""

    status: str
    reason: str
    os: agents.OsGuess
    managed: tuple[Eni, ...] = ()
    skipped: tuple[SkippedEni, ...] = ()
    agent: str | None = None  # the agent that handles this OS, if any (MANAGED with --force)


def triage(
    instance: Instance, inventory: Inventory, options: PlanOptions = PlanOptions()
) -> Triage:
    os_guess = agents.guess_os(instance, inventory.image(instance))
    owner = agents.instance_owner(instance)
    if owner:
        skipped = tuple(SkippedEni(e.eni_id, e.mac, owner) for e in instance.enis)
        return Triage(HANDLED_ELSEWHERE, owner, os_guess, skipped=skipped)

    managed: list[Eni] = []
    skipped_enis: list[SkippedEni] = []
    for eni in instance.enis:
        reason = agents.eni_owner(eni)
        if reason is None and eni.device_index is None:
            reason = "not attached (no device index)"
        if reason:
            skipped_enis.append(SkippedEni(eni.eni_id, eni.mac, reason))
        else:
            managed.append(eni)
    if len(managed) < 2:
        reason = (
            "a single ENI: replies can only leave through it, nothing to do"
            if len(instance.enis) < 2
            else "fewer than two ENIs for the OS to route: nothing to do"
        )
        return Triage(NOTHING_TO_DO, reason, os_guess, skipped=tuple(skipped_enis))

    agent = agents.policy_routing_agent(os_guess)
    if agent and not options.force:
        return Triage(
            HANDLED_ELSEWHERE,
            f"{agent} already installs per-ENI policy routing on {os_guess.family}",
            os_guess,
            skipped=tuple(skipped_enis),
            agent=agent,
        )
    return Triage(
        MANAGED, "", os_guess, managed=tuple(managed), skipped=tuple(skipped_enis), agent=agent
    )


def plan_instance(
    instance: Instance, inventory: Inventory, options: PlanOptions = PlanOptions()
) -> InstancePlan:
    base = check_table_base(options.table_base)
    decided = triage(instance, inventory, options)
    os_guess = decided.os
    common: dict[str, Any] = {
        "instance_id": instance.instance_id,
        "name": instance.name,
        "account_id": instance.account_id,
        "region": instance.region,
        "os": os_guess,
        "table_base": base,
    }
    if decided.status != MANAGED:
        return InstancePlan(
            **common, status=decided.status, reason=decided.reason, skipped=decided.skipped
        )
    managed = list(decided.managed)
    skipped_enis = list(decided.skipped)
    agent = decided.agent

    _check_unique_macs(instance, managed)
    eni_plans = tuple(_plan_eni(instance, eni, inventory, base) for eni in managed)
    _check_unique_tables(instance, eni_plans)
    notes = []
    if agent:
        notes.append(f"planned with --force although {agent} handles this OS")
    if not os_guess.known:
        notes.append(f"OS unknown ({os_guess.evidence}): --persist auto falls back to script")
    return InstancePlan(
        **common,
        status=MANAGED,
        reason=f"{len(eni_plans)} ENIs, one routing table each",
        enis=eni_plans,
        skipped=tuple(skipped_enis),
        guard=Guard(group=base, priority=base - 1) if options.guard else None,
        notes=tuple(notes),
    )


def plan_inventory(
    inventory: Inventory, options: PlanOptions = PlanOptions()
) -> list[InstancePlan]:
    return [plan_instance(instance, inventory, options) for instance in inventory.instances]


def _check_unique_macs(instance: Instance, enis: list[Eni]) -> None:
    macs = [eni.mac for eni in enis]
    if len(set(macs)) != len(macs):
        raise InputError(f"{instance.instance_id}: two ENIs share one MAC address")


def _check_unique_tables(instance: Instance, plans: tuple[EniPlan, ...]) -> None:
    tables = [p.table for p in plans]
    if len(set(tables)) != len(tables):
        raise InputError(
            f"{instance.instance_id}: two ENIs map to one routing table "
            "(the same network card and device index)"
        )


def _plan_eni(instance: Instance, eni: Eni, inventory: Inventory, base: int) -> EniPlan:
    assert eni.device_index is not None  # unattached ENIs were skipped
    table = base + 100 * eni.network_card_index + eni.device_index
    if table >= MAIN_RULE_PRIORITY or eni.device_index >= 100:
        raise InputError(
            f"{instance.instance_id} {eni.eni_id}: network card {eni.network_card_index} device "
            f"{eni.device_index} gives table {table}, not below the main rule's priority "
            f"{MAIN_RULE_PRIORITY}"
        )
    subnet = inventory.subnet(eni)
    where = f"{instance.instance_id} {eni.eni_id}"

    ipv4_addresses: list[IPv4Interface] = []
    for address in eni.ipv4_addresses:
        if subnet.cidr is None or address not in subnet.cidr:
            raise InputError(
                f"{where}: address {address} is outside its subnet "
                f"{subnet.subnet_id} ({subnet.cidr or 'IPv6-only'})"
            )
        if eni.is_primary and address == eni.primary_ipv4:
            continue  # the OS's DHCP owns the primary ENI's primary address
        ipv4_addresses.append(IPv4Interface(f"{address}/{subnet.cidr.prefixlen}"))
    for prefix in eni.ipv4_prefixes:
        if subnet.cidr is None or not prefix.subnet_of(subnet.cidr):
            raise InputError(f"{where}: IPv4 prefix {prefix} is outside its subnet {subnet.cidr}")

    ipv6_addresses: list[IPv6Interface] = []
    for address6 in eni.ipv6_addresses:
        home = next((net for net in subnet.ipv6_cidrs if address6 in net), None)
        if home is None:
            raise InputError(
                f"{where}: IPv6 address {address6} is in none of the subnet's IPv6 blocks "
                f"({', '.join(map(str, subnet.ipv6_cidrs)) or 'none'})"
            )
        ipv6_addresses.append(IPv6Interface(f"{address6}/{home.prefixlen}"))
    for prefix6 in eni.ipv6_prefixes:
        if not any(prefix6.subnet_of(net) for net in subnet.ipv6_cidrs):
            raise InputError(f"{where}: IPv6 prefix {prefix6} is outside the subnet's blocks")

    rules = [Rule(IPv4Network(a), table, table) for a in eni.ipv4_addresses]
    rules += [Rule(p, table, table) for p in eni.ipv4_prefixes]
    rules += [Rule(IPv6Network(a), table, table) for a in eni.ipv6_addresses]
    rules += [Rule(p, table, table) for p in eni.ipv6_prefixes]

    routes: list[Route] = []
    if eni.primary_ipv4 is not None and subnet.cidr is not None and subnet.router is not None:
        routes.append(Route(IPv4Network("0.0.0.0/0"), table, gateway=subnet.router))
        routes.append(Route(subnet.cidr, table, source=eni.primary_ipv4))
    if eni.ipv6_addresses or eni.ipv6_prefixes:
        routes.append(Route(IPv6Network("::/0"), table, via_ra=True))
        routes.extend(Route(net, table) for net in subnet.ipv6_cidrs)

    return EniPlan(
        eni_id=eni.eni_id,
        mac=eni.mac,
        network_card_index=eni.network_card_index,
        device_index=eni.device_index,
        table=table,
        is_primary=eni.is_primary,
        subnet_id=subnet.subnet_id,
        subnet_cidr=subnet.cidr,
        router=subnet.router,
        ipv6_subnets=subnet.ipv6_cidrs,
        ipv4_addresses=tuple(ipv4_addresses),
        ipv6_addresses=tuple(ipv6_addresses),
        primary_ipv4=eni.primary_ipv4,
        rules=tuple(rules),
        routes=tuple(routes),
    )


# --- JSON ------------------------------------------------------------------------------


def _route_json(route: Route) -> dict[str, Any]:
    return {
        "destination": str(route.destination),
        "table": route.table,
        "gateway": "router-advertisement" if route.via_ra else _str(route.gateway),
        "source": _str(route.source),
    }


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def plan_routing_json(plan: InstancePlan) -> dict[str, Any]:
    """The routing content of a plan (what the digest covers)."""
    return {
        "table_base": plan.table_base,
        "guard": (
            {"group": plan.guard.group, "priority": plan.guard.priority} if plan.guard else None
        ),
        "enis": [
            {
                "eni_id": eni.eni_id,
                "mac": eni.mac,
                "network_card_index": eni.network_card_index,
                "device_index": eni.device_index,
                "table": eni.table,
                "primary": eni.is_primary,
                "subnet_id": eni.subnet_id,
                "subnet_cidr": _str(eni.subnet_cidr),
                "router": _str(eni.router),
                "ipv6_subnets": [str(net) for net in eni.ipv6_subnets],
                "primary_ipv4": _str(eni.primary_ipv4),
                "ipv4_addresses": [str(a) for a in eni.ipv4_addresses],
                "ipv6_addresses": [str(a) for a in eni.ipv6_addresses],
                "rules": [
                    {"from": str(r.source), "table": r.table, "priority": r.priority}
                    for r in eni.rules
                ],
                "routes": [_route_json(route) for route in eni.routes],
            }
            for eni in plan.enis
        ],
    }


def plan_json(plan: InstancePlan) -> dict[str, Any]:
    return {
        "instance_id": plan.instance_id,
        "name": plan.name,
        "account_id": plan.account_id,
        "region": plan.region,
        "status": plan.status,
        "reason": plan.reason,
        "os": {"family": plan.os.family, "version": plan.os.version, "evidence": plan.os.evidence},
        **plan_routing_json(plan),
        "skipped": [{"eni_id": s.eni_id, "mac": s.mac, "reason": s.reason} for s in plan.skipped],
        "notes": list(plan.notes),
        "digest": f"sha256:{plan.digest()}" if plan.status == MANAGED else None,
    }
