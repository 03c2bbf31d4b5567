"""The benchmarks' quick modes, run as the user would run them, and the figures they print."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers import REPO

BENCHMARKS = REPO / "benchmarks"


def run_quick(name: str) -> subprocess.CompletedProcess[str]:
    """`python benchmarks/NAME --quick` in a child process (the collect benchmark runs a
    moto server and patches moto process-wide)."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def figure(pattern: str, output: str) -> float:
    match = re.search(pattern, output, re.MULTILINE)
    assert match, output
    return float(match.group(1))
