"""Every report format: JSON's shape, SARIF against the official schema, JUnit as CI
systems parse it, GitHub workflow commands with their escaping, and the table."""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET
from typing import Any

import jsonschema
import pytest

from eniplan.audit import AuditOptions, SourceArgs, audit
from eniplan.findings import RULES, Finding, Location, Report, Subject
from eniplan.model import Inventory
from eniplan.report import FORMATS, format_report
from eniplan.report.github import annotation, escape_data, escape_property
from tests.helpers import FIXTURES

SCHEMA = FIXTURES / "sarif" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def report(sandbox_inventory: Inventory) -> Report:
    return audit(sandbox_inventory, AuditOptions(source=SourceArgs(("--sandbox",))))


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def hostile_report() -> Report:
    """Text a user controls (a Name tag) with every character the formats must escape."""
    name = 'evil%0A::error::x, "q" <b>&amp; [bold]ab\\n'
    finding = Finding(
        rule_id="ENI001",
        severity="high",
        message=f"i-0123456789abcdef0 ({name}): 2 ENIs without policy routing",
        remediation="`eniplan render --instance-id i-0123456789abcdef0 ...`",
        instance_id="i-0123456789abcdef0",
        account_id="111122223333",
        region="eu-west-1",
        eni_ids=("eni-00000000000000001", "eni-00000000000000002"),
    )
    planned = Finding(
        rule_id="ENI005",
        severity="medium",
        message="aws_instance.web: user data cannot be verified",
        remediation="use eniplan's module",
        address="aws_instance.web",
        location=Location("main.tf", 12),
    )
    return Report(
        command="audit",
        findings=(finding, planned),
        scanned=1,
        subjects=(Subject("i-0123456789abcdef0", "111122223333", "eu-west-1", name),),
    )


def test_formats_are_registered() -> None:
    assert set(FORMATS) == {"table", "json", "sarif", "junit", "github", "markdown", "asff"}


# --- JSON --------------------------------------------------------------------------------


def test_json_shape_of_the_design(report: Report) -> None:
    document = json.loads(format_report("json", report))
    assert {"findings", "summary"} <= set(document)
    for item in document["findings"]:
        assert {"rule_id", "severity", "instance_id", "message", "remediation"} <= set(item)
        assert item["severity"] in ("info", "low", "medium", "high")
    suppressed = [item for item in document["findings"] if item["suppressed"]]
    assert len(suppressed) == document["summary"]["suppressed"] == 1
    assert suppressed[0]["suppression_reason"].startswith("eniplan:ignore on ")
    assert document["summary"]["scanned"] == report.scanned
    assert {entry["subject"] for entry in document["excluded"]} == {s for s, _ in report.excluded}


@pytest.mark.parametrize(
    "details",
    [
        {"commands": [["eniplan", "render"]], "subnets": ("a", "b"), "n": 2, "ok": True},
        {"name": "caf\u00e9 \u202e\u2028 \x07"},  # escaped by json.dumps, not by msgspec
        {"ratio": 1e16, "small": 1e-07, "half": 0.5},  # exponents written differently
        {1: "an integer key", None: "a null key"},
        {"deep": [[{"x": (1, [2, 1e16])}]]},  # a float anywhere in the document
        {"nested": {"k": {2: "an integer key inside"}}, "true": {True: "a boolean key"}},
    ],
)
@pytest.mark.parametrize("msgspec_from", [0, 10_000])  # msgspec writes it; json.dumps does
def test_json_report_is_json_dumps_indented_byte_for_byte(
    report: Report, details: dict[Any, Any], msgspec_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON writer is msgspec where its text is json.dumps(indent=2)'s, json.dumps
    elsewhere (and for a small report): the bytes never depend on which one wrote them."""
    from dataclasses import replace

    from eniplan.report import json_format
    from eniplan.report.json_format import finding_json, indented_json

    monkeypatch.setattr(json_format, "MSGSPEC_FROM", msgspec_from)
    findings = (*report.findings, replace(hostile_report().findings[0], details=details))
    changed = replace(report, findings=findings)
    text = format_report("json", changed)
    document = json.loads(text)
    assert text == json.dumps(document, indent=2) + "\n"
    assert document["findings"][-1] == json.loads(json.dumps(finding_json(findings[-1])))
    assert indented_json(details) == json.dumps(details, indent=2) + "\n"


# --- SARIF -------------------------------------------------------------------------------


def test_sarif_is_valid_against_the_official_schema(
    report: Report, sarif_validator: jsonschema.protocols.Validator
) -> None:
    document = json.loads(format_report("sarif", report))
    errors = sorted(sarif_validator.iter_errors(document), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    (run,) = document["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == list(RULES)  # one rule per catalogue ID
    assert len(run["results"]) == len(report.findings)  # suppressed ones too
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert len(suppressed) == 1
    assert suppressed[0]["suppressions"][0]["kind"] == "external"
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["ENI001"] == "error" and levels["ENI003"] == "warning"


def test_sarif_with_a_file_location_and_hostile_text_is_valid(
    sarif_validator: jsonschema.protocols.Validator,
) -> None:
    document = json.loads(format_report("sarif", hostile_report()))
    assert not list(sarif_validator.iter_errors(document))
    planned = document["runs"][0]["results"][1]
    physical = planned["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "main.tf"}, "region": {"startLine": 12}}


def test_the_schema_really_rejects_bad_sarif(
    report: Report, sarif_validator: jsonschema.protocols.Validator
) -> None:
    document = json.loads(format_report("sarif", report))
    document["runs"][0]["results"][0]["level"] = "critical"
    assert list(sarif_validator.iter_errors(document))


def test_sarif_fingerprints_are_stable_and_distinct(report: Report) -> None:
    first = json.loads(format_report("sarif", report))["runs"][0]["results"]
    again = json.loads(format_report("sarif", report))["runs"][0]["results"]
    prints = [r["partialFingerprints"]["eniplanFinding/v1"] for r in first]
    assert prints == [r["partialFingerprints"]["eniplanFinding/v1"] for r in again]
    assert len(set(prints)) == len(prints)


# --- JUnit -------------------------------------------------------------------------------


def test_junit_has_one_testcase_per_check_and_instance(report: Report) -> None:
    root = ET.fromstring(format_report("junit", report))
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(report.subjects) * len(report.checked_rules)
    assert len({(c.get("classname"), c.get("name")) for c in cases}) == len(cases)
    failures = [c for c in cases if c.find("failure") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    failing_pairs = {(f.rule_id, f.subject) for f in report.active}
    assert len(failures) == len(failing_pairs)  # every finding here is high or medium
    assert len(skipped) == 1
    assert root.get("tests") == str(len(cases)) and root.get("failures") == str(len(failures))
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "123456789012 eu-west-1"
    assert int(suite.get("skipped") or 0) == 1


def test_junit_escapes_and_falls_back_to_findings() -> None:
    hostile = hostile_report()
    root = ET.fromstring(format_report("junit", hostile))  # parses: every value escaped
    cases = root.findall("./testsuite/testcase")
    names = {c.get("name") for c in cases}
    assert any(name and "<b>&amp;" in name for name in names)
    assert "aws_instance.web" in names  # a finding outside the subjects still gets a case


# --- GitHub ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "data", "prop"),
    [
        ("100%", "100%25", "100%25"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("x:y,z", "x:y,z", "x%3Ay%2Cz"),
        ("%0A", "%250A", "%250A"),  # an escape sequence in the input is not decoded later
    ],
)
def test_github_escaping(text: str, data: str, prop: str) -> None:
    assert escape_data(text) == data
    assert escape_property(text) == prop


def test_github_annotations(report: Report) -> None:
    lines = format_report("github", report).splitlines()
    commands = [line for line in lines if line.startswith("::")]
    assert len(commands) == len(report.active)  # suppressed findings are not annotated
    for line in commands:
        match = re.fullmatch(r"::(error|warning|notice) title=([^:,]*)::(.*)", line)
        assert match, line
        assert re.fullmatch(r"ENI00\d i-[0-9a-f]+", match.group(2))
    assert sum(line.startswith("::error ") for line in commands) == sum(
        f.severity == "high" for f in report.active
    )


def test_github_annotation_cannot_be_broken_out_of() -> None:
    finding = hostile_report().findings[0]
    line = annotation(finding)
    assert "\n" not in line and "\r" not in line
    head, _, message = line.partition("::")[2].partition("::")
    assert head == "error title=ENI001 i-0123456789abcdef0"
    assert "%250A%3A%3Aerror" not in message  # data keeps ':' and decodes '%25' only
    assert "evil%250A::error::x" in message


def test_github_file_and_line_for_plan_findings() -> None:
    planned = hostile_report().findings[1]
    assert annotation(planned).startswith(
        "::warning title=ENI005 aws_instance.web,file=main.tf,line=12::"
    )


# --- table -------------------------------------------------------------------------------


def test_table_groups_by_account_and_region_and_ends_with_the_summary(report: Report) -> None:
    text = format_report("table", report)
    assert "account 123456789012  region eu-west-1" in text
    last = text.strip().splitlines()[-1]
    summary: dict[str, Any] = report.summary()
    assert last.startswith(f"audit: {summary['scanned']} instances checked")
    assert f"{summary['suppressed']} suppressed" in last
    assert "suppressed: eniplan:ignore" in text
    assert "fix: `eniplan render --sandbox" in text
    assert "\x1b[" not in text  # plain text for files and pipes


def test_table_names_each_instance_and_lists_its_fix_commands(report: Report) -> None:
    """What `eniplan demo` shows through this format: the instance's name beside its ID,
    then every command of the fix on a line of its own, ready to copy."""
    lines = format_report("table", report).splitlines()
    finding = next(f for f in report.findings if f.rule_id == "ENI003" and not f.suppressed)
    name = next(s.label for s in report.subjects if s.name == finding.instance_id)
    head = next(i for i, line in enumerate(lines) if "ENI003" in line)
    assert f"{finding.instance_id} ({name})" in lines[head]
    commands = [shlex.join(argv) for argv in finding.details["commands"]]
    assert len(commands) == 2 and commands[1].startswith("aws ec2 modify-network-interface")
    below = [line.strip() for line in lines[head + 1 : head + 8]]
    assert [line for line in below if line.startswith("$ ")][:2] == [f"$ {c}" for c in commands]
    suppressed = next(i for i, line in enumerate(lines) if "suppressed: eniplan:ignore" in line)
    assert not lines[suppressed + 1].strip().startswith("$ ")  # a waived finding: no commands


def test_table_does_not_interpret_markup_in_names() -> None:
    text = format_report("table", hostile_report())
    assert "[bold]" in text


def test_table_of_a_clean_report() -> None:
    text = format_report("table", Report(command="audit", findings=(), scanned=3))
    assert "No findings." in text
    assert text.strip().splitlines()[-1].startswith("audit: 3 instances checked; 0 finding(s)")
