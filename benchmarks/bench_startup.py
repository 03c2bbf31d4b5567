"""What a command costs before it does anything: whole processes against bare Python.

A pre-commit hook or a CI step starts eniplan on every call, so each run here is a fresh
process, timed from spawn to exit; the runs of every command are interleaved with those
of its baseline (so load on the machine falls on both alike) and each ratio is of medians:

  eniplan --version, eniplan --help   /  python -c pass                      (target <= 5)
  eniplan check-plan PLAN --format json  /  python -c 'json.load(PLAN)'      (target <= 6)

PLAN is tests/fixtures/plans/headline.json, the plan of a small configuration that
Terraform 1.11.4 and hashicorp/aws 5.100.0 wrote (recorded: tests/helpers/realplan.py):
a pull request's plan, where start-up is the cost.

    python benchmarks/bench_startup.py            # 21 runs of each
    python benchmarks/bench_startup.py --quick    # 5 runs of each
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"--version": 5.0, "--help": 5.0, "check-plan": 6.0}
PLAN = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "plans" / "headline.json"


def eniplan_command() -> list[str]:
    """The installed console script beside this Python, else `python -m eniplan`."""
    script = Path(sys.executable).parent / "eniplan"
    return [str(script)] if script.exists() else [sys.executable, "-m", "eniplan"]


def wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False
    )
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):  # check-plan exits 1 on findings
        raise SystemExit(f"{argv}: exit {result.returncode}: {result.stderr.decode()}")
    return elapsed


def measure(
    pairs: dict[str, tuple[list[str], list[str]]], runs: int, env: dict[str, str]
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, (command, baseline) in pairs.items():
            times.setdefault(name, []).append(wall(command, env))
            times.setdefault(f"{name} baseline", []).append(wall(baseline, env))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="runs of each command (default 21, --quick 5)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 21)
    eniplan = eniplan_command()
    python = [sys.executable]
    load = f"import json\nwith open({str(PLAN)!r}, 'rb') as f: json.load(f)"
    pairs = {
        "--version": ([*eniplan, "--version"], [*python, "-c", "pass"]),
        "--help": ([*eniplan, "--help"], [*python, "-c", "pass"]),
        "check-plan": (
            [*eniplan, "check-plan", str(PLAN), "--format", "json"],
            [*python, "-c", load],
        ),
    }
    # Warm the page cache and the bytecode: with PYTHONDONTWRITEBYTECODE set no .pyc would
    # be written, and every run would compile eniplan from source (check-plan: 50 ms more of
    # CPU), which an installed copy never does (pip compiles it). The bytecode goes to a
    # directory of the run's own (PYTHONPYCACHEPREFIX), for eniplan and the baselines alike,
    # not beside the sources; timed: the environment as is, reading it from there.
    with tempfile.TemporaryDirectory(prefix="eniplan-bench-pycache-") as cache:
        timed = {**os.environ, "PYTHONPYCACHEPREFIX": cache}
        writes_bytecode = {k: v for k, v in timed.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for command, bare in pairs.values():
            wall(command, writes_bytecode)
            wall(bare, writes_bytecode)
        times = measure(pairs, runs, timed)
    size = PLAN.stat().st_size
    for name, target in TARGETS.items():
        own, base = statistics.median(times[name]), statistics.median(times[f"{name} baseline"])
        ratio = own / base
        baseline = "python -c pass" if name != "check-plan" else "python -c json.load(plan)"
        print(
            f"time ratio ({name} / {baseline}): {ratio:.2f} (target <= {target:g}; "
            f"medians {own * 1000:.0f} ms / {base * 1000:.0f} ms)"
        )
    print()
    print(f"  {runs} interleaved runs of each; plan {size / 1000:.1f} KB; {' '.join(eniplan)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
