"""What a rule applies to: one instance, running (audit) or planned (check-plan).

A check is a pure function `(Target) -> Iterable[Finding]`. `Target` is the small view
both commands give of an instance: its ENIs as `Port`s (subnet, source/dest check, whether
a route targets it), the ENIs its OS must route, who else routes them, the OS and the
user-data verdict, and how to say the fix where it applies (the AWS API and
`eniplan render` for a running instance, the configuration for a plan). The rule body
decides whether there is a finding, its rule ID, severity and message; the same situation
gives the same finding in `audit` and `check-plan`.

`InstanceContext` is the audit's target (eniplan/audit/ builds it once per instance);
eniplan/checkplan/ builds `PlannedHost`s. Waivers are applied afterwards by the one waiver
function (findings.apply_waivers), so checks never look at `eniplan:ignore` tags.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from eniplan import ownership, values
from eniplan.findings import RULES, Finding
from eniplan.frozen import quick_init
from eniplan.model import Eni, Instance, Inventory, route_targets
from eniplan.plan import MANAGED, InstancePlan, PlanOptions, Triage
from eniplan.render import PERSIST_CHOICES

if TYPE_CHECKING:  # check-plan reads user data only when a plan holds some
    from eniplan.userdata import Marker, UserDataInfo


@dataclass(frozen=True)
class SubnetRef:
    """An ENI's subnet as far as it is known."""

    key: str | None  # the same key: surely the same subnet; None: not known before apply
    name: str  # a subnet ID, a resource address or the expression it comes from
    text: str  # how a message names it: `subnet-0a1 (10.0.1.0/24)`
    certain: bool = True  # surely another subnet than every other certain one with another key


@quick_init
@dataclass(frozen=True)
class Port:
    """One ENI as the rules see it."""

    eni_id: str  # its ID; in a plan, the resource's address (or `<instance> primary`)
    subnet: SubnetRef
    address: str = ""  # its primary address, "" when not known
    source_dest_check_off: bool = False
    routed: bool = False  # a VPC route targets it or its instance: it forwards on purpose
    route_tables_known: bool = True  # False: could not tell (its VPC's tables not collected)
    vpc_id: str = ""
    owner: str | None = None  # a service owns it: not the OS's to route, nor its check
    at: str = ""  # in a plan: the resource whose source_dest_check turns the check off


@dataclass(frozen=True)
class Drift:
    """eniplan's static user data, and the plan of the instance's ENIs to compare it with
    (planned with the options its marker records, or the audit's when it records none)."""

    marker: Marker
    plan: InstancePlan | None  # None: the ENIs cannot be planned (why_unplanned)
    options: PlanOptions
    options_source: str = "marker"  # or the command whose options stand in: audit, check-plan
    options_note: str = ""
    why_unplanned: str = ""


class Target(Protocol):
    """What a rule applies to: an inventory instance (InstanceContext) or a planned one
    (checkplan.PlannedHost)."""

    @property
    def label(self) -> str:
        """How messages name it: `i-0123 (web-1)`, or a resource address."""

    @property
    def instance_id(self) -> str | None:
        """Its instance ID, None while it does not exist yet."""

    @property
    def ports(self) -> tuple[Port, ...]:
        """Every ENI it has (ENI003)."""

    @property
    def managed_ports(self) -> tuple[Port, ...]:
        """The ENIs its OS must route when they are two or more and no agent known from
        the AMI routes them; else empty."""

    @property
    def handled_by(self) -> str | None:
        """Who installs per-ENI policy routing, when someone does."""

    @property
    def os(self) -> ownership.OsGuess: ...

    @property
    def user_data_text(self) -> str:
        """The user-data verdict in words (userdata.UserDataInfo.describe)."""

    @property
    def user_data_pending(self) -> str:
        """Why the user data can be read only after apply ("" when it can be read): the
        policy routing cannot be verified (ENI005)."""

    @property
    def drift(self) -> Drift | None:
        """eniplan's static user data to compare with the ENIs (ENI004)."""

    @property
    def route_scope(self) -> str:
        """Where routes were looked for, as a message says it: "" or " in this plan"."""

    def finding(
        self,
        rule_id: str,
        message: str,
        remediation: str,
        *,
        eni_ids: tuple[str, ...],
        details: dict[str, Any],
        port: Port | None = None,
    ) -> Finding: ...

    def routing_fix(self, rule_id: str) -> tuple[str, list[list[str]]]:
        """How to install per-ENI policy routing (for a finding of `rule_id`):
        (remediation, commands)."""

    def pending_fix(self) -> str:
        """How to make the policy routing verifiable (ENI005)."""

    def check_fix(self, port: Port, with_routing: bool) -> tuple[str, list[list[str]]]:
        """How to turn the source/dest check back on (after installing policy routing
        first, `with_routing`): (remediation, commands)."""

    def drift_fix(self, drift: Drift) -> tuple[str, list[list[str]]]:
        """How to replace stale static user data: (remediation, commands)."""


def why_unrouted(target: Target) -> str:
    """Why nothing installs policy routing on the target: its OS, then its user data."""
    os_guess = target.os
    if os_guess.known:
        version = f", version {os_guess.version}" if os_guess.version else ""
        os_text = f"no agent installs it on this OS ({os_guess.family}{version})"
    else:
        os_text = f"OS unknown ({os_guess.evidence})"
    return f"{os_text}; {target.user_data_text}"


@dataclass(frozen=True)
class InventoryView:
    """What the audit's ports need of the whole inventory, worked out once for all its
    instances (not once per ENI): which IDs some VPC route targets, which VPCs' route
    tables were collected, and each subnet as messages name it."""

    routed_targets: frozenset[str]  # ENI and instance IDs some VPC route targets
    vpcs_with_routes: frozenset[str]  # VPCs whose route tables are in the inventory
    subnets: Mapping[str, SubnetRef]  # by subnet ID

    @classmethod
    def of(cls, inventory: Inventory) -> InventoryView:
        return cls(
            routed_targets=inventory.routed_targets(),
            vpcs_with_routes=frozenset(table.vpc_id for table in inventory.route_tables),
            subnets={
                subnet_id: SubnetRef(
                    subnet_id, subnet_id, f"{subnet_id} ({subnet.cidr or 'IPv6-only'})"
                )
                for subnet_id, subnet in inventory.subnets.items()
            },
        )


def instance_port(instance: Instance, eni: Eni, owner: str | None, view: InventoryView) -> Port:
    """An inventory ENI of `instance` as a Port; `owner` is ownership.eni_owner(eni)."""
    address = eni.primary_ipv4 or (eni.ipv6_addresses[0] if eni.ipv6_addresses else None)
    return Port(
        eni_id=eni.eni_id,
        subnet=view.subnets[eni.subnet_id],
        address="" if address is None else values.ip_text(address),
        source_dest_check_off=not eni.source_dest_check
        or (eni.is_primary and not instance.source_dest_check),
        routed=route_targets(view.routed_targets, instance.instance_id, eni.eni_id),
        route_tables_known=eni.vpc_id in view.vpcs_with_routes,
        vpc_id=eni.vpc_id,
        owner=owner,
    )


@quick_init
@dataclass(frozen=True)
class InstanceContext:
    """The audit's target: one instance with everything the audit knows about it."""

    instance: Instance
    inventory: Inventory
    # The planner's decision with the audit's options: MANAGED means the OS must route two
    # or more ENIs and no agent known from the AMI does it.
    triage: Triage
    user_data: UserDataInfo
    # Who installs policy routing on this instance, when someone does (an agent known from
    # the AMI, eniplan's own user data, an agent the user data installs).
    handled_by: str | None
    view: InventoryView
    # persist -> argv of `eniplan render`, with the options eniplan's static user data was
    # rendered with where there is some (so that rendering again gives the same layout)
    render_command: Callable[[str], tuple[str, ...]]
    # Every ENI as the rules see it (`instance_port`), in the instance's order
    ports: tuple[Port, ...]
    # eniplan's static user data and the plan to compare it with, planned with --force
    # (user data rendered with --force is compared with what --force plans now)
    drift: Drift | None = None

    user_data_pending = ""  # user data is collected, or said unknown: never pending
    route_scope = ""

    @property
    def label(self) -> str:
        """The instance as messages name it: `i-0123 (web-1)`."""
        name = self.instance.name
        return f"{self.instance.instance_id} ({name})" if name else self.instance.instance_id

    @property
    def instance_id(self) -> str:
        return self.instance.instance_id

    @property
    def os(self) -> ownership.OsGuess:
        return self.triage.os

    @property
    def user_data_text(self) -> str:
        return self.user_data.describe()

    @cached_property
    def managed_ports(self) -> tuple[Port, ...]:
        """Worked out once: ENI001/ENI002 and ENI003 both ask."""
        if self.triage.status != MANAGED:
            return ()
        managed = {eni.eni_id for eni in self.triage.managed}
        return tuple(port for port in self.ports if port.eni_id in managed)

    def finding(
        self,
        rule_id: str,
        message: str,
        remediation: str,
        *,
        eni_ids: tuple[str, ...] = (),
        details: dict[str, Any] | None = None,
        port: Port | None = None,
    ) -> Finding:
        return Finding(
            rule_id=rule_id,
            severity=RULES[rule_id].severity,
            message=message,
            remediation=remediation,
            instance_id=self.instance.instance_id,
            account_id=self.instance.account_id,
            region=self.instance.region,
            eni_ids=eni_ids,
            details=details or {},
        )

    @cached_property
    def _auto_command(self) -> tuple[tuple[str, ...], str]:
        """`render_command("auto")` and it as one shell line, made once: most instances
        with findings have two or three that give it (ENI001, ENI002, ENI003)."""
        argv = self.render_command("auto")
        return argv, shlex.join(argv)

    def _command(self, persist: str) -> tuple[tuple[str, ...], str]:
        """`render_command(persist)` and it as one shell line."""
        if persist == "auto":
            return self._auto_command
        argv = self.render_command(persist)
        return argv, shlex.join(argv)

    def fix_command(self, persist: str = "auto") -> str:
        return self._command(persist)[1]

    def apply_now_hint(self) -> str:
        """How to apply the fix on the running instance, without a relaunch."""
        if ownership.predates_rule_protocols(self.triage.os):
            return (
                "render `--target ifcfg` into /etc/sysconfig/network-scripts and run the "
                "activation commands it prints"
            )
        return "render `--target iproute2` and run the script as root"

    def routing_fix(self, rule_id: str = "ENI001") -> tuple[str, list[list[str]]]:
        return (
            f"`{self.fix_command()}`, then launch with "
            f"out/{self.instance.instance_id}/user-data; to apply it now on the running "
            f"instance, {self.apply_now_hint()}.",
            [list(self._auto_command[0])],
        )

    def pending_fix(self) -> str:
        return self.routing_fix()[0]

    def check_fix(self, port: Port, with_routing: bool) -> tuple[str, list[list[str]]]:
        enable_argv = [
            "aws",
            "ec2",
            "modify-network-interface-attribute",
            "--region",
            self.instance.region,
            "--network-interface-id",
            port.eni_id,
            "--source-dest-check",
        ]
        enable = shlex.join(enable_argv)
        if with_routing:
            return (
                f"Install per-ENI policy routing (`{self.fix_command()}`), then turn the "
                f"check back on: `{enable}`.",
                [list(self._auto_command[0]), enable_argv],
            )
        return f"Turn the check back on: `{enable}` (or route to it, if it forwards).", [
            enable_argv
        ]

    def drift_fix(self, drift: Drift) -> tuple[str, list[list[str]]]:
        marker = drift.marker
        persist = marker.persist if marker.persist in PERSIST_CHOICES else "auto"
        argv, command = self._command(persist)
        instance_id = self.instance.instance_id
        if drift.plan is None or drift.plan.status != MANAGED:
            remediation = (
                "Remove eniplan's routing from the user data (nothing to route now), or "
                f"render again once the ENIs are back: `{command}`."
            )
        else:
            remediation = (
                f"`{command}` and replace the user data with out/{instance_id}/user-data; to "
                f"apply it now on the running instance, {self.apply_now_hint()}."
            )
            if not marker.options_known:
                remediation += (
                    f" ({drift.options_note}: if the user data was rendered with another "
                    "--table-base or --no-guard, render with those.)"
                )
        return remediation, [list(argv)]


Check = Callable[[Target], Iterable[Finding]]
