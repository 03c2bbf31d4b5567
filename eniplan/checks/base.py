"""What every check receives: one instance with everything the audit knows about it.

A check is a function `(InstanceContext) -> Iterable[Finding]`; it is pure. The audit
(eniplan/audit.py) builds the context once per instance and applies waivers afterwards, so
checks never look at `eniplan:ignore` tags.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from eniplan import agents
from eniplan.findings import RULES, Finding
from eniplan.model import Eni, Instance, Inventory
from eniplan.plan import InstancePlan, PlanOptions, Triage
from eniplan.userdata import UserDataInfo


@dataclass(frozen=True)
class InstanceContext:
    instance: Instance
    inventory: Inventory
    # The planner's decision with the audit's options: MANAGED means the OS must route two
    # or more ENIs and no agent known from the AMI does it.
    triage: Triage
    user_data: UserDataInfo
    # Who installs policy routing on this instance, when someone does (an agent known from
    # the AMI, eniplan's own user data, an agent the user data installs).
    handled_by: str | None
    # The plan to compare eniplan's static user data with: planned with the table base and
    # guard its marker records (the audit's when it records none) and with --force, so that
    # user data rendered with --force is compared with what --force plans now. Only made
    # for instances whose user data is eniplan's static user data.
    drift_plan: InstancePlan | None
    routed_targets: frozenset[str]  # ENI and instance IDs some VPC route targets
    vpcs_with_routes: frozenset[str]  # VPCs whose route tables are in the inventory
    # persist -> argv of `eniplan render`, with the options eniplan's static user data was
    # rendered with where there is some (so that rendering again gives the same layout)
    render_command: Callable[[str], tuple[str, ...]]
    # For eniplan's static user data: the options drift_plan was planned with (without its
    # --force), and where they come from (the marker, or the audit when it records none).
    drift_options: PlanOptions | None = None
    drift_options_note: str = ""

    @property
    def label(self) -> str:
        """The instance as messages name it: `i-0123 (web-1)`."""
        name = self.instance.name
        return f"{self.instance.instance_id} ({name})" if name else self.instance.instance_id

    def finding(self, rule_id: str, message: str, remediation: str, **kwargs: object) -> Finding:
        return Finding(
            rule_id=rule_id,
            severity=RULES[rule_id].severity,
            message=message,
            remediation=remediation,
            instance_id=self.instance.instance_id,
            account_id=self.instance.account_id,
            region=self.instance.region,
            **kwargs,  # type: ignore[arg-type]
        )

    def fix_command(self, persist: str = "auto") -> str:
        return shlex.join(self.render_command(persist))

    def apply_now_hint(self) -> str:
        """How to apply the fix on the running instance, without a relaunch."""
        if agents.predates_rule_protocols(self.triage.os):
            return (
                "render `--target ifcfg` into /etc/sysconfig/network-scripts and run the "
                "activation commands it prints"
            )
        return "render `--target iproute2` and run the script as root"

    def managed_enis(self) -> tuple[Eni, ...]:
        """The ENIs the OS must route, in slot order."""
        return self.triage.managed


Check = Callable[[InstanceContext], Iterable[Finding]]
