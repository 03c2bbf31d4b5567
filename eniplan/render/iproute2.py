"""The `iproute2` target: one self-contained POSIX sh script that applies one instance's plan.

The script needs nothing but `ip` (iproute2) and sh builtins (`sleep` only while it waits
for an IPv6 router advertisement). It

- finds every ENI's link by MAC, never by name: the MACs come with the links' flags from
  `ip -br link`, in the same `ip` call that lists the addresses, rules and routes (reading
  /sys/class/net/*/address with `read` cost more than that whole call);
- reads the state with two `ip` calls (ip -6 alone lists IPv6 rules) and streams only what
  is missing into one `ip -batch` (and one `ip -6 -batch` for IPv6 rules): no `ip` call per
  address, so 15 ENIs x 50 addresses cost little more than the batch itself;
- is idempotent without a delete-and-re-add window: a rule or address that is there stays
  as it is, routes are set with `replace` (atomic); a second run changes nothing;
- marks every rule and route it installs with protocol PROTOCOL (247) and deletes the
  protocol-247 rules and routes that the plan no longer has (ENIs gone); nothing else is
  touched, whoever installed it;
- applies what is present when an ENI's MAC is absent, reports the missing ENI on stderr
  and exits 1 at the end, so the primary's routing never waits for a missing secondary.

Every value written into the script comes from the plan's typed values (ipaddress objects,
ints, MACs and IDs, checked again by plancore.engine_input, the one writer of the engine's
input, which the dynamic agent calls too); no free text (names, tags) reaches it. The text
has no tab and no trailing blank, so cloud-init's YAML keeps it a readable literal block.
`script(plan)` returns the text; the cloud-init renderer embeds it.
"""

from __future__ import annotations

from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)

from eniplan import ownership, values
from eniplan.plan import MANAGED, NOTHING_TO_DO, EniPlan, InstancePlan, Route, Rule
from eniplan.plancore import PROTOCOL as PROTOCOL
from eniplan.plancore import engine_input
from eniplan.plancore import inet6_ntop as inet6_ntop
from eniplan.render.base import RenderedFile, Rendering, RenderOptions, marker
from eniplan.render.common import package_text

TARGET = "iproute2"
SCRIPT_PATH = "/usr/local/sbin/eniplan-routing"
SCRIPT_MODE = 0o755
# main, local and default: never an ENI's table
RESERVED_TABLES = (0, 253, 254, 255)
# PROTOCOL (247, plancore.py): the rtnetlink protocol number on every rule and route
# eniplan installs: how a later run tells its own entries from everyone else's. Unassigned
# in /etc/iproute2/rt_protos and by the routing daemons (FRR, BIRD, keepalived use 11-18,
# 42, 99, 186-198).


def render(plan: InstancePlan, options: RenderOptions) -> Rendering:
    del options  # static mode only: the script hard-codes the plan
    notes = (
        [
            f"{plan.instance_id} has nothing to route ({plan.reason}): this script removes what "
            "an earlier eniplan script installed (its rules, routes, addresses, netdev group)"
        ]
        if plan.status == NOTHING_TO_DO
        else []
    )
    notes += [
        f"run {SCRIPT_PATH} at every boot and after an ENI is attached (the cloud-init "
        "target installs it with a systemd unit); alone it is not persistent",
        f"every rule and route it installs carries protocol {PROTOCOL}; it removes "
        f"protocol-{PROTOCOL} entries that the plan no longer has and nothing else",
    ]
    if ownership.predates_rule_protocols(plan.os):
        notes.insert(0, OLD_KERNEL_NOTE)
    return Rendering(
        target=TARGET,
        instance_id=plan.instance_id,
        files=(RenderedFile(path=SCRIPT_PATH, content=script(plan), mode=SCRIPT_MODE),),
        notes=tuple(notes),
        activate=(SCRIPT_PATH,),
    )


# The script's rule protocols need Linux 4.17; RHEL/CentOS 7 ship 3.10.
OLD_KERNEL_NOTE = (
    "this instance runs RHEL/CentOS 7, whose kernel (3.10) predates rule protocols (Linux "
    "4.17): the script will fail there; use --target ifcfg (or cloud-init --persist auto)"
)


def script(plan: InstancePlan) -> str:
    """The POSIX sh script that applies `plan` (a managed plan) with `ip` alone; for a plan
    with nothing to do (one ENI left), the script that removes eniplan's state."""
    instance_id = values.resource_id("i", plan.instance_id)
    teardown = plan.status == NOTHING_TO_DO
    if not (plan.status == MANAGED and plan.enis) and not teardown:
        raise ValueError(f"{instance_id}: plan status {plan.status!r}: nothing to apply")
    enis = () if teardown else plan.enis
    for eni in enis:
        _check_eni(eni)
    if len({e.mac for e in enis}) != len(enis) or len({e.table for e in enis}) != len(enis):
        raise ValueError(f"{instance_id}: two ENIs share a MAC address or a table")
    _int(plan.table_base, 1, 2**31 - 1, "table base")
    variables = engine_input(instance_id, enis, plan.table_base, plan.guard is not None)
    what = "nothing to route (one ENI): removes eniplan's state" if teardown else "a table per ENI"
    header = [
        "#!/bin/sh",
        marker(plan),
        f"# Policy routing of {instance_id}, {what} (eniplan, target iproute2).",
        "# Needs ip and Linux >= 4.17. Finds links by MAC; adds only what is missing, as",
        f"# protocol {PROTOCOL}; deletes the protocol-{PROTOCOL} rules and routes the plan lacks",
        "# and the addresses it added there. Exit 1 if an ENI is absent (the rest is applied;",
        "# with fewer than two here, it removes its state). ENIPLAN_DRY_RUN=1: print only.",
        "# shellcheck disable=SC2034,SC2059,SC2086,SC2154",
        "set -u",
        "",
    ]
    return "\n".join([*header, variables, "", ENGINE])


# --- the plan's values checked again (engine_input takes typed values only) -----------


def _check_eni(eni: object) -> None:
    if not isinstance(eni, EniPlan):
        raise ValueError(f"{eni!r} is not an EniPlan")
    eni_id = values.resource_id("eni", eni.eni_id)
    if values.mac_address(eni.mac) != eni.mac:
        raise ValueError(f"{eni_id}: MAC address {eni.mac!r} is not in normalised form")
    table = _int(eni.table, 1, 2**31 - 1, f"{eni_id} table")
    if table in RESERVED_TABLES:
        raise ValueError(f"{eni_id}: table {table} is one of the kernel's own tables")
    _int(eni.network_card_index, 0, 1000, f"{eni_id} network card")
    _int(eni.device_index, 0, 1000, f"{eni_id} device index")
    values.resource_id("subnet", eni.subnet_id)
    for address in eni.ipv4_addresses:
        _check_type(address, IPv4Interface)
    for address6 in eni.ipv6_addresses:
        _check_type(address6, IPv6Interface)
    for rule in eni.rules:
        _check_type(rule, Rule)
        _check_type(rule.source, IPv4Network, IPv6Network)
        if rule.table != table or rule.priority != table:
            raise ValueError(
                f"{eni_id}: a rule does not use the ENI's table {table} as its table and priority"
            )
    for route in eni.routes:
        _check_route(eni_id, table, route)


def _check_route(eni_id: str, table: int, route: object) -> None:
    if not isinstance(route, Route) or route.table != table:
        raise ValueError(f"{eni_id}: {route!r} is not a route of table {table}")
    family = (
        IPv4Address
        if _check_type(route.destination, IPv4Network, IPv6Network) == 4
        else (IPv6Address)
    )
    if route.via_ra and (family is IPv4Address or not route.is_default or route.gateway):
        raise ValueError(f"{eni_id}: only the IPv6 default route can use the RA router")
    for address in (route.gateway, route.source):
        if address is not None:
            _check_type(address, family)


def _check_type(value: object, *kinds: type) -> int:
    """The value's IP version (0 for a Rule); ValueError unless it is one of `kinds`."""
    if type(value) not in kinds:
        raise ValueError(f"{value!r} is not a {' or '.join(k.__name__ for k in kinds)}")
    return getattr(value, "version", 0)


def _int(value: object, low: int, high: int, what: str) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{what} {value!r} is not an integer from {low} to {high}")
    return value


# --- the engine: the same for every plan, and the dynamic agent's (agent/engine.sh) ------

ENGINE = package_text("agent/engine.sh")
