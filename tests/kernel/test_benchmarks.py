"""The agent benchmark's quick mode in network namespaces: its request counts are deterministic."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers.benchmarks import figure, run_quick


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_the_agent_benchmark_counts_its_requests() -> None:
    """Request counts are deterministic: 4 ENIs, so a boot run makes 4 (its ENIs from
    cloud-init's crawl), 4+10N = 44 without it, the coldplug replay none, a reconcile
    2+4N = 18; every run at most 20 a second; the times are the full benchmark's."""
    result = run_quick("bench_agent.py")
    assert "Traceback" not in result.stderr and result.returncode in (0, 1), result.stderr
    out = result.stdout
    assert figure(r"^boot run requests: (\d+) ", out) == 4, out
    assert figure(r"^boot run from IMDS \(no crawl\): \S+ s, (\d+) requests", out) == 44, out
    assert figure(r"^boot run from IMDS .*, peak (\d+) requests/s", out) <= 20, out
    assert figure(r"^boot run, .*, peak (\d+) requests/s", out) <= 20, out
    assert figure(r"^boot \+ coldplug replay: \d+ requests = (\S+) x", out) == 1.0, out
    assert figure(r"^reconcile, nothing new: (\d+) requests", out) == 18, out
    assert figure(r"^late ENI .*, peak (\d+) requests/s", out) <= 20, out
    assert figure(r"^CPU time .*: boot run (\d+\.\d) ms, ip -batch bound", out) > 0, out
