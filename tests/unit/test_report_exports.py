"""Formats for other tools: SARIF that GitHub code scanning accepts (a physical location on
every result), Markdown for a comment or ticket, Security Hub's ASFF (checked against the
BatchImportFindings model and imported into moto's Security Hub), and several
`--format`/`-o` pairs in one run."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import jsonschema
import pytest
from botocore.validate import ParamValidator
from moto import mock_aws

from eniplan.audit import AuditOptions, SourceArgs, audit
from eniplan.findings import Finding, Report, Subject, fingerprint
from eniplan.inventory import InventoryRequest, load_inventory
from eniplan.report import format_report, pair_outputs
from eniplan.report.asff import asff_findings
from eniplan.report.markdown import escape
from eniplan.sources.aws import AwsOptions
from eniplan.sources.files import instance_locations
from tests.helpers import FIXTURES
from tests.helpers.cli_runner import assert_one_line_error, run

DUMPS = FIXTURES / "awscli" / "by-region"
SCHEMA = FIXTURES / "sarif" / "sarif-schema-2.1.0.json"
HOSTILE = "|x| `y` <img src=x> [a](https://evil.example) **b** @team #1\n## h\r\x1b[31m"


@pytest.fixture(scope="module")
def dump_report() -> Report:
    request = InventoryRequest(aws=AwsOptions(), inventory_paths=(str(DUMPS),))
    return audit(load_inventory(request), AuditOptions(source=SourceArgs(("--inventory", "x"))))


def hostile_finding(**overrides: Any) -> Finding:
    fields: dict[str, Any] = {
        "rule_id": "ENI003",
        "severity": "medium",
        "message": f"i-0123456789abcdef0 ({HOSTILE}): source/dest check off",
        "remediation": f"aws ec2 modify-network-interface-attribute ... # {HOSTILE} ````",
        "instance_id": "i-0123456789abcdef0",
        "account_id": "111122223333",
        "region": "eu-west-1",
        "eni_ids": ("eni-0123456789abcdef0",),
        "details": {"commands": [["eniplan", "render", "--tag", f"Name={HOSTILE}```"]]},
    }
    fields.update(overrides)
    return Finding(**fields)


def test_the_fingerprint_is_the_one_sarif_always_had() -> None:
    """Baselines and Security Hub IDs rest on it: a change would re-open every finding."""
    finding = hostile_finding(rule_id="ENI001", eni_ids=("eni-1", "eni-2"))
    assert fingerprint(finding) == (
        "85087284a1a24b11e6c437ce8c33ca669e242edf815c3344d0ca04e9a6b3ad96"
    )
    assert fingerprint(hostile_finding(message="other words")) == fingerprint(hostile_finding())
    assert fingerprint(hostile_finding(region="us-east-1")) != fingerprint(hostile_finding())


# --- SARIF: a physical location on every result (GitHub code scanning requires one) -------


def _physical(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [result["locations"][0]["physicalLocation"] for result in document["runs"][0]["results"]]


def test_sarif_results_from_aws_have_a_stable_artifact_uri(dump_report: Report) -> None:
    document = json.loads(format_report("sarif", dump_report))
    validator = jsonschema.Draft4Validator(json.loads(SCHEMA.read_text()))
    assert not list(validator.iter_errors(document))
    physical = _physical(document)
    assert physical and len(physical) == len(dump_report.findings)
    for finding, location in zip(dump_report.findings, physical, strict=True):
        uri = f"aws/{finding.account_id}/{finding.region}/{finding.instance_id}"
        assert location == {"artifactLocation": {"uri": uri}, "region": {"startLine": 1}}
    assert physical == _physical(json.loads(format_report("sarif", dump_report)))


def test_sarif_points_at_the_inventory_file_and_line(dump_report: Report) -> None:
    from eniplan.findings import with_locations

    located = with_locations(dump_report, instance_locations([str(DUMPS)]))
    document = json.loads(format_report("sarif", located))
    for finding, location in zip(located.findings, _physical(document), strict=True):
        path = Path(location["artifactLocation"]["uri"])
        assert path.name == "describe-instances.json"
        line = path.read_text().splitlines()[location["region"]["startLine"] - 1]
        assert f'"InstanceId": "{finding.instance_id}"' in line


def test_sarif_uri_of_an_odd_subject_is_escaped() -> None:
    finding = hostile_finding(instance_id="i-0123456789abcdef0", region="eu west/1")
    document = json.loads(format_report("sarif", Report("audit", (finding,))))
    uri = _physical(document)[0]["artifactLocation"]["uri"]
    assert uri == "aws/111122223333/eu%20west%2F1/i-0123456789abcdef0"


# --- Markdown ------------------------------------------------------------------------------


def test_markdown_escapes_what_a_tag_could_smuggle() -> None:
    report = Report(
        "audit",
        (hostile_finding(), hostile_finding(rule_id="ENI001", severity="high", suppressed=True,
                                            suppression_reason=HOSTILE)),
        scanned=1,
        subjects=(Subject("i-0123456789abcdef0", "111122223333", "eu-west-1", HOSTILE),),
    )  # fmt: skip
    text = format_report("markdown", report)
    table = [line for line in text.splitlines() if line.startswith("| ENI")]
    assert len(table) == 2
    for row in table:
        # an escaped pipe never ends a cell: five cells, six unescaped pipes
        assert row.replace("\\|", "").count("|") == 6, row
    outside_fences = re.sub(r"\n(`{3,})sh\n.*?\n\1\n", "\n", text, flags=re.S)
    for raw in ("<img", "](", "`y`", "**b", "@team", "\n## h"):
        assert not re.search(r"(?<!\\)" + re.escape(raw), outside_fences), raw
    assert "\x1b" not in text and "\r" not in text
    assert "~~" in table[1] and "suppressed" in table[1]
    # the fix in a fence longer than any backtick run inside it
    assert "\n````sh\neniplan render --tag" in text
    assert text.startswith("### eniplan audit: 1 finding(s) (1 medium), 0 at or above high")


def test_markdown_escape_round_trips_to_the_same_characters() -> None:
    text = "a|b`c*d_e[f](g)<h>#i!j\\k"
    escaped = escape(text)
    assert escaped.replace("\\", "") == text.replace("\\", "")
    assert all(escaped[i - 1] == "\\" for i, c in enumerate(escaped) if c in "|`*_[]()<>#!")


def test_markdown_of_the_audit(dump_report: Report) -> None:
    text = format_report("markdown", dump_report)
    assert text.count("\n| ENI") == len(dump_report.findings)
    assert "<details><summary>Fixes</summary>" in text
    empty = format_report("markdown", Report("check-plan", (), scanned=3))
    assert "No findings." in empty and "| rule |" not in empty


# --- Security Hub (ASFF) -------------------------------------------------------------------

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.timezone.utc)
# Required top-level attributes of the AWS Security Finding Format (Security Hub user guide)
ASFF_REQUIRED = {
    "AwsAccountId", "CreatedAt", "Description", "GeneratorId", "Id", "ProductArn",
    "Resources", "SchemaVersion", "Severity", "Title", "Types", "UpdatedAt",
}  # fmt: skip


def test_asff_satisfies_the_batch_import_findings_model(dump_report: Report) -> None:
    findings = asff_findings(dump_report, NOW)
    assert len(findings) == len(dump_report.findings) > 0
    # the service model alone: a client would look for credentials (IMDS on the network)
    model = botocore.session.get_session().get_service_model("securityhub")
    shape = model.operation_model("BatchImportFindings").input_shape
    assert shape is not None
    validation = ParamValidator().validate({"Findings": findings}, shape)
    assert not validation.has_errors(), validation.generate_report()
    for item, finding in zip(findings, dump_report.findings, strict=True):
        assert set(item) >= ASFF_REQUIRED
        assert item["CreatedAt"] == "2026-12-03T12:00:00.000Z"
        assert item["ProductArn"] == (
            f"arn:aws:securityhub:{finding.region}:{finding.account_id}"
            f":product/{finding.account_id}/default"
        )
        assert item["Resources"][0]["Id"].endswith(f":instance/{finding.instance_id}")
        assert len(item["Title"]) <= 256 and len(item["Description"]) <= 1024
    assert len({item["Id"] for item in findings}) == len(findings)


def test_asff_cuts_long_text_and_marks_suppressed() -> None:
    finding = hostile_finding(message="x" * 5000, suppressed=True, suppression_reason="NAT")
    (item,) = asff_findings(Report("audit", (finding,)), NOW)
    assert len(item["Description"]) == 1024 and item["Description"].endswith("…")
    assert item["Workflow"] == {"Status": "SUPPRESSED"}
    assert item["Severity"]["Label"] == "MEDIUM"


def test_asff_imports_into_security_hub(dump_report: Report) -> None:
    findings = json.loads(format_report("asff", dump_report))
    region = findings[0]["Region"]
    with mock_aws():
        client = boto3.client("securityhub", region_name=region)
        client.enable_security_hub()
        mine = [item for item in findings if item["Region"] == region]
        answer = client.batch_import_findings(Findings=mine)
        assert (answer["SuccessCount"], answer["FailedCount"]) == (len(mine), 0)
        again = client.batch_import_findings(Findings=mine)  # the same IDs: updated
        assert again["SuccessCount"] == len(mine)
        stored = client.get_findings()["Findings"]
        assert sorted(item["Id"] for item in stored) == sorted(item["Id"] for item in mine)


# --- several --format / -o pairs ----------------------------------------------------------


def test_pairing_rules() -> None:
    assert pair_outputs((), ()) == [("table", None)]
    assert pair_outputs((), ("a",)) == [("table", "a")]
    assert pair_outputs(("sarif", "json"), ("a.sarif",)) == [("sarif", "a.sarif"), ("json", None)]
    with pytest.raises(Exception, match="pair each -o"):
        pair_outputs(("sarif",), ("a", "b"))
    with pytest.raises(Exception, match="would all go to stdout"):
        pair_outputs(("sarif", "json", "table"), ("a",))


def test_one_audit_writes_several_formats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sarif, markdown, asff = tmp_path / "a.sarif", tmp_path / "a.md", tmp_path / "a.asff.json"
    code, out, err = run(
        ["audit", "--inventory", str(DUMPS), "--format", "sarif", "-o", str(sarif),
         "--format", "markdown", "-o", str(markdown), "--format", "asff", "-o", str(asff),
         "--format", "json"],
        capsys,
    )  # fmt: skip
    assert code == 1, err  # high findings
    document = json.loads(out)
    assert document["command"] == "audit" and document["findings"]
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    assert len(results) == len(document["findings"])
    for result in results:  # --inventory: the file that names the instance
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.endswith("describe-instances.json"), uri
    assert markdown.read_text().startswith("### eniplan audit:")
    assert len(json.loads(asff.read_text())) == len(document["findings"])
    assert err.count("wrote ") == 3


def test_pairs_on_bad_input_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["audit", "--inventory", str(DUMPS), "--format", "sarif", "-o", str(tmp_path / "a"),
         "-o", str(tmp_path / "b")],
        capsys,
    )  # fmt: skip
    assert_one_line_error(code, err, "2 -o files for 1 --format")
    assert list(tmp_path.iterdir()) == []


def test_check_plan_has_no_asff(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["check-plan", "plan.json", "--format", "asff"], capsys)
    assert code == 2 and "asff" in err
