"""Inventory -> routing plan (pure: values in, values out).

For every managed ENI i, table T(i) = base + 100*network_card + device_index, and:

    default via <subnet router> dev <if(i)> table T(i)
    <subnet cidr> dev <if(i)> src <primary ip(i)> table T(i)
    from <each address or prefix of i> lookup T(i) priority T(i)       (IPv4 and IPv6)

plus the main-table guard: every managed ENI joins netdev group G and
`lookup main suppress_ifgroup G priority base-1` keeps main-table answers only when they
do not leave through an ENI. The IPv6 default route comes from router advertisements at
apply time: the plan says "default via the RA router", never an address.

The per-ENI computation is plancore.py's (standard library only), which the dynamic-mode
agent runs on the instance from IMDS facts: one planner for both modes. This module adds
what needs the inventory: other agents, skipped ENIs, the instance's status.

Renderers turn an InstancePlan into files; they never look at the inventory again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eniplan import ownership
from eniplan.errors import InputError
from eniplan.frozen import quick_init
from eniplan.model import Eni, Instance, Inventory, route_targets
from eniplan.plancore import (  # the core's types and bounds, re-exported
    DEFAULT_TABLE_BASE as DEFAULT_TABLE_BASE,
)
from eniplan.plancore import MAIN_RULE_PRIORITY as MAIN_RULE_PRIORITY
from eniplan.plancore import MAX_NETWORK_CARDS as MAX_NETWORK_CARDS
from eniplan.plancore import MAX_TABLE_BASE as MAX_TABLE_BASE
from eniplan.plancore import MIN_TABLE_BASE as MIN_TABLE_BASE
from eniplan.plancore import EniFacts, PlanError, plan_enis
from eniplan.plancore import EniPlan as EniPlan
from eniplan.plancore import Route as Route
from eniplan.plancore import Rule as Rule
from eniplan.plancore import network_text as network_text
from eniplan.values import ip_text

# plancore is standard library only (dynamic user data embeds it); here its frozen
# dataclasses get the faster __init__, as the static planner makes them by the hundred
# thousand (an audit plans every instance with eniplan static user data again)
for _core_class in (EniFacts, EniPlan, Route, Rule):
    quick_init(_core_class)


def name_hint(eni: EniPlan) -> str:
    """The name EC2 Linux images give an ENI (eth0, eth1, ...); only for formats that need
    a name. Scripts find the interface by MAC."""
    return f"eth{eni.network_card_index * 100 + eni.device_index}"


@quick_init
@dataclass(frozen=True)
class Guard:
    """`ip link set dev IF group GROUP` for every managed ENI, and
    `ip rule add lookup main suppress_ifgroup GROUP priority PRIORITY` (the static
    formats'; the agent's engine takes the group and priority from its input)."""

    group: int
    priority: int


@quick_init
@dataclass(frozen=True)
class SkippedEni:
    eni_id: str
    mac: str
    reason: str


# Instance statuses
MANAGED = "managed"
NOTHING_TO_DO = "nothing-to-do"
HANDLED_ELSEWHERE = "handled-elsewhere"


@quick_init
@dataclass(frozen=True)
class InstancePlan:
    instance_id: str
    name: str
    account_id: str
    region: str
    status: str
    reason: str  # why not managed, or a one-line summary
    os: ownership.OsGuess
    table_base: int
    enis: tuple[EniPlan, ...] = ()
    skipped: tuple[SkippedEni, ...] = ()
    guard: Guard | None = None
    notes: tuple[str, ...] = field(default=())
    # the inventory's records of the managed ENIs by ID (security groups, tags, attachment
    # ID, source/dest check): for targets that describe the ENI itself (terraform); not
    # part of the routing plan, nor of its digest
    eni_records: Mapping[str, Eni] = field(default_factory=dict, compare=False, repr=False)
    # the instance's own user data (None: not known), which the cloud-init user data keeps;
    # not part of the routing plan, nor of its digest
    user_data: bytes | None = field(default=None, compare=False, repr=False)
    # the managed ENIs that a VPC route targets (or whose instance one targets:
    # `model.route_targets`, as ENI003 decides): a NAT, router or firewall
    routed_eni_ids: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(rule for eni in self.enis for rule in eni.rules)

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(route for eni in self.enis for route in eni.routes)

    def digest(self) -> str:
        """sha256 of the plan's routing content: what a drift check compares."""
        import msgspec  # only a drift check digests a plan: not every command's start-up

        routing = plan_routing_json(self)
        # json.dumps(sort_keys=True, separators=(",", ":")) is the canonical form markers
        # carry; msgspec writes the same bytes four times faster wherever the text is ASCII
        # (IDs, MACs and addresses always are): json.dumps escapes anything else
        canonical = msgspec.json.encode(routing, order="sorted")
        if not canonical.isascii():
            canonical = json.dumps(routing, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(canonical).hexdigest()


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


@quick_init
@dataclass(frozen=True)
class Triage:
    """What the planner decides before it plans any route: whether the OS must route two
    or more ENIs (MANAGED) and which, or why not. Cheap; the audit needs no more for most
    instances."""

    status: str
    reason: str
    os: ownership.OsGuess
    managed: tuple[Eni, ...] = ()
    skipped: tuple[SkippedEni, ...] = ()
    agent: str | None = None  # the agent that handles this OS, if any (MANAGED with --force)

    @property
    def service_owned(self) -> bool:
        """A service routes the whole instance (an EKS node's VPC CNI, said in `reason`):
        neither the OS's nor eniplan's to route, nor the audit's to check."""
        return self.status == HANDLED_ELSEWHERE and self.agent is None


def triage(
    instance: Instance,
    inventory: Inventory,
    options: PlanOptions = PlanOptions(),
    eni_owners: Sequence[str | None] | None = None,
) -> Triage:
    """`eni_owners`: the instance's ENIs' (ownership.eni_owner, in their order), when the
    caller has worked them out."""
    os_guess = ownership.guess_os(instance, inventory.image(instance))
    if eni_owners is None:
        eni_owners = ownership.eni_owners(instance)
    owner = ownership.instance_owner(instance, eni_owners)
    if owner:
        skipped = tuple(SkippedEni(e.eni_id, e.mac, owner) for e in instance.enis)
        return Triage(HANDLED_ELSEWHERE, owner, os_guess, skipped=skipped)

    managed: list[Eni] = []
    skipped_enis: list[SkippedEni] = []
    for eni, reason in zip(instance.enis, eni_owners, strict=True):
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

    agent = ownership.policy_routing_agent(os_guess)
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
    instance: Instance,
    inventory: Inventory,
    options: PlanOptions = PlanOptions(),
    decided: Triage | None = None,
) -> InstancePlan:
    """The instance's plan; `decided` is its triage with these options, when the caller
    has made it already."""
    base = check_table_base(options.table_base)
    if decided is None:
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

    try:
        eni_plans = plan_enis(
            instance.instance_id, [eni_facts(eni, inventory) for eni in managed], base
        )
    except PlanError as error:
        raise InputError(str(error)) from None
    notes = []
    routed_targets = inventory.routed_targets()
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
        eni_records={eni.eni_id: eni for eni in managed},
        user_data=instance.user_data,
        routed_eni_ids=frozenset(
            eni.eni_id
            for eni in managed
            if route_targets(routed_targets, instance.instance_id, eni.eni_id)
        ),
        guard=Guard(group=base, priority=base - 1) if options.guard else None,
        notes=tuple(notes),
    )


def plan_inventory(
    inventory: Inventory, options: PlanOptions = PlanOptions()
) -> list[InstancePlan]:
    return [plan_instance(instance, inventory, options) for instance in inventory.instances]


def eni_facts(eni: Eni, inventory: Inventory) -> EniFacts:
    """What the planner core needs of an attached ENI, from the inventory."""
    assert eni.device_index is not None  # unattached ENIs were skipped
    subnet = inventory.subnet(eni)
    return EniFacts(
        eni_id=eni.eni_id,
        mac=eni.mac,
        network_card_index=eni.network_card_index,
        device_index=eni.device_index,
        subnet_id=subnet.subnet_id,
        subnet_cidr=subnet.cidr,
        ipv6_subnets=subnet.ipv6_cidrs,
        primary_ipv4=eni.primary_ipv4,
        secondary_ipv4s=eni.secondary_ipv4s,
        ipv4_prefixes=eni.ipv4_prefixes,
        ipv6_addresses=eni.ipv6_addresses,
        ipv6_prefixes=eni.ipv6_prefixes,
    )


# --- JSON ------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    return None if value is None else ip_text(value)


_DEFAULT_ROUTE = {4: "0.0.0.0/0", 6: "::/0"}  # ip_text of a /0


def plan_routing_json(plan: InstancePlan) -> dict[str, Any]:
    """The routing content of a plan (what the digest covers)."""
    guard = plan.guard
    return {
        "table_base": plan.table_base,
        "guard": None if guard is None else {"group": guard.group, "priority": guard.priority},
        "enis": [_eni_routing_json(eni) for eni in plan.enis],
    }


def _eni_routing_json(eni: EniPlan) -> dict[str, Any]:
    # A drift check writes out every address of 10,000s of plans: each value's text once
    # (an ENI's routes hold its subnet, router and primary address: the same objects)
    cidr, router, primary = eni.subnet_cidr, eni.router, eni.primary_ipv4
    cidr_text, router_text, primary_text = _text(cidr), _text(router), _text(primary)
    routes = []
    for route in eni.routes:
        destination, gateway, source = route.destination, route.gateway, route.source
        if destination is cidr:
            destination_text = cidr_text
        elif destination.prefixlen == 0:
            destination_text = _DEFAULT_ROUTE[destination.version]
        else:
            destination_text = ip_text(destination)
        routes.append(
            {
                "destination": destination_text,
                "table": route.table,
                "gateway": (
                    "router-advertisement"
                    if route.via_ra
                    else router_text
                    if gateway is router
                    else _text(gateway)
                ),
                "source": primary_text if source is primary else _text(source),
            }
        )
    return {
        "eni_id": eni.eni_id,
        "mac": eni.mac,
        "network_card_index": eni.network_card_index,
        "device_index": eni.device_index,
        "table": eni.table,
        "primary": eni.is_primary,
        "subnet_id": eni.subnet_id,
        "subnet_cidr": cidr_text,
        "router": router_text,
        # map(): most of these lists are empty, and a comprehension costs a call
        "ipv6_subnets": [*map(str, eni.ipv6_subnets)],
        "primary_ipv4": primary_text,
        "ipv4_addresses": [*map(ip_text, eni.ipv4_addresses)],
        "ipv6_addresses": [*map(str, eni.ipv6_addresses)],
        "rules": [
            {"from": ip_text(rule.source), "table": rule.table, "priority": rule.priority}
            for rule in eni.rules
        ],
        "routes": routes,
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
