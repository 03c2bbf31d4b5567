"""ENI004: eniplan's static user data no longer matches the instance's ENIs (drift).

Static user data carries the plan digest and the planning options in its marker line
(`# eniplan VERSION instance=ID plan=sha256:DIGEST persist=P table-base=N guard=on|off`);
the audit plans the instance again with those options (the audit's own when an older
marker does not record them) and with --force, as the user data may have been rendered
with it, and compares digests. The remediation renders with the same options, so that the
new user data keeps the layout (tables, guard) of the old. Dynamic user data (a marker
without a digest, or `mode=dynamic`) reads the metadata service at boot and cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterator

from eniplan.checks.base import InstanceContext
from eniplan.findings import Finding
from eniplan.plan import MANAGED
from eniplan.render.base import PERSIST_CHOICES

RULE_IDS = ("ENI004",)


def check(context: InstanceContext) -> Iterator[Finding]:
    marker = context.user_data.marker
    options = context.drift_options
    if marker is None or not marker.static or context.drift_plan is None or options is None:
        return
    plan = context.drift_plan
    instance_id = context.instance.instance_id
    current = plan.digest() if plan.status == MANAGED else None  # hashing is the check's cost
    if marker.instance_id not in (None, instance_id):
        why = f"it was rendered for another instance, {marker.instance_id}"
    elif plan.status != MANAGED:
        why = f"the instance has nothing to route now ({plan.reason})"
    elif marker.digest != current:
        why = (
            f"it was rendered from plan sha256:{(marker.digest or '')[:12]}..., the ENIs now "
            f"give sha256:{(current or '')[:12]}... (an address, ENI or subnet changed)"
        )
    else:
        return
    persist = marker.persist if marker.persist in PERSIST_CHOICES else "auto"
    remediation = (
        f"`{context.fix_command(persist)}` and replace the user data with "
        f"out/{instance_id}/user-data; to apply it now on the running instance, "
        f"{context.apply_now_hint()}."
    )
    if not marker.options_known:
        remediation += (
            f" ({context.drift_options_note}: if the user data was rendered with another "
            "--table-base or --no-guard, render with those.)"
        )
    if plan.status != MANAGED:
        remediation = (
            "Remove eniplan's routing from the user data (nothing to route now), or render "
            f"again once the ENIs are back: `{context.fix_command(persist)}`."
        )
    yield context.finding(
        "ENI004",
        f"{context.label}: eniplan static user data ({marker.version}) no longer matches "
        f"the ENIs: {why}",
        remediation,
        eni_ids=tuple(eni.eni_id for eni in plan.enis),
        details={
            "installed_digest": f"sha256:{marker.digest}",
            "current_digest": f"sha256:{current}" if current else None,
            "plan_options": {
                "table_base": options.table_base,
                "guard": options.guard,
                "source": "marker" if marker.options_known else "audit",
                "note": context.drift_options_note,
            },
            "commands": [list(context.render_command(persist))],
        },
    )
