"""`--format junit`: JUnit XML, which CI systems (GitLab, Jenkins, Azure DevOps, GitHub
test reporters) show as test results.

One <testsuite> per account and region (check-plan: per file), one <testcase> per check
and subject (instance or resource): `classname` the rule ID, `name` the subject. A finding
is a <failure> (high, medium) or, for low and info, passes with the finding in
<system-out>; a suppressed finding is <skipped> with the waiver's reason. When the report
lists no subjects, each finding is its own testcase. Built with xml.etree, so every value
is escaped by the library.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from eniplan.findings import RULES, Finding, Report, Subject

FAILING = ("high", "medium")


# XML 1.0 has no way to write most C0 controls (not even as references), nor U+FFFE/FFFF:
# ElementTree would write them raw and the document would not parse. They become escapes.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _suite_key(account: str, region: str) -> str:
    return " ".join(part for part in (account, region) if part) or "eniplan"


def _testcase(
    suite: ET.Element, rule_id: str, subject: Subject, findings: list[Finding]
) -> tuple[int, int]:
    name = f"{subject.name} ({subject.label})" if subject.label else subject.name
    case = ET.SubElement(suite, "testcase", classname=f"eniplan.{rule_id}", name=name)
    case.set("time", "0")
    failures = skipped = 0
    active = [f for f in findings if not f.suppressed]
    if not findings:
        return 0, 0
    if not active:
        element = ET.SubElement(case, "skipped", message=findings[0].suppression_reason)
        element.text = "\n".join(f.message for f in findings)
        return 0, 1
    failing = [f for f in active if f.severity in FAILING]
    text = "\n\n".join(f"{f.message}\nFix: {f.remediation}" for f in active)
    if failing:
        title = RULES[rule_id].title if rule_id in RULES else rule_id
        element = ET.SubElement(
            case, "failure", message=f"{failing[0].severity}: {title}", type=rule_id
        )
        element.text = text
        failures = 1
    else:
        ET.SubElement(case, "system-out").text = text
    return failures, skipped


def format_report(report: Report) -> str:
    by_case: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for finding in report.findings:
        by_case[(finding.rule_id, finding.subject)].append(finding)
    subjects = list(report.subjects)
    known = {subject.name for subject in subjects}
    # findings about something the subjects do not list still get their testcase
    for finding in report.findings:
        if finding.subject not in known:
            known.add(finding.subject)
            subjects.append(Subject(finding.subject, finding.account_id, finding.region))
    rule_ids = list(report.checked_rules) if report.subjects else []
    for finding in report.findings:
        if finding.rule_id not in rule_ids:
            rule_ids.append(finding.rule_id)

    root = ET.Element("testsuites", name=f"eniplan {report.command}")
    suites: dict[str, ET.Element] = {}
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for subject in subjects:
        key = _suite_key(subject.account_id, subject.region)
        if key not in suites:
            suites[key] = ET.SubElement(root, "testsuite", name=key)
        for rule_id in rule_ids:
            findings = by_case.get((rule_id, subject.name), [])
            if not report.subjects and not findings:
                continue  # no subject list: one testcase per finding only
            failures, skipped = _testcase(suites[key], rule_id, subject, findings)
            counts = totals[key]
            counts[0] += 1
            counts[1] += failures
            counts[2] += skipped
    for key, suite in suites.items():
        tests, failures, skipped = totals[key]
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
    root.set("tests", str(sum(t[0] for t in totals.values()) + len(report.problems)))
    root.set("failures", str(sum(t[1] for t in totals.values())))
    root.set("errors", str(len(report.problems)))
    root.set("skipped", str(sum(t[2] for t in totals.values())))
    if report.problems:
        # What could not be read: one <error> each, so CI shows the report as incomplete.
        suite = ET.SubElement(root, "testsuite", name="eniplan: not read")
        for number, problem in enumerate(report.problems, start=1):
            case = ET.SubElement(
                suite, "testcase", classname="eniplan.partial", name=f"not read {number}"
            )
            case.set("time", "0")
            ET.SubElement(case, "error", message=problem, type="partial").text = problem
        count = str(len(report.problems))
        for key, value in (("tests", count), ("failures", "0"), ("errors", count)):
            suite.set(key, value)
        suite.set("skipped", "0")
    for element in root.iter():
        for key, value in list(element.attrib.items()):
            element.set(key, _xml_text(value))
        if element.text:
            element.text = _xml_text(element.text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
