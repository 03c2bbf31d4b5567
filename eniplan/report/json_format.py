"""`--format json`: {"findings": [...], "summary": {...}} (README: Output formats)."""

from __future__ import annotations

import json
from typing import Any

from eniplan.findings import Finding, Report

SCHEMA_VERSION = 1
# From this many findings msgspec writes the report: below it json.dumps takes less time
# than importing msgspec (about 8 ms; 100 findings: 2.5 ms), and a pull request's
# check-plan has a handful
MSGSPEC_FROM = 200


def finding_json(finding: Finding) -> dict[str, Any]:
    item: dict[str, Any] = {"rule_id": finding.rule_id, "severity": finding.severity}
    if finding.instance_id is not None:
        item["instance_id"] = finding.instance_id
    if finding.address is not None:
        item["address"] = finding.address
    item["message"] = finding.message
    item["remediation"] = finding.remediation
    if finding.account_id:
        item["account_id"] = finding.account_id
    if finding.region:
        item["region"] = finding.region
    if finding.eni_ids:
        item["eni_ids"] = list(finding.eni_ids)
    if finding.location is not None:
        item["location"] = {"path": finding.location.path, "line": finding.location.line}
    item["suppressed"] = finding.suppressed
    if finding.suppressed:
        item["suppression_reason"] = finding.suppression_reason
    if finding.details:
        item["details"] = dict(finding.details)
    return item


def format_report(report: Report) -> str:
    document = {
        "schema_version": SCHEMA_VERSION,
        "command": report.command,
        "partial": report.partial,
        "problems": list(report.problems),
        "findings": [finding_json(finding) for finding in report.findings],
        "excluded": [{"subject": subject, "reason": reason} for subject, reason in report.excluded],
        "summary": report.summary(),
    }
    return indented_json(document, msgspec_writes=len(report.findings) >= MSGSPEC_FROM)


def indented_json(document: Any, msgspec_writes: bool = True) -> str:
    """`json.dumps(document, indent=2)` and a newline, byte for byte. json.dumps indents in
    pure Python (a second for 16,000 findings); msgspec writes the same text where the two
    agree: keys that are text, no floats (json.dumps writes exponents its own way), and
    ASCII (json.dumps escapes the rest)."""
    if msgspec_writes and _same_in_both(document):
        import msgspec  # not for a small report (MSGSPEC_FROM)

        text = msgspec.json.format(msgspec.json.encode(document), indent=2)
        if text.isascii():
            return text.decode() + "\n"
    return json.dumps(document, indent=2) + "\n"


_SCALARS = frozenset((str, int, bool, type(None)))  # written alike by both, as they are


def _same_in_both(document: Any) -> bool:
    """True when json.dumps and msgspec write `document` alike: it holds only text, integers,
    None, lists, tuples and dicts keyed by text. Walked with a stack, not a call per value
    (a report of 16,000 findings holds half a million)."""
    pending = [document]
    pop, push = pending.pop, pending.append
    while pending:
        value = pop()
        kind = type(value)
        items: Any
        if kind is dict or (kind not in _SCALARS and isinstance(value, dict)):
            for key in value:
                if type(key) is not str:
                    return False
            items = value.values()
        elif kind is list or kind is tuple or isinstance(value, (list, tuple)):
            items = value
        elif value is None or isinstance(value, (str, int)):  # bool is an int
            continue
        else:
            return False  # a float, or what json.dumps alone says it cannot write
        for item in items:
            if type(item) not in _SCALARS:
                push(item)
    return True
