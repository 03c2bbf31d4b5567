"""Baselines: --write-baseline records a run's findings by fingerprint, --baseline waives
them later (reasons and expiry dates kept), for audit and check-plan."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from eniplan.baseline import apply_baseline, baseline_document, read_baseline
from eniplan.findings import Finding, Report, fingerprint, suppress
from tests.helpers import FIXTURES
from tests.helpers.cli_runner import assert_one_line_error, run

DUMPS = str(FIXTURES / "awscli" / "by-region")
TODAY = dt.date(2026, 12, 3)
NOW = dt.datetime(2026, 12, 3, 12, tzinfo=dt.timezone.utc)


def finding(instance: str, rule: str = "ENI001", message: str = "m") -> Finding:
    return Finding(rule, "high", message, "fix", instance_id=instance, account_id="1", region="r")


def write(path: Path, report: Report) -> None:
    path.write_text(json.dumps(baseline_document(report, None, NOW)))


def test_waives_by_fingerprint_not_by_wording(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    write(path, Report("audit", (finding("i-1"),)))
    later = Report("audit", (finding("i-1", message="reworded"), finding("i-2")))
    result = apply_baseline(later, read_baseline(str(path)), TODAY)
    assert [f.suppressed for f in result.findings] == [True, False]
    assert result.findings[0].suppression_reason.startswith(f"baseline {path}: accepted")
    assert [f.instance_id for f in result.failing] == ["i-2"]


def test_expired_entries_waive_nothing_and_say_so(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    write(path, Report("audit", (finding("i-1"), finding("i-2"))))
    document = json.loads(path.read_text())
    document["findings"][0].update(expires="2026-12-02", reason="old")
    document["findings"][1].update(expires="2026-12-03", reason="NAT (NET-42)")
    path.write_text(json.dumps(document))
    result = apply_baseline(
        Report("audit", (finding("i-1"), finding("i-2"))), read_baseline(str(path)), TODAY
    )
    assert [f.suppressed for f in result.findings] == [False, True]
    assert "NAT (NET-42) (until 2026-12-03)" in result.findings[1].suppression_reason
    assert len(result.warnings) == 1 and "expired on 2026-12-02" in result.warnings[0]


def test_rewriting_keeps_reasons_and_leaves_out_tag_waivers(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    write(path, Report("audit", (finding("i-1"),)))
    document = json.loads(path.read_text())
    document["findings"][0].update(reason="known", expires="2027-01-31")
    path.write_text(json.dumps(document))
    previous = read_baseline(str(path))
    tagged = suppress(finding("i-3"), "eniplan:ignore on i-3: appliance")
    report = apply_baseline(
        Report("audit", (finding("i-1"), finding("i-2"), tagged)), previous, TODAY
    )
    new = baseline_document(report, previous, NOW)
    by_subject = {item["subject"]: item for item in new["findings"]}
    assert set(by_subject) == {"i-1", "i-2"}
    assert (by_subject["i-1"]["reason"], by_subject["i-1"]["expires"]) == ("known", "2027-01-31")
    assert by_subject["i-2"]["fingerprint"] == fingerprint(finding("i-2"))


def test_audit_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "baseline.json"
    code, out, err = run(["audit", "--inventory", DUMPS, "--format", "json"], capsys)
    assert code == 1
    findings = json.loads(out)["findings"]
    code, out, err = run(
        ["audit", "--inventory", DUMPS, "--format", "json", "--write-baseline", str(base)], capsys
    )
    assert code == 0, err
    assert f"wrote {base}: {len(findings)} finding(s)" in err
    code, out, err = run(
        ["audit", "--inventory", DUMPS, "--format", "sarif", "--baseline", str(base)], capsys
    )
    assert code == 0, err
    results = json.loads(out)["runs"][0]["results"]
    assert len(results) == len(findings)
    assert all(result["suppressions"][0]["status"] == "accepted" for result in results)


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("[]", ("not an eniplan baseline",)),
        ('{"format": "eniplan-baseline", "version": 9, "findings": []}', ("version",)),
        ('{"format": "eniplan-baseline", "version": 1, "findings": {}}', ("expected a list",)),
        (
            '{"format": "eniplan-baseline", "version": 1, "findings": [{"fingerprint": "f", '
            '"rule_id": "ENI001", "subject": "i-1", "expires": "soon"}]}',
            ("findings[0].expires", "'soon' is not a date"),
        ),
        (
            '{"format": "eniplan-baseline", "version": 1, "findings": [{"rule_id": "ENI001"}]}',
            ("findings[0].fingerprint",),
        ),
        ("{", ("not valid JSON",)),
    ],
)
def test_a_bad_baseline_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, fragments: tuple[str, ...]
) -> None:
    base = tmp_path / "baseline.json"
    base.write_text(content)
    code, out, err = run(["audit", "--inventory", DUMPS, "--baseline", str(base)], capsys)
    assert_one_line_error(code, err, str(base), *fragments)
    assert out == ""


def test_check_plan_takes_a_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = str(FIXTURES / "plans" / "cases.json")
    base = tmp_path / "baseline.json"
    code, _, err = run(["check-plan", plan, "--write-baseline", str(base)], capsys)
    assert code == 0, err
    entries = json.loads(base.read_text())["findings"]
    assert entries and all(item["subject"].startswith(("aws_", "module.")) for item in entries)
    code, _, err = run(["check-plan", plan, "--baseline", str(base)], capsys)
    assert code == 0, err
    code, _, _ = run(["check-plan", plan], capsys)
    assert code == 1
