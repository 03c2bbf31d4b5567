"""`--format asff` (audit): AWS Security Finding Format, for Security Hub.

The output is the JSON list that `aws securityhub batch-import-findings --findings
file://FILE` takes (at most 100 findings per call: split larger lists, e.g. with jq). Each
finding is imported into its own account and region, through the account's default
product (`product/ACCOUNT/default`). IDs are the findings' stable fingerprints, so a
re-import updates a finding instead of adding one; a suppressed finding is imported with
workflow status SUPPRESSED. The tests check every field against the BatchImportFindings
model in botocore and import the list into moto's Security Hub.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from eniplan import __version__
from eniplan.findings import RULES, Finding, Report, fingerprint

SCHEMA_VERSION = "2018-10-08"
LABEL = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW", "info": "INFORMATIONAL"}
TYPE = "Software and Configuration Checks/AWS Security Best Practices"
# BatchImportFindings limits (characters)
TITLE_MAX, DESCRIPTION_MAX, RECOMMENDATION_MAX = 256, 1024, 512


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _resources(finding: Finding) -> list[dict[str, Any]]:
    part, region, account = partition(finding.region), finding.region, finding.account_id
    resources = [
        {
            "Type": "AwsEc2Instance",
            "Id": f"arn:{part}:ec2:{region}:{account}:instance/{finding.instance_id}",
            "Partition": part,
            "Region": region,
        }
    ]
    resources += [
        {
            "Type": "AwsEc2NetworkInterface",
            "Id": f"arn:{part}:ec2:{region}:{account}:network-interface/{eni_id}",
            "Partition": part,
            "Region": region,
        }
        for eni_id in finding.eni_ids
    ]
    return resources


def asff_finding(finding: Finding, now: str) -> dict[str, Any]:
    if not (finding.account_id and finding.region and finding.instance_id):
        raise ValueError(f"ASFF needs an account, region and instance: {finding.subject}")
    rule = RULES.get(finding.rule_id)
    part = partition(finding.region)
    title = f"{finding.rule_id} {rule.title if rule else ''}".strip()
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": f"eniplan/{finding.account_id}/{finding.region}/{fingerprint(finding)}",
        "ProductArn": (
            f"arn:{part}:securityhub:{finding.region}:{finding.account_id}"
            f":product/{finding.account_id}/default"
        ),
        "ProductName": "eniplan",
        "CompanyName": "eniplan",
        "GeneratorId": f"eniplan/{finding.rule_id}",
        "AwsAccountId": finding.account_id,
        "Region": finding.region,
        "Types": [TYPE],
        "CreatedAt": now,
        "UpdatedAt": now,
        "Severity": {"Label": LABEL[finding.severity], "Original": finding.severity},
        "Title": _cut(title, TITLE_MAX),
        "Description": _cut(finding.message, DESCRIPTION_MAX),
        "Remediation": {"Recommendation": {"Text": _cut(finding.remediation, RECOMMENDATION_MAX)}},
        "ProductFields": {
            "eniplan/RuleId": finding.rule_id,
            "eniplan/Version": __version__,
            "eniplan/Fingerprint": fingerprint(finding),
        },
        "Resources": _resources(finding),
        "RecordState": "ACTIVE",
        "Workflow": {"Status": "SUPPRESSED" if finding.suppressed else "NEW"},
    }


def asff_findings(report: Report, now: _dt.datetime) -> list[dict[str, Any]]:
    stamp = now.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds")
    stamp = stamp.replace("+00:00", "Z")
    return [asff_finding(finding, stamp) for finding in report.findings]


def format_report(report: Report) -> str:
    document = asff_findings(report, _dt.datetime.now(_dt.timezone.utc))
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
