"""The benchmarks' quick modes: each still runs, prints its figures, and its deterministic
figures (request counts, findings, peak memory) hold. Time figures are the benchmarks'
business (`make bench`): here they are only required to be printed."""

from __future__ import annotations

import re

from tests.helpers.benchmarks import figure, run_quick


def test_collect_makes_the_minimum_number_of_requests() -> None:
    result = run_quick("bench_collect.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert figure(r"^request ratio .*: (\S+)$", result.stdout) == 1.0, result.stdout
    assert re.search(r"^time ratio \(collect \+ snapshot \+ inventory", result.stdout, re.M)


def test_audit_finds_the_generated_mix() -> None:
    result = run_quick("bench_audit.py")
    # exit 1 if the audit's findings differ from the generated mix
    assert result.returncode == 0, result.stdout + result.stderr
    assert "findings: ENI001 250, ENI002 250, ENI003 50, ENI004 250" in result.stdout
    for files in ("snapshot", "AWS CLI dumps"):
        pattern = rf"^time ratio \(eniplan audit / json.load, whole process, {files}\): (\S+) "
        figure(pattern, result.stdout)  # target 1.5 at 20,000
    figure(r"^    in process: decode / json.load (\S+) ", result.stdout)


def test_startup_is_a_few_times_bare_python() -> None:
    result = run_quick("bench_startup.py")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("--version", "--help", "check-plan"):
        figure(rf"^time ratio \({name} / .*\): (\S+) ", result.stdout)  # targets 5, 5 and 6


def test_checkplan_stays_within_its_memory_target() -> None:
    result = run_quick("bench_checkplan.py")
    assert re.search(r"^plan: 2000 resources, .*, 500 findings$", result.stdout, re.M)
    # peak memory is deterministic: the full target holds in quick mode too
    assert figure(r"^memory ratio .*: (\d+\.\d+) ", result.stdout) <= 4.0, result.stdout
    figure(
        r"^time ratio .*: (\d+\.\d+) ", result.stdout
    )  # target 2, for the full plan (fixed costs weigh more on 2,000)


def test_an_organization_is_read_with_the_minimum_number_of_requests() -> None:
    result = run_quick("bench_org.py")
    # exit 1 if a run missed an account, an instance, or made other requests than the bound
    assert result.returncode == 0, result.stdout + result.stderr
    assert figure(r"^request ratio .*: (\S+)$", result.stdout) == 1.0, result.stdout
    for workers in (1, 8, 32):
        assert re.search(rf"^time ratio \(eniplan --workers {workers} / bare", result.stdout, re.M)
