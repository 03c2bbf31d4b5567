"""`eniplan doctor` output: a rich report for people, JSON (through the json module) for
machines. Pure: a Diagnosis in, text or a console out."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from eniplan.doctor.simulate import Decision, errno_name
from eniplan.doctor.verdicts import (
    DEPENDS,
    FAIL,
    OK,
    SKIP,
    AddressVerdict,
    Diagnosis,
    Toward,
)
from eniplan.findings import Report
from eniplan.report.json_format import finding_json
from eniplan.terminal import visible

SCHEMA_VERSION = 1
_STYLE = {OK: "green", FAIL: "bold red", SKIP: "dim", DEPENDS: "yellow"}


def _toward_text(toward: Toward | None) -> Text:
    if toward is None:
        return Text("subnet unknown", style="dim")
    text = Text(visible(f"{toward.destination} → {toward.decision.describe()}"))
    if toward.reason and toward.status != OK:
        text.append(f"\n{visible(toward.reason)}", style=_STYLE[toward.status])
    return text


def print_diagnosis(console: Console, diagnosis: Diagnosis, report: Report) -> None:
    """The report for people. Console markup is never used: interface names, rules and
    messages are data (styles come only through Text)."""
    title = "eniplan doctor" + (f": {diagnosis.instance_id}" if diagnosis.instance_id else "")
    console.rule(Text(visible(title)))
    table = Table(title="Where replies leave, per local address", show_lines=True)
    for column in ("interface", "address", "toward a same-subnet peer", "toward off-subnet", ""):
        table.add_column(column)
    for verdict in diagnosis.addresses:
        table.add_row(
            Text(visible(_interface_text(verdict))),
            Text(
                f"{verdict.address.address}" + (" (secondary)" if verdict.address.secondary else "")
            ),
            _toward_text(verdict.peer),
            _toward_text(verdict.internet),
            Text(verdict.status.upper(), style=_STYLE[verdict.status]),
        )
    console.print(table)
    for name, reason in diagnosis.skipped_links:
        console.print(Text(visible(f"  {name}: skipped, {reason}"), style="dim"))

    rules = Table(title="Policy rules by owner")
    for column in ("family", "priority", "rule", "owner", "table"):
        rules.add_column(column)
    for info in diagnosis.rules:
        rules.add_row(
            f"IPv{info.rule.family}",
            str(info.rule.priority),
            Text(visible(info.rule.describe())),
            Text(visible(info.owner)),
            Text(visible(info.note)),
        )
    console.print(rules)

    console.rule("Parity: EC2Rescue for Linux, asymmetricroute", style="dim")
    if diagnosis.parity is None:
        console.print(Text("  not run: no `ip addr show` / `ip rule show` text", style="dim"))
    else:
        style = "red" if diagnosis.parity.status == "FAILURE" else "green"
        line = Text("  module run/asymmetricroute  ")
        line.append(visible(diagnosis.parity.summary), style=style)
        console.print(line)
        for disagreement in diagnosis.disagreements:
            line = Text("  ")
            line.append("eniplan differs:", style="yellow")
            line.append(f" {visible(disagreement.text)}")
            console.print(line)

    if report.findings:
        console.rule("Findings", style="dim")
        for finding in report.findings:
            style = {"high": "bold red", "medium": "yellow", "low": "cyan"}.get(
                finding.severity, "dim"
            )
            line = Text("  ")
            line.append(f"{finding.rule_id} {finding.severity}", style=style)
            line.append(f" {visible(finding.message)}")
            console.print(line)
            if finding.severity != "info":
                console.print(
                    Text(f"      fix: {visible(finding.remediation)}", style="dim"), soft_wrap=True
                )
    for note in diagnosis.notes:
        console.print(Text(f"  note: {visible(note)}", style="dim"))
    summary = report.summary()
    failing = summary["failing"]
    headline = Text("\n")
    headline.append("FAIL" if failing else "OK", style="bold red" if failing else "green")
    depending = sum(1 for v in diagnosis.addresses if v.status == DEPENDS)
    if depending:
        headline.append(f" ({depending} address(es) depend on the packet or the neighbours)")
    headline.append(
        f": {len(diagnosis.addresses)} address(es) on {len(diagnosis.interfaces)} "
        f"interface(s); {summary['findings']} finding(s), {failing} at or above "
        f"--fail-on {report.fail_on}"
    )
    console.print(headline)


def _interface_text(verdict: AddressVerdict) -> str:
    interface = verdict.interface
    text = interface.name
    if interface.eni is not None:
        eni = interface.eni
        text += (
            f"\n{eni.interface_id or eni.mac}\ncard {eni.network_card} device {eni.device_number}"
        )
    return text


def _toward_json(toward: Toward | None) -> dict[str, Any] | None:
    if toward is None:
        return None
    return {
        "destination": str(toward.destination),
        "status": toward.status,
        "reason": toward.reason,
        **_decision_json(toward.decision),
        "alternatives": [_decision_json(d) for d in toward.decision.alternatives],
    }


def _decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "conditions": list(decision.conditions),
        "outcome": decision.outcome,
        "error": errno_name(decision.outcome, decision.flow.family),
        "dev": decision.dev,
        "devs": list(decision.devs),
        "gateway": str(decision.gateway) if decision.gateway is not None else None,
        "table": decision.table,
        "rule_priority": decision.rule.priority if decision.rule else None,
        "rule": decision.rule.describe() if decision.rule else None,
        "route": decision.route.describe() if decision.route else None,
        "steps": list(decision.steps),
    }


def diagnosis_json(diagnosis: Diagnosis, report: Report) -> str:
    parity = diagnosis.parity
    document = {
        "schema_version": SCHEMA_VERSION,
        "command": "doctor",
        "instance_id": diagnosis.instance_id,
        "interfaces": [
            {
                "name": i.name,
                "mac": i.link.mac,
                "group": i.link.group,
                "eni_id": i.eni.interface_id if i.eni else None,
                "network_card": i.eni.network_card if i.eni else None,
                "device_number": i.eni.device_number if i.eni else None,
            }
            for i in diagnosis.interfaces
        ],
        "skipped_interfaces": [{"name": n, "reason": r} for n, r in diagnosis.skipped_links],
        "addresses": [
            {
                "interface": v.interface.name,
                "address": str(v.address.address),
                "family": v.address.family,
                "secondary": v.address.secondary,
                "subnet": str(v.subnet) if v.subnet else None,
                "verdict": v.status,
                "toward_peer": _toward_json(v.peer),
                "toward_internet": _toward_json(v.internet),
            }
            for v in diagnosis.addresses
        ],
        "rules": [
            {
                "family": info.rule.family,
                "priority": info.rule.priority,
                "rule": info.rule.describe(),
                "owner": info.owner,
                "table_note": info.note,
            }
            for info in diagnosis.rules
        ],
        "parity": None
        if parity is None
        else {
            "module": "asymmetricroute (EC2Rescue for Linux)",
            "status": parity.status,
            "message": parity.message,
            "duplicate_broadcasts": list(parity.duplicate_broadcasts),
            "checks": [
                {
                    "address": c.address,
                    "broadcast": c.broadcast,
                    "matched": c.matched,
                    "matching_rules": list(c.matching_rules),
                }
                for c in parity.checks
            ],
            "verdicts": list(parity.verdicts),
            "disagreements": [
                {"address": d.address or None, "text": d.text} for d in diagnosis.disagreements
            ],
        },
        "notes": list(diagnosis.notes),
        "findings": [finding_json(f) for f in report.findings],
        "summary": report.summary(),
    }
    return json.dumps(document, indent=2) + "\n"
