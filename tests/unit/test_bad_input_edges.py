"""Edges of the input and output paths that the sweep (test_bad_input_sweep.py) did not
reach: each case here was an internal error (exit 3), a misleading message or an output
written by a run that failed, before it was fixed."""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import threading
from pathlib import Path

import pytest

from eniplan.cli import main
from tests.helpers import FIXTURES, REPO
from tests.helpers.cli_runner import assert_one_line_error, run


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sandbox scenario as a snapshot file (collected once)."""
    path = tmp_path_factory.mktemp("edges") / "snap.json"
    try:
        main(["collect", "--sandbox", "-o", str(path)])
    except SystemExit as exit_:
        assert not exit_.code
    return path


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


# --- --inventory -: standard input is read as the bytes a file holds ---------------------


@pytest.mark.parametrize(
    "encode",
    [
        gzip.compress,  # `aws s3 cp s3://BUCKET/KEY.json.gz - | eniplan audit --inventory -`
        lambda data: data.decode().encode("utf-16"),  # PowerShell 5's pipe into a file
        lambda data: b"\xef\xbb\xbf" + data,
    ],
    ids=["gzip", "utf16-bom", "utf8-bom"],
)
def test_inventory_from_stdin_as_a_file_would_be(
    encode: object,
    snapshot: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Before: stdin was read as text (surrogate escapes for bytes that are not UTF-8), so a
    # gzip'd or UTF-16 inventory piped in was an internal error (UnicodeEncodeError).
    expected = run(["inspect", "--inventory", str(snapshot), "--format", "json"], capsys)
    assert expected[0] == 0, expected[2]
    assert callable(encode)
    _stdin(monkeypatch, encode(snapshot.read_bytes()))
    code, out, err = run(["inspect", "--inventory", "-", "--format", "json"], capsys)
    assert (code, err) == (0, "")
    assert json.loads(out)["instances"] == json.loads(expected[1])["instances"]


def test_inventory_stdin_given_twice_is_read_once(
    snapshot: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: the second `-` found stdin at its end: "<stdin>: file is empty". A file given
    # twice is read once; so is stdin.
    _stdin(monkeypatch, snapshot.read_bytes())
    code, _, err = run(["inspect", "--inventory", "-", "--inventory", "-"], capsys)
    assert (code, err) == (0, "")


def test_inventory_from_stdin_that_is_not_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, b"\x80\xff{}")
    code, _, err = run(["inspect", "--inventory", "-"], capsys)
    assert_one_line_error(code, err, "<stdin>: not text")


# --- JSON and YAML that parse but nest too deep or hold a number too long ----------------

DEEP_JSON = "[" * 100_000 + "]" * 100_000
LONG_NUMBER = "9" * 5_000  # past Python's 4,300-digit limit of int(str)


def _plan_with(value: str) -> str:
    """A real plan with `value` as the value of a key it does not read."""
    return (FIXTURES / "plans" / "cases.json").read_text().replace("{", f'{{"x": {value}, ', 1)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(DEEP_JSON, "nested too deeply"), (LONG_NUMBER, "a number of more than")],
    ids=["deep", "long-number"],
)
def test_check_plan_json_the_decoder_cannot_hold(
    value: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: RecursionError and ValueError (int's digit limit) were internal errors.
    path = tmp_path / "plan.json"
    path.write_text(_plan_with(value))
    code, _, err = run(["check-plan", str(path)], capsys)
    assert_one_line_error(code, err, str(path), fragment)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(DEEP_JSON, "nested too deeply"), (LONG_NUMBER, "a number of more than")],
    ids=["deep", "long-number"],
)
def test_baseline_json_the_decoder_cannot_hold(
    value: str,
    fragment: str,
    snapshot: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(f'{{"format": "eniplan-baseline", "x": {value}}}')
    code, _, err = run(["audit", "--inventory", str(snapshot), "--baseline", str(path)], capsys)
    assert_one_line_error(code, err, str(path), fragment)


def test_inventory_json_the_decoder_cannot_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dump.json"
    path.write_text(f'{{"Subnets": {DEEP_JSON}}}')
    code, _, err = run(["inspect", "--inventory", str(path)], capsys)
    assert_one_line_error(code, err, str(path), "nested too deeply")


DEEP_YAML = "x: " + "[" * 100_000 + "]" * 100_000 + "\n"


def test_config_yaml_nested_too_deeply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Before: PyYAML's RecursionError was an internal error.
    path = tmp_path / "config.yaml"
    path.write_text(DEEP_YAML)
    code, _, err = run(["--config", str(path), "audit", "--sandbox"], capsys)
    assert_one_line_error(code, err, str(path), "nested too deeply")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(DEEP_YAML.encode(), "nested too deeply")],
    ids=["deep"],
)
def test_scenario_file_the_parser_cannot_read(
    content: bytes, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: RecursionError was an internal error.
    path = tmp_path / "scenario.yaml"
    path.write_bytes(content)
    code, _, err = run(["inspect", "--sandbox", str(path)], capsys)
    assert_one_line_error(code, err, str(path), fragment)


def test_scenario_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Before: UnicodeDecodeError, an internal error.
    path = tmp_path / "scenario.yaml"
    path.write_bytes(b"x: \x80\xff\n")
    code, _, err = run(["inspect", "--sandbox", str(path)], capsys)
    assert_one_line_error(code, err, str(path), "not text (expected UTF-8 YAML; byte 3")


# --- several outputs: all written, or none ----------------------------------------------


def test_an_output_that_cannot_be_written_leaves_the_others_unwritten(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: the JSON report was written (and "wrote" said), then the SARIF file failed:
    # exit 2 with a report on disk from the run that failed.
    fresh, kept = tmp_path / "audit.json", tmp_path / "kept.md"
    kept.write_text("the last run's report\n")
    missing = tmp_path / "missing" / "audit.sarif"
    argv = ["audit", "--inventory", str(snapshot), "--format", "json", "-o", str(fresh)]
    argv += ["--format", "markdown", "-o", str(kept), "--format", "sarif", "-o", str(missing)]
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, err, str(missing), "does not exist")
    assert out == ""
    assert not fresh.exists()
    assert kept.read_text() == "the last run's report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.md"]  # no temporary left


def test_every_output_is_written_when_all_can_be(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["audit", "--inventory", str(snapshot), "--fail-on", "never"]
    argv += ["--format", "json", "-o", str(tmp_path / "a.json")]
    argv += ["--format", "sarif", "-o", str(tmp_path / "a.sarif"), "--format", "github"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert err.splitlines() == [f"wrote {tmp_path / 'a.json'}", f"wrote {tmp_path / 'a.sarif'}"]
    assert json.loads((tmp_path / "a.json").read_text())["findings"]
    assert json.loads((tmp_path / "a.sarif").read_text())["runs"]
    assert out.startswith("::")


def test_one_file_for_two_formats_is_refused(
    snapshot: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: both were written to it in turn ("wrote" twice); the SARIF replaced the JSON.
    monkeypatch.chdir(tmp_path)
    argv = ["audit", "--inventory", str(snapshot), "--format", "json", "-o", "report"]
    code, _, err = run([*argv, "--format", "sarif", "-o", "./report"], capsys)
    assert_one_line_error(code, err, "-o ./report: also written by --format json")
    assert list(tmp_path.iterdir()) == []
    # a device is written in place, each format in turn: nothing is replaced
    argv = ["audit", "--inventory", str(snapshot), "--format", "json", "-o", "/dev/null"]
    code, _, err = run([*argv, "--format", "sarif", "-o", "/dev/null"], capsys)
    assert code == 1, err


def test_a_baseline_is_written_with_the_reports_or_not_at_all(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: the baseline was written as the findings were waived, then the report's -o
    # failed: exit 2, and a baseline on disk from the run that failed.
    baseline, missing = tmp_path / "baseline.json", tmp_path / "missing" / "audit.json"
    argv = ["audit", "--inventory", str(snapshot), "--write-baseline", str(baseline)]
    code, _, err = run([*argv, "--format", "json", "-o", str(missing)], capsys)
    assert_one_line_error(code, err, str(missing), "does not exist")
    assert list(tmp_path.iterdir()) == []
    report = tmp_path / "audit.json"
    code, _, err = run([*argv, "--format", "json", "-o", str(report)], capsys)
    assert code == 0, err
    assert err.splitlines() == [
        f"wrote {baseline}: 8 finding(s) in the baseline",
        f"wrote {report}",
    ]
    findings = json.loads(report.read_text())["findings"]
    waived = [f for f in findings if f.get("suppression_reason", "").startswith("baseline ")]
    assert len(waived) == 8
    assert len(json.loads(baseline.read_text())["findings"]) == 8


@pytest.mark.parametrize("option", ["--write-baseline", "--baseline"])
def test_a_baseline_that_is_also_an_output_is_refused(
    option: str, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: the baseline was read or written, then the report replaced it.
    path = tmp_path / "baseline.json"
    code, _, err = run(
        ["audit", "--inventory", str(snapshot), "--write-baseline", str(path)], capsys
    )
    assert code == 0, err  # its findings are waived
    recorded = path.read_text()
    argv = ["audit", "--inventory", str(snapshot), option, str(path)]
    code, _, err = run([*argv, "--format", "json", "-o", str(path)], capsys)
    assert_one_line_error(code, err, f"{option} {path}: also written by --format json")
    assert path.read_text() == recorded
    argv = ["check-plan", str(FIXTURES / "plans" / "cases.json"), option, str(path)]
    code, _, err = run([*argv, "--format", "sarif", "-o", str(path)], capsys)
    assert_one_line_error(code, err, f"{option} {path}: also written by --format sarif")
    # reading a baseline and writing it back is what --baseline F --write-baseline F does
    argv = ["audit", "--inventory", str(snapshot), "--baseline", str(path)]
    code, _, err = run([*argv, "--write-baseline", str(path)], capsys)
    assert code == 0, err


# --- --config: any file that can be read, as the other file options take ----------------


def test_config_from_a_pipe_or_dev_null(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "--config /dev/fd/63: no such file" for `--config <(...)`, and for /dev/null
    # (the usual way to say "no configuration").
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("fail-on: never\n"))
    writer.start()
    code, _, err = run(["--config", str(fifo), "audit", "--inventory", str(snapshot)], capsys)
    if writer.is_alive():  # the pipe was not read: open it so that the writer ends
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    writer.join(timeout=10)
    assert code == 0, err  # fail-on: never was read from the pipe
    code, _, err = run(["--config", "/dev/null", "audit", "--inventory", str(snapshot)], capsys)
    assert code == 1, err  # no configuration: --fail-on high, and the sandbox has high ones


def test_config_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["--config", str(tmp_path), "audit", "--sandbox"], capsys)
    assert_one_line_error(code, err, f"--config {tmp_path}: is a directory")
    code, _, err = run(["--config", str(tmp_path / "none.yaml"), "audit", "--sandbox"], capsys)
    assert_one_line_error(code, err, f"--config {tmp_path / 'none.yaml'}: no such file")


# --- option values ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan"])
def test_timeout_not_a_number(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Before: accepted (no comparison holds for NaN, so the range let it through): the
    # deadline never came, a run against an endpoint that does not answer took the
    # retries' 26 s instead of stopping at --timeout.
    code, _, err = run(["inspect", "--sandbox", "--timeout", value], capsys)
    assert_one_line_error(code, err, "--timeout", repr(value))


def test_timeout_not_a_number_in_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("timeout: .nan\n")
    code, _, err = run(["--config", str(config), "inspect", "--sandbox"], capsys)
    assert_one_line_error(code, err, f"{config}: timeout:")


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("table-base: 5", "table-base: 5 is out of range"),
        ("instance-id: i-zz", "instance-id: 'i-zz' is not a valid i- ID"),
        ("tag: nokv", "tag: 'nokv' is not KEY=VALUE"),
        ("endpoint-url: x", "endpoint-url: 'x' is not a valid endpoint URL"),
        ("audit: {format: [json], output: [json]}", "output: json: 'json' is a format name"),
    ],
)
def test_a_bad_value_in_the_config_names_the_file_and_key(
    line: str, fragment: str, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "--table-base: 5 is out of range ...": the option, though none was given (the
    # README: "an unknown key or a bad value is one error naming the file and key").
    config = tmp_path / "config.yaml"
    config.write_text(line + "\n")
    code, _, err = run(["--config", str(config), "audit", "--inventory", str(snapshot)], capsys)
    assert_one_line_error(code, err, f"{config}: {fragment}")
    # given on the command line, the same value is named by its option
    option, _, value = line.partition(": ")
    if not value.startswith("{"):
        code, _, err = run(["audit", "--inventory", str(snapshot), f"--{option}", value], capsys)
        assert_one_line_error(code, err, f"--{option}")


# --- check-plan: a plan given twice -----------------------------------------------------


def test_check_plan_reads_a_file_given_twice_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: every finding twice (SARIF results with one fingerprint), "scanned" doubled;
    # `check-plan - -` found stdin at its end the second time ("the file is empty").
    plan = FIXTURES / "plans" / "cases.json"
    argv = ["--format", "json", "--fail-on", "never"]
    _, once, _ = run(["check-plan", str(plan), *argv], capsys)
    monkeypatch.chdir(plan.parent)
    code, twice, err = run(["check-plan", str(plan), plan.name, *argv], capsys)
    assert code == 0, err
    assert json.loads(twice)["summary"] == json.loads(once)["summary"]
    _stdin(monkeypatch, plan.read_bytes())
    code, twice, err = run(["check-plan", "-", "-", *argv], capsys)
    assert code == 0, err
    assert json.loads(twice)["summary"] == json.loads(once)["summary"]


# --- where JSON breaks ------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", "--inventory", "{path}"],
        ["check-plan", "{path}"],
        ["audit", "--sandbox", "--baseline", "{path}"],
    ],
    ids=["inventory", "check-plan", "baseline"],
)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"Subnets": [{"x": "cut', "Unterminated string starting at line 1 column 20"),
        ('{"Subnets": ["a\tb"]}', "Invalid control character at line 1 column 16"),
    ],
    ids=["unterminated", "control"],
)
def test_where_json_breaks_reads_as_a_sentence(
    argv: list[str], text: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "Unterminated string starting at at line 1 column 20" (json's message ends
    # with "at"; each reader added its own " at line").
    path = tmp_path / "broken.json"
    path.write_text(text)
    code, _, err = run([arg.format(path=path) for arg in argv], capsys)
    line = assert_one_line_error(code, err, str(path), expected)
    assert " at at " not in line


def test_check_plan_cut_inside_a_string_is_truncated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "not JSON (Unterminated string ...)": json names where the string starts, so
    # a plan cut inside a string did not look cut short.
    text = (FIXTURES / "plans" / "cases.json").read_text()
    cut = text.index('"aws_instance"') + 5
    path = tmp_path / "plan.json"
    path.write_text(text[:cut])
    code, _, err = run(["check-plan", str(path)], capsys)
    assert_one_line_error(code, err, str(path), "truncated JSON: it ends early")
    path.write_text(text[:cut] + "\n" + text[cut:])  # a newline in a string: not cut short
    code, _, err = run(["check-plan", str(path)], capsys)
    assert_one_line_error(code, err, str(path), "not JSON (Invalid control character")


# --- the terminal's width ---------------------------------------------------------------


@pytest.mark.parametrize("columns", ["abc", "-3", "1e3", "99999999999"])
def test_columns_that_is_no_width(
    columns: str,
    snapshot: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Before: COLUMNS=abc was int()'s ValueError, COLUMNS=99999999999 a MemoryError (rich
    # padding rules to that width): internal errors in every table.
    monkeypatch.setenv("COLUMNS", columns)
    for argv in (["inspect"], ["plan"], ["audit", "--fail-on", "never"]):
        code, out, err = run([*argv, "--inventory", str(snapshot)], capsys)
        assert code == 0, err
        assert out and max(len(line) for line in out.splitlines()) <= 4096


def test_columns_is_the_width_of_piped_tables(
    snapshot: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = run(["inspect", "--inventory", str(snapshot)], capsys)
    assert max(len(line) for line in out.splitlines()) == 200  # the rule above each region


# --- doctor: captures saved on Windows --------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [lambda text: b"\xef\xbb\xbf" + text.encode(), lambda text: text.encode("utf-16")],
    ids=["utf8-bom", "utf16-bom"],
)
def test_doctor_reads_captures_with_a_byte_order_mark(
    encode: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: a BOM was "line 1: not `ip addr show` output ... (got '\ufeff1: lo: ...')",
    # UTF-16 (PowerShell 5's `ssh host ip addr > addr.txt`) "not text"; the inventory and
    # plan readers take both.
    assert callable(encode)
    doctor = FIXTURES / "doctor"
    names = {"addr": "seed002-addr.txt", "rule": "seed002-rule.txt", "route": "seed002-route.txt"}
    paths = {}
    for key, name in names.items():
        paths[key] = tmp_path / name
        paths[key].write_bytes(encode((doctor / name).read_text()))
    argv = ["doctor", "--format", "json"]
    expected = run([*argv, *(f"--ip-{k}={doctor / n}" for k, n in names.items())], capsys)
    code, out, err = run([*argv, *(f"--ip-{k}={p}" for k, p in paths.items())], capsys)
    assert (code, err) == (expected[0], expected[2])
    assert json.loads(out)["findings"] == json.loads(expected[1])["findings"]


# --- YAML saved on Windows --------------------------------------------------------------


def test_config_and_scenario_in_utf16(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Before: "not UTF-8 text (expected YAML)", though YAML allows UTF-16 with its byte
    # order mark, what PowerShell 5's `"fail-on: never" > .eniplan.yaml` writes.
    config = tmp_path / "config.yaml"
    config.write_bytes("fail-on: never\n".encode("utf-16"))
    code, _, err = run(["--config", str(config), "audit", "--sandbox"], capsys)
    assert code == 0, err
    scenario = tmp_path / "scenario.yaml"
    scenario.write_bytes(
        (REPO / "eniplan" / "scenarios" / "default.yaml").read_text().encode("utf-16")
    )
    code, out, err = run(["inspect", "--sandbox", str(scenario), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["instances"]


def test_baseline_in_utf16(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "not UTF-8 text (expected an eniplan baseline)" once saved as "Unicode".
    path = tmp_path / "baseline.json"
    code, _, err = run(
        ["audit", "--inventory", str(snapshot), "--write-baseline", str(path)], capsys
    )
    assert code == 0, err
    path.write_bytes(path.read_text().encode("utf-16"))
    code, _, err = run(["audit", "--inventory", str(snapshot), "--baseline", str(path)], capsys)
    assert code == 0, err  # its findings are waived
    path.write_bytes(b"\x80")
    code, _, err = run(["audit", "--inventory", str(snapshot), "--baseline", str(path)], capsys)
    assert_one_line_error(code, err, str(path), "not text (expected an eniplan baseline")


# --- -o paths the file system refuses, or that name a directory -----------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "--inventory", "{snapshot}", "--format", "json", "-o", "{long}"],
        ["collect", "--sandbox", "-o", "{long}"],
        ["render", "--inventory", "{snapshot}", "--target", "iproute2", "-o", "{long}"],
        ["render", "--target", "cloud-init", "--mode", "dynamic", "-o", "{long}"],
        ["inspect", "--inventory", "{long}"],
        ["inspect", "--sandbox", "{long}"],
        ["--config", "{long}", "inspect", "--sandbox"],
    ],
    ids=["audit-o", "collect-o", "render-o", "render-dynamic-o", "inventory", "sandbox", "config"],
)
def test_a_path_name_too_long(
    argv: list[str], snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: OSError (ENAMETOOLONG) from pathlib's checks (is_symlink, is_dir, exists,
    # is_file), an internal error.
    long = tmp_path / ("x" * 300)
    code, _, err = run([a.format(snapshot=snapshot, long=long) for a in argv], capsys)
    assert_one_line_error(code, err, str(long), "File name too long")


@pytest.mark.parametrize("exists", [False, True])
def test_output_path_ending_with_a_slash(
    exists: bool, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: `-o out/` wrote a file named `out` (and `-o report.json/` replaced that file),
    # as `wrote out/`.
    if exists:
        (tmp_path / "out").write_text("kept")
    target = f"{tmp_path / 'out'}/"
    for argv in (
        ["audit", "--inventory", str(snapshot), "--format", "json", "-o", target],
        ["collect", "--sandbox", "-o", target],
    ):
        code, _, err = run(argv, capsys)
        assert_one_line_error(code, err, f"{target}: ends with '/'")
    assert [p.name for p in tmp_path.iterdir()] == (["out"] if exists else [])


# --- SARIF: a file path is a URI reference ----------------------------------------------


def test_sarif_uri_of_a_path_with_uri_characters(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "uri": "sp ace/snap #1?\u00e9%.json": `#` began a fragment, `?` a query,
    # `%` an escape, for code scanning (SARIF 3.4.3: a URI reference, RFC 3986).
    from urllib.parse import unquote, urlsplit

    directory = tmp_path / "sp ace"
    directory.mkdir()
    for source, name in (
        (snapshot, "snap #1?\u00e9%.json"),
        (FIXTURES / "plans" / "cases.json", "plan #1?%.json"),
    ):
        (directory / name).write_bytes(source.read_bytes())
    argv = ["--format", "sarif", "--fail-on", "never"]
    for command in (
        ["audit", "--inventory", str(directory / "snap #1?\u00e9%.json")],
        ["check-plan", str(directory / "plan #1?%.json")],
    ):
        code, out, err = run([*command, *argv], capsys)
        assert code == 0, err
        uris = {
            location["physicalLocation"]["artifactLocation"]["uri"]
            for result in json.loads(out)["runs"][0]["results"]
            for location in result["locations"]
        }
        assert len(uris) == 1
        for uri in uris:
            parts = urlsplit(uri)
            assert (parts.query, parts.fragment) == ("", "")
            assert uri.isascii() and " " not in uri
            assert unquote(uri) == command[-1]


# --- render -o DIR: all files land, or none ---------------------------------------------


def test_render_leaves_no_file_when_one_target_is_a_directory(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: every file was staged, then renamed in turn: the rename over the directory
    # failed after the files of other instances had landed (exit 2, half a rendering).
    code, _, err = run(
        [
            "render",
            "--inventory",
            str(snapshot),
            "--target",
            "iproute2",
            "-o",
            str(tmp_path / "first"),
        ],
        capsys,
    )
    assert code == 0, err
    written = sorted(
        p.relative_to(tmp_path / "first") for p in (tmp_path / "first").rglob("*") if p.is_file()
    )
    assert len(written) > 2
    out = tmp_path / "out"
    blocker = out / written[len(written) // 2]
    blocker.mkdir(parents=True)
    code, _, err = run(
        ["render", "--inventory", str(snapshot), "--target", "iproute2", "-o", str(out)], capsys
    )
    assert_one_line_error(code, err, str(blocker), "is a directory")
    assert [p for p in out.rglob("*") if p.is_file()] == []


# --- an inventory that is a named pipe ----------------------------------------------------


def test_sarif_of_an_inventory_read_from_a_named_pipe(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: SARIF's locations read each inventory file again (the line naming each
    # instance): a named pipe, read once already, was opened again and the run waited
    # forever for a second writer.
    import time

    fifo = tmp_path / "inventory.json"
    os.mkfifo(fifo)
    data = snapshot.read_bytes()
    writer = threading.Thread(target=lambda: fifo.write_bytes(data))
    writer.start()
    done = threading.Event()

    def watchdog() -> None:  # a reader still waiting after 20 s: give it an end of file
        if not done.wait(20):
            os.close(os.open(fifo, os.O_WRONLY))

    threading.Thread(target=watchdog, daemon=True).start()
    started = time.monotonic()
    argv = ["audit", "--inventory", str(fifo), "--format", "sarif", "--fail-on", "never"]
    code, out, err = run(argv, capsys)
    done.set()
    writer.join(timeout=10)
    assert time.monotonic() - started < 15, "it waited for the pipe's second writer"
    assert code == 0, err
    assert json.loads(out)["runs"][0]["results"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "fail-on: high\nregion: [eu-west-1]\nfail-on: never\n",
            "fail-on: given twice (lines 1 and 3)",
        ),
        ("audit:\n  format: json\n  format: sarif\n", "audit.format: given twice (lines 2 and 3)"),
    ],
)
def test_a_config_key_given_twice(
    text: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: the last one won without a word (YAML's loaders keep the last): a gate's
    # `fail-on: high` undone by a `fail-on: never` further down.
    config = tmp_path / "config.yaml"
    config.write_text(text)
    code, _, err = run(["--config", str(config), "audit", "--sandbox"], capsys)
    assert_one_line_error(code, err, f"{config}: {fragment}")


def test_collect_to_a_local_json_gz_is_gzip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: `-o snap.json.gz` wrote plain JSON under a .gz name (`gunzip` refused it),
    # though `-o s3://BUCKET/KEY.json.gz` compresses.
    path = tmp_path / "snap.json.gz"
    code, _, err = run(["collect", "--sandbox", "-o", str(path)], capsys)
    assert code == 0, err
    document = json.loads(gzip.decompress(path.read_bytes()))
    assert document["format"] == "eniplan-snapshot"
    code, out, err = run(["inspect", "--inventory", str(path), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["instances"]


def test_sarif_of_a_plan_read_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "uri": "<stdin>", a file no repository has; a plan from stdin has no file:
    # its results take the stable terraform/ADDRESS URI, as audit's take aws/... for stdin.
    plan = FIXTURES / "plans" / "cases.json"
    _stdin(monkeypatch, plan.read_bytes())
    code, out, err = run(["check-plan", "-", "--format", "sarif", "--fail-on", "never"], capsys)
    assert code == 0, err
    uris = {
        location["physicalLocation"]["artifactLocation"]["uri"]
        for result in json.loads(out)["runs"][0]["results"]
        for location in result["locations"]
    }
    assert uris and all(uri.startswith("terraform/") for uri in uris), uris
