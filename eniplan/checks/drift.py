"""ENI004: eniplan's static user data does not match the instance's ENIs (drift).

Static user data carries the plan digest and the planning options in its marker line
(`# eniplan VERSION instance=ID plan=sha256:DIGEST persist=P table-base=N guard=on|off`);
the instance's ENIs are planned again with those options (the audit's own when an older
marker does not record them) and with --force, as the user data may have been rendered
with it, and the digests compared. Running instances (audit) and planned ones
(check-plan: the ENIs the plan gives the instance) alike: a static marker counts as policy
routing only while it matches. Dynamic user data (a marker without a digest, or
`mode=dynamic`) reads the metadata service at boot and cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterator

from eniplan.checks.base import Target
from eniplan.findings import Finding
from eniplan.plan import MANAGED

RULE_IDS = ("ENI004",)


def stale(target: Target) -> tuple[str, str | None] | None:
    """Why the target's static user data does not match its ENIs, and the digest they
    give now; None when it matches (or there is no static user data)."""
    drift = target.drift
    if drift is None:
        return None
    marker, plan = drift.marker, drift.plan
    current = plan.digest() if plan is not None and plan.status == MANAGED else None
    if plan is None:  # a planned instance whose ENIs do not exist yet
        why = drift.why_unplanned
    elif marker.instance_id not in (None, target.instance_id):
        why = f"it was rendered for another instance, {marker.instance_id}"
    elif plan.status != MANAGED:
        why = f"the instance has nothing to route now ({plan.reason})"
    elif marker.digest != current:
        why = (
            f"it was rendered from plan sha256:{(marker.digest or '')[:12]}..., the ENIs now "
            f"give sha256:{(current or '')[:12]}... (an address, ENI or subnet changed)"
        )
    else:
        return None
    return why, current


def check(target: Target) -> Iterator[Finding]:
    drift = target.drift
    found = stale(target)
    if drift is None or found is None:
        return
    why, current = found
    marker, options = drift.marker, drift.options
    remediation, commands = target.drift_fix(drift)
    yield target.finding(
        "ENI004",
        f"{target.label}: eniplan static user data ({marker.version}) no longer matches "
        f"the ENIs: {why}",
        remediation,
        eni_ids=tuple(port.eni_id for port in target.ports if not port.owner),
        details={
            "installed_digest": f"sha256:{marker.digest}",
            "current_digest": f"sha256:{current}" if current else None,
            "plan_options": {
                "table_base": options.table_base,
                "guard": options.guard,
                "source": drift.options_source,
                "note": drift.options_note,
            },
            "commands": commands,
        },
    )
