"""`--format json`: {"findings": [...], "summary": {...}} (../DESIGN.md §4)."""

from __future__ import annotations

import json
from typing import Any

from eniplan.findings import Finding, Report

SCHEMA_VERSION = 1


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
    return json.dumps(document, indent=2, sort_keys=False) + "\n"
