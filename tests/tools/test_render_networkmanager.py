"""The NetworkManager target against the real NetworkManager (nmcli --offline): its keyfiles
are what nmcli builds from the same settings, its keyfile reader keeps every key, and the
guard's dispatcher is POSIX sh."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from functools import cache
from pathlib import Path

import pytest

from eniplan.plan import EniPlan, InstancePlan
from eniplan.render import networkmanager
from tests.helpers.networkmanager import dispatcher, keyfile, parse, posix_shell

NMCLI_DEFAULT_KEYS = {("ipv6", "addr-gen-mode")}
NMCLI_DEFAULT_SECTIONS = {"proxy"}

MANAGED = ["centos7-same-24", "rhel-same-20", "web-balanced", "app-check-disabled", "multi-subnet"]


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


# keys `nmcli connection add` writes that eniplan leaves to NetworkManager's defaults


def nmcli(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["nmcli", "--offline", *args], input=stdin, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"nmcli {' '.join(args)}: {result.stderr}"
    return result.stdout


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


def test_dispatcher_is_posix_sh(sandbox_plans: dict[str, InstancePlan], tmp_path: Path) -> None:
    script = dispatcher(sandbox_plans["multi-subnet"])
    assert script.startswith("#!/bin/sh\n")
    path = tmp_path / "60-eniplan-guard"
    path.write_text(script)
    subprocess.run([posix_shell(), "-n", str(path)], check=True)
