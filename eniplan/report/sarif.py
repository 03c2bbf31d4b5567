"""`--format sarif`: SARIF 2.1.0 (OASIS), for code-scanning dashboards.

One run; `tool.driver.rules` holds one rule per rule ID of the catalogue
(eniplan/findings.py), each result points at its rule by `ruleId` and `ruleIndex`. Audit
findings carry a logical location (the instance, fully qualified by account and region),
ENIs as related logical locations, and a physical location, which GitHub code scanning
requires: the inventory file that names the instance (the line where it does), or else the
stable URI `aws/ACCOUNT/REGION/INSTANCE_ID`. check-plan findings point at the plan file.
Suppressed findings stay in `results` with a SARIF `suppressions` entry (kind
`external`: the waiver is a tag on the AWS resource, not in a file). The tests validate
this output against the official JSON schema.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from eniplan import __version__
from eniplan.fileio import STDIN_NAME
from eniplan.findings import RULES, Finding, Report, fingerprint

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
LEVEL = {"high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning reads `security-severity` (0.0-10.0) from a rule's properties.
SECURITY_SEVERITY = {"high": "7.5", "medium": "5.0", "low": "3.0", "info": "0.0"}


def _rules() -> list[dict[str, Any]]:
    return [
        {
            "id": rule.rule_id,
            "name": "".join(word.capitalize() for word in rule.title.split()[:6] if word.isalnum())
            or rule.rule_id,
            "shortDescription": {"text": rule.title},
            "fullDescription": {"text": rule.explanation},
            "help": {"text": rule.explanation},
            "defaultConfiguration": {"level": LEVEL[rule.severity]},
            "properties": {
                "severity": rule.severity,
                "security-severity": SECURITY_SEVERITY[rule.severity],
                "tags": ["networking", "aws", "ec2"],
            },
        }
        for rule in RULES.values()
    ]


def _fully_qualified(finding: Finding) -> str:
    parts = [part for part in (finding.account_id, finding.region, finding.subject) if part]
    return "/".join(parts)


def _location(finding: Finding) -> dict[str, Any]:
    location: dict[str, Any] = {
        "logicalLocations": [
            {
                "name": finding.subject,
                "fullyQualifiedName": _fully_qualified(finding),
                "kind": "resource",
            }
        ]
    }
    if finding.location is not None and finding.location.path != STDIN_NAME:
        # a URI reference (SARIF 3.4.3): a space, `#`, `?` or `%` in a file name is escaped
        uri = quote(PurePath(finding.location.path).as_posix(), safe="/")
        line = max(finding.location.line or 1, 1)
    else:  # read from AWS or stdin: a stable URI of its own, as code scanning needs one
        scheme = "aws" if finding.instance_id else "terraform"
        parts = (scheme, finding.account_id, finding.region, finding.subject)
        uri = "/".join(quote(part, safe="") for part in parts if part)
        line = 1
    location["physicalLocation"] = {
        "artifactLocation": {"uri": uri},
        "region": {"startLine": line},
    }
    return location


def _result(finding: Finding, rule_index: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "level": LEVEL[finding.severity],
        "message": {"text": f"{finding.message}\nFix: {finding.remediation}"},
        "locations": [_location(finding)],
        # stable across runs: the same finding on the same resource
        "partialFingerprints": {"eniplanFinding/v1": fingerprint(finding)},
        "properties": {
            "severity": finding.severity,
            "remediation": finding.remediation,
            "eniIds": list(finding.eni_ids),
        },
    }
    if finding.rule_id in rule_index:
        result["ruleIndex"] = rule_index[finding.rule_id]
    if finding.eni_ids:
        result["relatedLocations"] = [
            {
                "id": index,
                "logicalLocations": [{"name": eni_id, "kind": "resource"}],
                "message": {"text": f"ENI {eni_id}"},
            }
            for index, eni_id in enumerate(finding.eni_ids)
        ]
    if finding.suppressed:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": finding.suppression_reason,
            }
        ]
    return result


def sarif_document(report: Report) -> dict[str, Any]:
    rules = _rules()
    rule_index = {rule["id"]: index for index, rule in enumerate(rules)}
    # What could not be read is an error of the run (the report is partial); warnings are
    # about the input (an unknown rule ID in a waiver).
    notifications = [
        *({"level": "error", "message": {"text": text}} for text in report.problems),
        *({"level": "warning", "message": {"text": text}} for text in report.warnings),
    ]
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "eniplan",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not report.partial,
                        "toolExecutionNotifications": notifications,
                        "properties": {"command": report.command, "summary": report.summary()},
                    }
                ],
                "results": [_result(finding, rule_index) for finding in report.findings],
            }
        ],
    }


def format_report(report: Report) -> str:
    return json.dumps(sarif_document(report), indent=2) + "\n"
