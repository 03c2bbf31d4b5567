"""eniplan writing to a standard output that is not UTF-8: a Windows pipe or file (the ANSI
code page, cp1252), PYTHONIOENCODING=ascii. Data that such a stream cannot hold is written
as escapes; it is never a reason to stop (exit 3, a report cut in the middle)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eniplan.cli import main

NAME = "caf\u00e9 \u2603 \U0001f600"  # é is in cp1252; the snowman and the emoji in neither


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sandbox's snapshot, the first multi-ENI instance named NAME."""
    path = tmp_path_factory.mktemp("encodings") / "snap.json"
    try:
        main(["collect", "--sandbox", "-o", str(path), "-q"])
    except SystemExit as exit_:
        assert not exit_.code
    document = json.loads(path.read_text())
    region = document["accounts"][0]["regions"][0]
    instance = next(
        i
        for r in region["Reservations"]
        for i in r["Instances"]
        if len(i["NetworkInterfaces"]) > 1 and "eniplan:ignore" not in str(i.get("Tags"))
    )
    instance["Tags"] = [{"Key": "Name", "Value": NAME}]
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
@pytest.mark.parametrize(
    "argv",
    [
        ["inspect"],
        ["plan"],
        ["audit", "--fail-on", "never"],
        ["audit", "--fail-on", "never", "--format", "markdown"],
        ["audit", "--fail-on", "never", "--format", "github"],
        ["audit", "--fail-on", "never", "--format", "junit"],
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else value,
)
def test_a_stdout_that_is_not_utf8(encoding: str, argv: list[str], snapshot: Path) -> None:
    # Before: UnicodeEncodeError, exit 3, after part of the report was written.
    env = {**os.environ, "PYTHONIOENCODING": encoding, "COLUMNS": "300"}
    result = subprocess.run(
        [sys.executable, "-m", "eniplan", *argv, "--inventory", str(snapshot)],
        capture_output=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode(encoding, "replace")
    assert result.stderr == b""
    if encoding == "ascii" and argv[-1] in ("markdown", "github", "junit"):
        # click.echo takes an ASCII stream for a misconfigured one and writes UTF-8
        out = result.stdout.decode("utf-8")
        assert NAME in out or json.dumps(NAME)[1:-1] in out
        return
    out = result.stdout.decode(encoding)  # what the stream holds is in its encoding
    assert "\\U0001f600" in out  # the emoji, as an escape
    assert ("caf\u00e9" if encoding == "cp1252" else "caf\\xe9") in out
