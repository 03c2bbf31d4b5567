"""NetworkManager keyfiles, checked by NetworkManager itself.

- `nmcli --offline connection add` builds a profile from the same settings, given the way a
  person would type them (addresses with /32, MAC in lowercase, route attributes in any
  order); nmcli prints the keyfile it would write, and every key eniplan sets must have
  the same value there.
- eniplan's keyfile is fed back through NetworkManager's keyfile reader
  (`nmcli --offline connection modify` reads a keyfile on stdin) and must come back
  unchanged: the reader silently drops what it does not understand, so a dropped route or
  rule would show.
- The guard's dispatcher script runs on the real kernel in a network namespace.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from eniplan.errors import InputError
from eniplan.plan import EniPlan, InstancePlan
from eniplan.render import networkmanager
from eniplan.render.base import RenderOptions, marker
from tests.helpers.networkmanager import contents, keyfile, parse, rendering

MANAGED = ["centos7-same-24", "rhel-same-20", "web-balanced", "app-check-disabled", "multi-subnet"]


def all_enis(plans: dict[str, InstancePlan]) -> list[tuple[InstancePlan, EniPlan]]:
    return [(plans[name], eni) for name in MANAGED for eni in plans[name].enis]


# --- the keyfiles against the plan ----------------------------------------------------------


def test_files_paths_and_modes(sandbox_plans: dict[str, InstancePlan]) -> None:
    for name in MANAGED:
        plan = sandbox_plans[name]
        files = {file.path: file.mode for file in rendering(plan).files}
        profiles = {
            f"/etc/NetworkManager/system-connections/eniplan-{eni.table}.nmconnection": 0o600
            for eni in plan.enis
        }
        assert files == {
            **profiles,
            "/etc/udev/rules.d/61-eniplan-netdev-group.rules": 0o644,
            "/etc/NetworkManager/dispatcher.d/60-eniplan-guard": 0o755,
        }


def test_profiles_match_by_mac_and_win_autoconnect(sandbox_plans: dict[str, InstancePlan]) -> None:
    uuids = set()
    for plan, eni in all_enis(sandbox_plans):
        content = keyfile(plan, eni)
        assert content.splitlines()[0] == marker(plan)
        settings = parse(content)
        connection = settings["connection"]
        assert connection["id"] == f"eniplan-{eni.table}"
        assert connection["type"] == "ethernet"
        assert int(connection["autoconnect-priority"]) > 120  # cloud-init's profiles
        assert "interface-name" not in connection
        assert settings["ethernet"] == {"mac-address": eni.mac.upper()}
        profile_uuid = uuid.UUID(connection["uuid"])
        assert profile_uuid.version == 5
        uuids.add(profile_uuid)
        assert settings["ipv4"]["method"] == "auto"
        assert ("never-default" in settings["ipv4"]) == (not eni.is_primary)
        assert "route-table" not in settings["ipv4"]  # would move DHCP's routes out of main
    assert len(uuids) == len(all_enis(sandbox_plans))


def _keyfile_routes(settings: dict[str, str], default_table: int) -> set[tuple[int, str, Any, Any]]:
    routes = set()
    for key, value in settings.items():
        if key.startswith("route") and key[5:].isdigit():
            destination, _, gateway = value.partition(",")
            options = dict(
                option.split("=")
                for option in settings.get(f"{key}_options", "").split(",")
                if option
            )
            table = int(options.get("table", default_table))
            routes.add((table, destination, gateway or None, options.get("src")))
    return routes


@pytest.mark.parametrize("name", MANAGED)
def test_keyfile_routes_and_rules_are_the_plans(
    sandbox_plans: dict[str, InstancePlan], name: str
) -> None:
    plan = sandbox_plans[name]
    for eni in plan.enis:
        settings = parse(keyfile(plan, eni))
        want = {
            (r.table, str(r.destination), str(r.gateway) if r.gateway else None,
             str(r.source) if r.source and r.source != eni.primary_ipv4 else None)
            for r in eni.routes
            if not r.via_ra
        }  # fmt: skip
        v6_table = int(settings["ipv6"].get("route-table", 254))
        got = _keyfile_routes(settings["ipv4"], 254) | _keyfile_routes(settings["ipv6"], v6_table)
        main_copies = {(254, str(net), None, None) for net in eni.ipv6_subnets}
        assert got - want == (set() if eni.is_primary else main_copies)
        assert want <= got
        if not eni.is_primary:
            # the RA default route (via_ra) lands in the ENI's table through route-table
            assert v6_table == eni.table
        rules = {
            value
            for family in ("ipv4", "ipv6")
            for key, value in settings[family].items()
            if key.startswith("routing-rule")
        }
        assert rules == {
            f"priority {r.priority} from "
            f"{r.source.network_address if r.source.prefixlen in (32, 128) else r.source} "
            f"table {r.table}"
            for r in eni.rules
        }


def test_route_metrics_are_fixed_distinct_and_the_primary_first(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    # NetworkManager picks a new metric at each activation when the profile sets none
    for plan in sandbox_plans.values():
        metrics = []
        for eni in plan.enis:
            settings = parse(keyfile(plan, eni))
            assert settings["ipv4"]["route-metric"] == settings["ipv6"]["route-metric"]
            metrics.append(int(settings["ipv4"]["route-metric"]))
            if eni.is_primary:
                assert metrics[-1] == 100
        assert len(set(metrics)) == len(metrics)


def test_the_same_plan_renders_the_same_files(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["multi-subnet"]
    assert rendering(plan) == rendering(plan)


def test_udev_rule_sets_the_group_of_every_eni_by_mac(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = sandbox_plans["multi-subnet"]
    assert plan.guard is not None
    files = contents(plan)
    lines = [
        line
        for line in files["/etc/udev/rules.d/61-eniplan-netdev-group.rules"].splitlines()
        if line and not line.startswith("#")
    ]
    assert lines == [
        f'SUBSYSTEM=="net", ACTION!="remove", ATTR{{address}}=="{eni.mac}", '
        f'ATTR{{netdev_group}}="{plan.guard.group}"'
        for eni in plan.enis
    ]


def test_activation_reloads_then_brings_the_primary_up_last(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = sandbox_plans["centos7-same-24"]
    activate = list(rendering(plan).activate)
    assert activate.index("nmcli connection reload") < activate.index(
        "nmcli connection up eniplan-10001"
    )
    assert activate[-1] == "nmcli connection up eniplan-10000"  # the primary ENI


def test_notes_say_what_networkmanager_cannot_express(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    notes = " ".join(rendering(sandbox_plans["multi-subnet"]).notes)
    assert "suppress_ifgroup" in notes
    assert "netdev" in notes
    assert "ipv4.route-table" in notes
    assert "ipv6.route-table" in notes


def test_without_guard_no_udev_rule_or_dispatcher(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = dataclasses.replace(sandbox_plans["rhel-same-20"], guard=None)
    paths = [file.path for file in rendering(plan).files]
    assert all(path.endswith(".nmconnection") for path in paths)
    assert not any(command.startswith("udevadm") for command in rendering(plan).activate)


def test_only_static_mode(sandbox_plans: dict[str, InstancePlan]) -> None:
    with pytest.raises(InputError, match="static"):
        networkmanager.render(sandbox_plans["rhel-same-20"], RenderOptions(mode="dynamic"))


def test_a_value_with_a_newline_never_reaches_a_file(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = sandbox_plans["rhel-same-20"]
    bad = dataclasses.replace(plan.enis[1], mac="02:00:00:c9:6c:8b\n[ipv4]")
    with pytest.raises(ValueError):
        networkmanager.render(dataclasses.replace(plan, enis=(plan.enis[0], bad)), RenderOptions())
