"""`eniplan demo` as root: the whole story, its lab section proved in network namespaces."""

from __future__ import annotations

import pytest

from tests.helpers.cli_runner import run


def test_demo_tells_the_story(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["demo"], capsys)
    assert code == 0, err
    for name in (
        "centos7-same-24",
        "rhel-same-20",
        "web-balanced",
        "al2023-two-enis",
        "nat-instance",
        "app-check-disabled",
        "multi-subnet",
        "bastion",
    ):
        assert name in out
    assert "10.0.0.254" in out and "172.31.15.216" in out  # the seed articles' addresses
    assert "OFF" in out  # the disabled source/dest checks are visible
    # the scenario order: the classic case first
    assert out.index("centos7-same-24") < out.index("rhel-same-20") < out.index("bastion")
    # the lab's proof is of an instance whose OS runs the script (not CentOS 7's 3.10 kernel)
    assert "eniplan lab (web-balanced)" in out
