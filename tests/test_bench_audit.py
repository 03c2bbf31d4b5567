"""The audit benchmark runs, finds what its generated account holds, and prints its ratios."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_audit.py"


def test_quick_audit_benchmark() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # exit 1 if the audit's findings differ from the generated mix
    assert result.returncode == 0, result.stdout + result.stderr
    audit_ratio = re.search(
        r"^time ratio \(audit / load\+parse\): (\d+\.\d+)$", result.stdout, re.M
    )
    total = re.search(r"^time ratio \(load\+parse \+ audit .*\): (\d+\.\d+)", result.stdout, re.M)
    assert audit_ratio and total, result.stdout
    assert float(total.group(1)) > 1.0
    assert "findings: ENI001 250, ENI002 250, ENI003 50, ENI004 250" in result.stdout
