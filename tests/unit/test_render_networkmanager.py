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

import configparser
import dataclasses
import shutil
import subprocess
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from netns import Namespace, expected_rules, link_groups, requires_netns, rules_state

from eniplan.errors import InputError
from eniplan.plan import EniPlan, InstancePlan
from eniplan.render import networkmanager
from eniplan.render.base import Rendering, RenderOptions, marker

MANAGED = ["centos7-same-24", "rhel-same-20", "web-balanced", "app-check-disabled", "multi-subnet"]
# keys `nmcli connection add` writes that eniplan leaves to NetworkManager's defaults
NMCLI_DEFAULT_KEYS = {("ipv6", "addr-gen-mode")}
NMCLI_DEFAULT_SECTIONS = {"proxy"}


@cache
def nmcli_offline() -> bool:
    if shutil.which("nmcli") is None:
        return False
    probe = subprocess.run(
        ["nmcli", "--offline", "connection", "add", "type", "ethernet", "con-name", "probe"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0 and "[connection]" in probe.stdout


requires_nmcli = pytest.mark.skipif(
    not nmcli_offline(), reason="needs nmcli --offline (NetworkManager 1.42 or newer)"
)


def nmcli(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["nmcli", "--offline", *args], input=stdin, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"nmcli {' '.join(args)}: {result.stderr}"
    return result.stdout


def parse(keyfile: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(keyfile)
    return {section: dict(parser[section]) for section in parser.sections()}


def rendering(plan: InstancePlan) -> Rendering:
    return networkmanager.render(plan, RenderOptions())


def contents(plan: InstancePlan) -> dict[str, str]:
    files = {}
    for file in rendering(plan).files:
        assert isinstance(file.content, str)
        files[file.path] = file.content
    return files


def keyfile(plan: InstancePlan, eni: EniPlan) -> str:
    return contents(plan)[
        f"/etc/NetworkManager/system-connections/eniplan-{eni.table}.nmconnection"
    ]


def nmcli_add_args(plan: InstancePlan, eni: EniPlan) -> list[str]:
    """The design of eniplan/render/networkmanager.py (its docstring), spelled for nmcli."""
    table = eni.table
    profile_uuid = uuid.uuid5(
        networkmanager.PROFILE_UUID_NAMESPACE, f"{plan.instance_id}/{eni.eni_id}"
    )
    args = [
        "connection", "add", "type", "ethernet", "con-name", f"eniplan-{table}",
        "connection.uuid", str(profile_uuid),
        "connection.autoconnect-priority", "200",
        "ethernet.mac-address", eni.mac,
        "ipv4.method", "auto" if eni.primary_ipv4 else "disabled",
    ]  # fmt: skip
    if not eni.is_primary:
        args += ["ipv4.never-default", "yes"]
    metric = str(100 * (eni.device_index + 1) + eni.network_card_index)
    args += ["ipv4.route-metric", metric, "ipv6.route-metric", metric]
    secondaries = [str(a) for a in eni.ipv4_addresses if a.ip != eni.primary_ipv4]
    if secondaries:
        args += ["ipv4.addresses", ", ".join(secondaries)]
    routes4 = []
    for route in (r for r in eni.routes if r.family == 4):
        words = [str(route.destination)]
        if route.gateway:
            words.append(str(route.gateway))
        words.append(f"table={table}")
        if route.source and route.source != eni.primary_ipv4:  # DHCP's: no src= (docstring)
            words.append(f"src={route.source}")
        routes4.append(" ".join(words))
    if routes4:
        args += ["ipv4.routes", ", ".join(routes4)]
    rules4 = [
        f"priority {r.priority} from {r.source} table {r.table}" for r in eni.rules if r.family == 4
    ]
    if rules4:
        args += ["ipv4.routing-rules", ", ".join(rules4)]
    args += ["ipv6.method", "auto"]
    if not eni.is_primary:
        args += ["ipv6.route-table", str(table)]
    if eni.ipv6_addresses:
        args += ["ipv6.addresses", ", ".join(str(a) for a in eni.ipv6_addresses)]
    routes6 = [
        f"{r.destination} table={table}" for r in eni.routes if r.family == 6 and not r.via_ra
    ]
    if not eni.is_primary:
        routes6 += [f"{net} table=254" for net in eni.ipv6_subnets]
    if routes6:
        args += ["ipv6.routes", ", ".join(routes6)]
    rules6 = [
        f"priority {r.priority} from {r.source} table {r.table}" for r in eni.rules if r.family == 6
    ]
    if rules6:
        args += ["ipv6.routing-rules", ", ".join(rules6)]
    return args


def all_enis(plans: dict[str, InstancePlan]) -> list[tuple[InstancePlan, EniPlan]]:
    return [(plans[name], eni) for name in MANAGED for eni in plans[name].enis]


# --- nmcli --------------------------------------------------------------------------------


@requires_nmcli
@pytest.mark.parametrize("name", MANAGED)
def test_keyfiles_equal_what_nmcli_builds_from_the_same_settings(
    sandbox_plans: dict[str, InstancePlan], name: str
) -> None:
    plan = sandbox_plans[name]
    for eni in plan.enis:
        ours = parse(keyfile(plan, eni))
        theirs = parse(nmcli(*nmcli_add_args(plan, eni)))
        for section, keys in ours.items():
            for key, value in keys.items():
                assert theirs.get(section, {}).get(key) == value, (eni.eni_id, section, key)
        extra = {
            (section, key)
            for section, keys in theirs.items()
            for key in keys
            if key not in ours.get(section, {})
        }
        assert extra <= NMCLI_DEFAULT_KEYS, extra
        assert set(theirs) - set(ours) <= NMCLI_DEFAULT_SECTIONS


@requires_nmcli
@pytest.mark.parametrize("name", MANAGED)
def test_networkmanagers_keyfile_reader_keeps_every_key(
    sandbox_plans: dict[str, InstancePlan], name: str
) -> None:
    plan = sandbox_plans[name]
    for eni in plan.enis:
        ours = keyfile(plan, eni)
        read_back = nmcli(
            "connection", "modify", "connection.id", f"eniplan-{eni.table}", stdin=ours
        )
        theirs = parse(read_back)
        theirs.pop("proxy", None)
        assert theirs == parse(ours)


@requires_nmcli
def test_networkmanager_cannot_hold_the_guard_rule() -> None:
    """Why the dispatcher script exists: nmcli refuses suppress_ifgroup, and the keyfile
    reader drops such a rule without a word."""
    refused = subprocess.run(
        ["nmcli", "--offline", "connection", "add", "type", "ethernet", "con-name", "x",
         "ipv4.routing-rules", "priority 9999 from 0.0.0.0/0 table 254 suppress_ifgroup 10000"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "suppress_ifgroup" in refused.stderr
    with_guard = (
        "[connection]\nid=x\ntype=ethernet\n[ipv4]\nmethod=auto\n"
        "routing-rule1=priority 9999 from 0.0.0.0/0 table 254 suppress_ifgroup 10000\n"
    )
    read_back = parse(nmcli("connection", "modify", "connection.id", "x", stdin=with_guard))
    assert "routing-rule1" not in read_back["ipv4"]


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


# --- the guard's dispatcher script ---------------------------------------------------------


def dispatcher(plan: InstancePlan) -> str:
    files = contents(plan)
    return files["/etc/NetworkManager/dispatcher.d/60-eniplan-guard"]


def posix_shell() -> str:
    return shutil.which("dash") or "sh"


def test_dispatcher_is_posix_sh(sandbox_plans: dict[str, InstancePlan], tmp_path: Path) -> None:
    script = dispatcher(sandbox_plans["multi-subnet"])
    assert script.startswith("#!/bin/sh\n")
    path = tmp_path / "60-eniplan-guard"
    path.write_text(script)
    subprocess.run([posix_shell(), "-n", str(path)], check=True)


@requires_netns
@pytest.mark.netns
@pytest.mark.parametrize("name", ["centos7-same-24", "multi-subnet"])
def test_dispatcher_adds_the_guard_once_on_the_real_kernel(
    sandbox_plans: dict[str, InstancePlan], name: str, tmp_path: Path
) -> None:
    plan = sandbox_plans[name]
    assert plan.guard is not None
    path = tmp_path / "60-eniplan-guard"
    path.write_text(dispatcher(plan))
    guard = {row for row in expected_rules(plan) if row[3] is not None}
    with Namespace() as ns:
        ns.add_enis(plan)
        names = ns.link_names_by_mac()

        def dispatch(ifname: str, action: str, connection_uuid: str) -> None:
            ns.run("env", f"CONNECTION_UUID={connection_uuid}", posix_shell(), str(path),
                   ifname, action)  # fmt: skip

        first = plan.enis[0]
        # not an eniplan profile, or not "up": nothing happens
        dispatch(names[first.mac], "up", "00000000-0000-4000-8000-000000000000")
        dispatch(names[first.mac], "down", networkmanager.profile_uuid(plan, first))
        assert rules_state(ns, plan) == set()
        assert all(link_groups(ns)[eni.mac] == 0 for eni in plan.enis)
        for _ in range(2):  # the second round finds the guard and adds nothing
            for eni in plan.enis:
                dispatch(names[eni.mac], "up", networkmanager.profile_uuid(plan, eni))
            assert rules_state(ns, plan) == guard
        groups = link_groups(ns)
        assert all(groups[eni.mac] == plan.guard.group for eni in plan.enis)
