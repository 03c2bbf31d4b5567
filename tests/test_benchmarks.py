"""The collect benchmark still runs, and eniplan still makes no more requests than needed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_collect.py"


def test_quick_benchmark_makes_the_minimum_number_of_requests() -> None:
    # A subprocess: the benchmark runs a moto server and patches moto process-wide.
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ratio = re.search(r"^request ratio .*: (\S+)$", result.stdout, re.MULTILINE)
    assert ratio, result.stdout
    assert ratio.group(1) == "1.00", result.stdout
    assert re.search(r"^time ratio \(collect \+ snapshot \+ inventory", result.stdout, re.M)
