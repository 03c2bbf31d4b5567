"""The ifcfg target's files as initscripts read them: sourced by a real shell."""

from __future__ import annotations

from pathlib import Path

import pytest

from eniplan.plan import InstancePlan, name_hint
from tests.helpers.ifcfg import source, write_files

MANAGED = ["centos7-same-24", "rhel-same-20", "web-balanced", "app-check-disabled", "multi-subnet"]


@pytest.mark.parametrize("name", MANAGED)
def test_ifcfg_files_as_initscripts_read_them(
    sandbox_plans: dict[str, InstancePlan], name: str, tmp_path: Path
) -> None:
    plan = sandbox_plans[name]
    scripts = write_files(plan, tmp_path)
    for eni in plan.enis:
        dev = name_hint(eni)
        if eni.is_primary:
            assert not (scripts / f"ifcfg-{dev}").exists()
        else:
            settings = source(
                scripts / f"ifcfg-{dev}",
                "DEVICE", "HWADDR", "BOOTPROTO", "DEFROUTE", "ONBOOT", "IPV6INIT", "IPV6ADDR",
                "IPV6ADDR_SECONDARIES",
            )  # fmt: skip
            assert settings["DEVICE"] == dev
            assert settings["HWADDR"] == eni.mac
            assert settings["BOOTPROTO"] == "dhcp"
            assert settings["DEFROUTE"] == "no"
            assert settings["ONBOOT"] == "yes"
            addresses6 = [str(a) for a in eni.ipv6_addresses]
            assert settings["IPV6INIT"] == ("yes" if addresses6 else "no")
            got6 = [settings["IPV6ADDR"], *settings["IPV6ADDR_SECONDARIES"].split()]
            assert [a for a in got6 if a] == addresses6
        aliases = sorted(scripts.glob(f"ifcfg-{dev}:*"))
        got = []
        for n, alias in enumerate(aliases, 1):
            settings = source(alias, "DEVICE", "IPADDR", "PREFIX", "NO_ALIASROUTING")
            assert settings["DEVICE"] == f"{dev}:{n}"
            assert settings["NO_ALIASROUTING"] == "yes"
            got.append(f"{settings['IPADDR']}/{settings['PREFIX']}")
        assert got == [str(a) for a in eni.ipv4_addresses if a.ip != eni.primary_ipv4]
