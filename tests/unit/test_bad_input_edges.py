"""Edges of the input and output paths that the sweep (test_bad_input_sweep.py) did not
reach: each case here was an internal error (exit 3), a misleading message or an output
written by a run that failed, before it was fixed."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pytest

from eniplan.cli import main
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


def test_inventory_from_stdin_that_is_not_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, b"\x80\xff{}")
    code, _, err = run(["inspect", "--inventory", "-"], capsys)
    assert_one_line_error(code, err, "<stdin>: not text")
