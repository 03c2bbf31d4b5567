"""The netplan target's YAML itself: it round-trips to the structure built, matches every
managed ENI by MAC, and drop-ins carry what netplan cannot say."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from eniplan.errors import InputError
from eniplan.plan import InstancePlan
from eniplan.render import netplan, render
from eniplan.render.base import RenderOptions
from tests.helpers.networkd import (
    managed,
    parse_unit,
    text,
    variants,
)


def test_dynamic_mode_is_refused(sandbox_plans: dict[str, InstancePlan]) -> None:
    with pytest.raises(InputError, match="--mode dynamic"):
        render("netplan", sandbox_plans["web-balanced"], RenderOptions(mode="dynamic"))


def test_rendering_is_pure_and_deterministic(sandbox_plans: dict[str, InstancePlan]) -> None:
    for plan in managed(sandbox_plans):
        assert render("netplan", plan, RenderOptions()) == render("netplan", plan, RenderOptions())


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def test_yaml_round_trips_to_the_structure_built(sandbox_plans: dict[str, InstancePlan]) -> None:
    for plan in variants(sandbox_plans):
        rendering = render("netplan", plan, RenderOptions())
        yaml_file = rendering.files[0]
        assert yaml_file.path == "/etc/netplan/60-eniplan.yaml"
        assert yaml_file.mode == 0o600
        assert text(yaml_file).startswith("# eniplan ")
        loaded = yaml.safe_load(text(yaml_file))
        assert loaded == netplan.document(plan)
        assert all(type(leaf) in (str, int, bool) for leaf in _leaves(loaded))


def test_yaml_round_trips_macs_and_addresses_that_look_like_numbers(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    """A MAC of decimal digits is a base-60 integer in YAML 1.1: it must stay a string."""
    plan = sandbox_plans["web-balanced"]
    enis = (
        dataclasses.replace(plan.enis[0], mac="10:20:30:40:50:59"),
        dataclasses.replace(plan.enis[1], mac="00:00:00:00:00:01"),
    )
    plan = dataclasses.replace(plan, enis=enis)
    content = text(render("netplan", plan, RenderOptions()).files[0])
    ethernets = yaml.safe_load(content)["network"]["ethernets"]
    assert [e["match"]["macaddress"] for e in ethernets.values()] == [
        "10:20:30:40:50:59",
        "00:00:00:00:00:01",
    ]


def test_every_managed_eni_is_matched_by_mac(sandbox_plans: dict[str, InstancePlan]) -> None:
    for plan in managed(sandbox_plans):
        ethernets = netplan.document(plan)["network"]["ethernets"]
        assert set(ethernets) == {f"0-eniplan-{eni.table}" for eni in plan.enis}
        for eni in plan.enis:
            entry = ethernets[f"0-eniplan-{eni.table}"]
            assert entry["match"] == {"macaddress": eni.mac}
            assert "set-name" not in entry and entry["renderer"] == "networkd"
            if eni.is_primary:
                assert entry["dhcp4"] is True and "dhcp4-overrides" not in entry
            else:
                assert entry["dhcp4-overrides"] == {"use-routes": False, "use-hostname": False}


def test_dropins_carry_what_netplan_cannot_say(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["multi-subnet"]  # RHEL 9 (systemd 252): guard on; IPv6 on eth1
    rendering = render("netplan", plan, RenderOptions())
    dropins = {file.path: parse_unit(text(file)) for file in rendering.files[1:]}
    primary, secondary = sorted(plan.enis, key=lambda eni: eni.table)
    primary_dropin = dropins[netplan.dropin_path(primary)]
    secondary_dropin = dropins[netplan.dropin_path(secondary)]
    assert [name for name, _ in primary_dropin] == ["Link", "RoutingPolicyRule"]
    assert [name for name, _ in secondary_dropin] == ["Link", "IPv6AcceptRA"]
    assert dict(secondary_dropin[1][1]) == {"RouteTable": str(secondary.table)}
    assert dict(primary_dropin[1][1]) == {
        "Table": "main",
        "Priority": "9999",
        "SuppressInterfaceGroup": "10000",
        "Family": "both",
    }
    assert all(file.mode == 0o644 for file in rendering.files[1:])
    assert any("cannot express" in note for note in rendering.notes)
    assert rendering.activate == ("netplan apply",)


def test_no_dropins_without_guard_or_ipv6(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["centos7-same-24"]  # systemd 219: no guard; IPv4 only
    rendering = render("netplan", plan, RenderOptions())
    assert [file.path for file in rendering.files] == ["/etc/netplan/60-eniplan.yaml"]
    assert any("guard left out" in note for note in rendering.notes)
