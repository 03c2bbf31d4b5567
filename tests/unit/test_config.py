"""`.eniplan.yaml` (found upward, or --config), environment variables, --quiet,
--list-rules and click's shell completion."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eniplan.findings import RULES
from tests.helpers import ENIPLAN_VARIABLES, FIXTURES, REPO
from tests.helpers.cli_runner import assert_one_line_error, run

DUMPS = str(FIXTURES / "awscli" / "by-region")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with a subdirectory as the working directory."""
    (tmp_path / "infra" / "deep").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "infra" / "deep")
    monkeypatch.delenv("ENIPLAN_CONFIG", raising=False)
    monkeypatch.delenv("ENIPLAN_FAIL_ON", raising=False)
    return tmp_path


# ENIPLAN_ names in eniplan/ that are not environment variables
NOT_VARIABLES = {"ENIPLAN_PROTOCOL": "the rule protocol number of eniplan's rules (doctor)"}


def test_no_variable_eniplan_reads_comes_from_the_host() -> None:
    """tests/conftest.py clears every variable of ENIPLAN_VARIABLES; a new one in the
    product must join it, or the host's value would reach the tests."""
    named: set[str] = set()
    for path in sorted((REPO / "eniplan").rglob("*")):
        if path.suffix in {".py", ".sh", ".yaml"} and path.is_file():
            named.update(re.findall(r"(?<![A-Za-z0-9])_?ENIPLAN_[A-Z0-9_]+", path.read_text()))
    assert named - set(NOT_VARIABLES) == set(ENIPLAN_VARIABLES)


def test_the_nearest_config_upward_sets_defaults(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / ".eniplan.yaml").write_text("fail-on: never\naudit:\n  format: json\n")
    code, out, err = run(["audit", "--inventory", DUMPS], capsys)
    assert code == 0, err  # high findings, but fail-on never
    document = json.loads(out)
    assert document["summary"]["fail_on"] == "never" and document["findings"]
    # the command line wins over the file
    code, out, _ = run(["audit", "--inventory", DUMPS, "--fail-on", "high"], capsys)
    assert code == 1 and json.loads(out)["summary"]["fail_on"] == "high"


def test_environment_wins_over_the_file(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / ".eniplan.yaml").write_text("fail-on: never\nformat: json\n")
    monkeypatch.setenv("ENIPLAN_FAIL_ON", "medium")
    code, out, _ = run(["audit", "--inventory", DUMPS], capsys)
    assert code == 1 and json.loads(out)["summary"]["fail_on"] == "medium"


def test_explicit_config_and_planning_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "team.yaml"
    # region is an AWS option: with --inventory, a configured region gives way
    config.write_text("table-base: 20000\nregion: [eu-west-1]\nplan:\n  format: json\n")
    code, out, err = run(["--config", str(config), "plan", "--inventory", DUMPS], capsys)
    assert code == 0, err
    tables = {
        eni["table"]
        for plan in json.loads(out)["plans"]
        for eni in plan.get("enis", [])
        if eni.get("table") is not None
    }
    assert tables and min(tables) >= 20000


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("colour: red\n", ("unknown key 'colour'",)),
        ("fail-on: sometimes\n", ("fail-on", "'sometimes' is not one of")),
        ("audit:\n  format: plan\n", ("audit.format", "'plan' is not one of")),
        ("plan:\n  fail-on: high\n", ("plan has no option --fail-on",)),
        ("- a\n- b\n", ("expected a mapping",)),
        ("fail-on: [high, low]\n", ("fail-on", "expected one value")),
        ("a: [\n", ("not valid YAML at line",)),
    ],
)
def test_a_bad_config_is_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, fragments: tuple[str, ...]
) -> None:
    (project / ".eniplan.yaml").write_text(text)
    code, out, err = run(["audit", "--inventory", DUMPS], capsys)
    assert_one_line_error(code, err, str(project / ".eniplan.yaml"), *fragments)
    assert out == ""


def test_a_missing_config_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["--config", str(tmp_path / "nope.yaml"), "plan", "--sandbox"], capsys)
    assert_one_line_error(code, err, "nope.yaml", "no such file")


def test_quiet_leaves_out_wrote_lines_but_not_warnings(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = project / "a.json"
    code, _, err = run(["audit", "--inventory", DUMPS, "--format", "json", "-o", str(out_file)],
                       capsys)  # fmt: skip
    assert "wrote" in err
    code, out, err = run(
        ["-q", "audit", "--inventory", DUMPS, "--format", "json", "-o", str(out_file)], capsys
    )
    assert code == 1 and out == "" and err == ""
    assert json.loads(out_file.read_text())["findings"]
    for after in ("-q", "--quiet"):  # after the command too
        code, out, err = run(
            ["audit", after, "--inventory", DUMPS, "--format", "json", "-o", str(out_file)], capsys
        )
        assert code == 1 and out == "" and err == ""
    code, _, err = run(["collect", "--sandbox", "-o", str(project / "s.json"), "-q"], capsys)
    assert code == 0 and err == ""


def test_list_rules(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--list-rules"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(RULES)
    assert lines[0].split()[1] == RULES["ENI001"].severity


def test_org_options_from_the_file_and_the_environment(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / ".eniplan.yaml").write_text(
        "org-role: eniplan-read\norg-ou: [ou-ab12-abcdef12]\nexclude-account: [111122223333]\n"
    )
    # AWS-only options: with --inventory, the configured ones give way
    code, _, err = run(["inspect", "--inventory", DUMPS], capsys)
    assert code == 0, err
    (project / ".eniplan.yaml").write_text("")
    monkeypatch.setenv("ENIPLAN_ORG_OU", "ou-ab12-abcdef12 ou-cd34-abcdef12")
    code, _, err = run(["inspect", "--region", "eu-west-1"], capsys)
    assert_one_line_error(code, err, "--org-ou only applies with --org-role")
    monkeypatch.setenv("ENIPLAN_ORG_ROLE", "no;such")
    code, _, err = run(["inspect", "--region", "eu-west-1"], capsys)
    assert_one_line_error(code, err, "--org-role", "no;such")
    monkeypatch.setenv("ENIPLAN_ORG_ROLE", "eniplan-read")
    monkeypatch.setenv("ENIPLAN_EXCLUDE_ACCOUNT", "1111")
    code, _, err = run(["inspect", "--region", "eu-west-1"], capsys)
    assert_one_line_error(code, err, "--exclude-account", "'1111'", "12 digits")
