"""The networkd target against the installed systemd: every key it writes is documented by its
man page, and its version supports the guard."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from eniplan.plan import InstancePlan
from eniplan.render import networkd, render
from eniplan.render.base import RenderOptions
from tests.helpers.networkd import DEBIAN_12, managed, parse_unit, text, with_os

MAN_PAGE = Path("/usr/share/man/man5/systemd.network.5.gz")


@cache
def documented_keys() -> dict[str, frozenset[str]]:
    """{SECTION (upper case): keys} from the roff source of systemd.network(5): a key is
    defined by `.PP`, one or more `\\fIKey=\\fR` lines, then `.RS 4`."""
    roff = gzip.decompress(MAN_PAGE.read_bytes()).decode()
    keys: dict[str, set[str]] = {}
    section = ""
    pending: list[str] | None = None
    for line in roff.splitlines():
        heading = re.fullmatch(r'\.SH "\[(.+)\] SECTION OPTIONS"', line)
        if heading:
            section = heading.group(1).replace("\\-", "-")
            keys.setdefault(section, set())
            pending = None
        elif line == ".PP":
            pending = []
        elif pending is not None and line.startswith(".RS"):
            if section:
                keys[section].update(pending)
            pending = None
        elif pending is not None:
            pending += re.findall(r"\\fI([A-Za-z0-9]+)=", line)
    return {name: frozenset(found) for name, found in keys.items()}


def test_every_key_is_documented_by_the_installed_systemd(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    if not MAN_PAGE.exists():
        pytest.skip(f"{MAN_PAGE} is not installed")
    documented = documented_keys()
    assert "SuppressInterfaceGroup" in documented["ROUTINGPOLICYRULE"]
    assert "RouteTable" in documented["IPV6ACCEPTRA"]
    assert "Group" in documented["LINK"]
    seen: set[tuple[str, str]] = set()
    for plan in managed(sandbox_plans):
        for variant in (plan, with_os(plan, DEBIAN_12)):
            for file in render("networkd", variant, RenderOptions()).files:
                for section, settings in parse_unit(text(file)):
                    for key, _ in settings:
                        seen.add((section, key))
                        assert key in documented[section.upper()], (section, key)
    # every section and key the renderer can write was exercised
    assert {section for section, _ in seen} == {
        "Match", "Link", "Network", "DHCPv4", "IPv6AcceptRA", "RoutingPolicyRule", "Route"
    }  # fmt: skip
    assert ("RoutingPolicyRule", "SuppressInterfaceGroup") in seen


def test_systemd_version_of_the_test_machine_supports_the_guard() -> None:
    """The keys above were checked against this systemd; it must be one with the guard."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        pytest.skip("systemctl is not installed")
    first = subprocess.run([systemctl, "--version"], capture_output=True, text=True).stdout
    version = int(first.split()[1])
    assert version >= networkd.SYSTEMD_FOR_GUARD
