"""`eniplan audit`: every check of the registry on every instance, then the waivers (pure).

Per instance: ENIs owned by a service (VPC CNI, ECS trunk/branch, EFA-only,
requester-managed) and instances whose whole routing a service owns (EKS nodes) are
excluded with the reason; the planner says whether the OS must route several ENIs and
whether an agent known from the AMI does it; the user data (collected for multi-ENI
instances only) says whether eniplan or an agent it installs does. The checks then report
findings, and `eniplan:ignore` tags on the instance or an ENI of a finding suppress it
(suppressed findings stay in the report, marked so).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from eniplan import ownership, userdata, values
from eniplan.checks import AUDIT_CHECKS, RULE_IDS, Drift, InstanceContext, InventoryView
from eniplan.checks.base import instance_port
from eniplan.errors import InputError
from eniplan.findings import (
    FAIL_ON_CHOICES,
    IGNORE_TAG,
    Finding,
    Report,
    Subject,
    Waiver,
    apply_waivers,
    parse_waiver,
    sort_findings,
)
from eniplan.model import Instance, Inventory
from eniplan.plan import (
    DEFAULT_TABLE_BASE,
    HANDLED_ELSEWHERE,
    MANAGED,
    NOTHING_TO_DO,
    PlanOptions,
    Triage,
    plan_instance,
    triage,
)


@dataclass(frozen=True)
class SourceArgs:
    """How a printed `eniplan render` command names the inventory the audit ran on."""

    common: tuple[str, ...] = ()  # --sandbox, --inventory PATH..., --profile P, --endpoint-url
    aws: bool = False  # add the instance's --region (and its account's --role-arn)
    role_by_account: Mapping[str, str] = field(default_factory=dict)
    org_role: str | None = None  # --org-role NAME: the role of that name in the account

    def for_instance(self, instance: Instance) -> tuple[str, ...]:
        if not self.aws:
            return self.common
        args = [*self.common, "--region", instance.region]
        role = self.role_by_account.get(instance.account_id)
        if role is None and self.org_role is not None:
            role = values.member_role_arn(
                values.partition_of_region(instance.region),
                instance.account_id,
                self.org_role,
            )
        if role:
            args += ["--role-arn", role]
        return tuple(args)


@dataclass(frozen=True)
class AuditOptions:
    plan: PlanOptions = field(default_factory=PlanOptions)
    source: SourceArgs = field(default_factory=SourceArgs)
    fail_on: str = "high"


def render_command(
    instance: Instance,
    options: AuditOptions,
    persist: str = "auto",
    plan: PlanOptions | None = None,
) -> tuple[str, ...]:
    """The exact `eniplan render` command that fixes this instance, with the planning
    options `plan` (default: the audit's)."""
    plan = options.plan if plan is None else plan
    plan_args: list[str] = []
    if plan.table_base != DEFAULT_TABLE_BASE:
        plan_args += ["--table-base", str(plan.table_base)]
    if not plan.guard:
        plan_args.append("--no-guard")
    if plan.force:
        plan_args.append("--force")
    return (
        "eniplan",
        "render",
        *options.source.for_instance(instance),
        "--instance-id",
        instance.instance_id,
        "--target",
        "cloud-init",
        "--persist",
        persist,
        *plan_args,
        "-o",
        "out/",
    )


# The few sets of planning options an audit plans with (its own, a marker's, with or without
# --force), each made once: replace() costs as much as a triage, and it ran three times for
# an instance with eniplan's user data
_variant = functools.lru_cache(maxsize=256)(replace)


def audit(inventory: Inventory, options: AuditOptions = AuditOptions()) -> Report:
    if options.fail_on not in FAIL_ON_CHOICES:
        raise InputError(f"--fail-on: {options.fail_on!r} is not one of {FAIL_ON_CHOICES}")
    view = InventoryView.of(inventory)

    findings: list[Finding] = []
    excluded: list[tuple[str, str]] = []
    problems = [problem.describe() for problem in inventory.problems]
    warnings: list[str] = []
    subjects: list[Subject] = []
    analysed: dict[bytes, userdata.UserDataInfo] = {}  # user data -> what it says
    for instance in inventory.instances:
        subjects.append(
            Subject(instance.instance_id, instance.account_id, instance.region, instance.name)
        )
        eni_owners = ownership.eni_owners(instance)
        decided = triage(instance, inventory, options.plan, eni_owners)
        if decided.service_owned:
            excluded.append((instance.instance_id, decided.reason))
            continue
        for eni, eni_reason in zip(instance.enis, eni_owners, strict=True):
            if eni_reason:
                excluded.append((eni.eni_id, f"{instance.instance_id}: {eni_reason}"))
        try:
            context = _context(instance, inventory, options, view, analysed, eni_owners, decided)
        except InputError as error:  # one broken instance must not hide the others
            problems.append(f"{instance.instance_id}: cannot plan: {error}")
            continue
        instance_findings = [f for check in AUDIT_CHECKS for f in check.run(context)]
        drifted = any(f.rule_id == "ENI004" for f in instance_findings)
        handled = context.triage.status != NOTHING_TO_DO
        if context.handled_by and handled and not drifted:
            excluded.append((instance.instance_id, context.handled_by))
        findings.extend(_apply_waivers(instance, instance_findings, warnings))
    return Report(
        command="audit",
        findings=sort_findings(findings),
        scanned=len(inventory.instances),
        excluded=tuple(excluded),
        partial=bool(problems),
        problems=tuple(problems),
        fail_on=options.fail_on,
        subjects=tuple(subjects),
        rule_ids=RULE_IDS,
        warnings=tuple(warnings),
    )


def _context(
    instance: Instance,
    inventory: Inventory,
    options: AuditOptions,
    view: InventoryView,
    analysed: dict[bytes, userdata.UserDataInfo],
    eni_owners: tuple[str | None, ...],
    decided: Triage,
) -> InstanceContext:
    """The instance as the checks see it; `eni_owners` are its ENIs' (ownership.eni_owner,
    in their order) and `decided` its triage with the audit's options, worked out once."""
    # User data is collected for multi-ENI instances only (None, unknown, for the others);
    # instances launched from one template share theirs: each blob is read once
    raw = instance.user_data
    info = analysed.get(raw) if raw else None
    if info is None:
        info = userdata.analyse(raw)
        if raw:
            analysed[raw] = info
    drift: Drift | None = None
    command_options = options.plan
    if info.marker is not None and info.marker.static:
        drift_options, options_source, options_note = marker_options(info.marker, options.plan)
        command_options = drift_options
        # the full plan (routes, digest) only where there is a digest to compare, with
        # --force, as the user data may have been rendered with it
        # (the triage with --force is the audit's, unless an agent's OS stopped it there)
        forced = decided if decided.status == MANAGED or decided.agent is None else None
        drift_plan = plan_instance(
            instance, inventory, _variant(command_options, force=True), forced
        )
        drift = Drift(info.marker, drift_plan, drift_options, options_source, options_note)
    # `eniplan render` skips an OS that an agent handles unless given --force: where the
    # audit asks to render there anyway (audit --force, eniplan's user data), it needs it
    if command_options.force != (decided.agent is not None):
        command_options = _variant(command_options, force=decided.agent is not None)
    return InstanceContext(
        instance=instance,
        inventory=inventory,
        triage=decided,
        user_data=info,
        handled_by=_handled_by(decided, info),
        view=view,
        render_command=lambda persist: render_command(instance, options, persist, command_options),
        drift=drift,
        ports=tuple(
            instance_port(instance, eni, owner, view)
            for eni, owner in zip(instance.enis, eni_owners, strict=True)
        ),
    )


def marker_options(
    marker: userdata.Marker,
    fallback: PlanOptions,
    source: str = "audit",
    described: str = "the audit's options",
) -> tuple[PlanOptions, str, str]:
    """The planning options eniplan's static user data was rendered with, where they come
    from ("marker", or `source`: the command whose options stand in when the marker does
    not record them, from an older eniplan, or they are malformed) and a note saying so."""
    if marker.table_base is not None and marker.guard is not None:
        options = _variant(fallback, table_base=marker.table_base, guard=marker.guard)
        return options, "marker", "planned with the options its marker records"
    why = (
        f"its marker's planning options are malformed ({marker.options_problem})"
        if marker.options_problem
        else "its marker does not record the planning options (older eniplan)"
    )
    return fallback, source, f"{why}: planned with {described}"


def _handled_by(decided: Triage, info: userdata.UserDataInfo) -> str | None:
    if decided.status == HANDLED_ELSEWHERE:
        return decided.reason
    if info.marker is not None:
        if info.marker.static:
            return f"eniplan static user data ({info.marker.version}, checked for drift)"
        return f"eniplan dynamic agent in the user data ({info.marker.version})"
    if info.other_agent:
        return f"{info.other_agent}, installed by the user data"
    if info.routing_config:
        return f"persistent policy routing written by the user data ({info.routing_config})"
    return None


# --- waivers ---------------------------------------------------------------------------


def waivers_of(tags: Mapping[str, str]) -> Waiver | None:
    value = tags.get(IGNORE_TAG)
    return None if value is None else parse_waiver(value)


def _apply_waivers(
    instance: Instance, findings: Iterable[Finding], warnings: list[str]
) -> list[Finding]:
    """The `eniplan:ignore` tags of the instance and its ENIs, applied by the one waiver
    function (findings.apply_waivers)."""
    waivers: dict[str, Waiver] = {}
    for where, tags in (
        (instance.instance_id, instance.tags),
        *((e.eni_id, e.tags) for e in instance.enis),
    ):
        waiver = waivers_of(tags)
        if waiver is not None:
            waivers.setdefault(where, waiver)
    if not waivers:  # no tag: nothing to waive, nothing to warn about
        return list(findings)
    waived, unknown = apply_waivers(findings, waivers)
    warnings.extend(unknown)
    return waived
