"""The networkd target: its .network files express the plan, and no value can break out of its
line."""

from __future__ import annotations

import dataclasses
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Network,
    ip_address,
)
from pathlib import Path
from typing import Any

import pytest

from eniplan.errors import InputError
from eniplan.ownership import OsGuess
from eniplan.plan import InstancePlan
from eniplan.render import networkd, render
from eniplan.render.base import RenderOptions
from tests.helpers.networkd import (
    UBUNTU_22,
    edge_plan,
    expected,
    managed,
    normalise,
    parse_unit,
    text,
    with_os,
)


def test_one_file_per_eni_that_expresses_the_plan(sandbox_plans: dict[str, InstancePlan]) -> None:
    for plan in managed(sandbox_plans):
        rendering = render("networkd", plan, RenderOptions())
        assert rendering.target == "networkd"
        assert rendering.activate == ("networkctl reload",)
        by_path = {file.path: file for file in rendering.files}
        assert len(by_path) == len(plan.enis)
        for eni in plan.enis:
            file = by_path[f"/etc/systemd/network/09-eniplan-{eni.table}.network"]
            assert file.mode == 0o644
            assert text(file).startswith("# eniplan ")
            assert f"plan=sha256:{plan.digest()}" in text(file).splitlines()[0]
            got = normalise(parse_unit(text(file)))
            assert got == expected(plan, eni, guard=networkd.guard_written(plan)), plan.name


def test_the_guard_is_written_only_where_networkd_understands_it(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    written = {plan.name: networkd.guard_written(plan) for plan in managed(sandbox_plans)}
    # Debian 12 and RHEL 9 ship systemd 252; CentOS 7 219 and RHEL 8 239.
    assert written == {
        "centos7-same-24": False,
        "rhel-same-20": False,
        "web-balanced": True,
        "app-check-disabled": False,
        "multi-subnet": True,
    }
    for plan in managed(sandbox_plans):
        rendering = render("networkd", plan, RenderOptions())
        everything = "".join(text(file) for file in rendering.files)
        if written[plan.name]:
            assert plan.guard is not None
            assert everything.count("SuppressInterfaceGroup=") == 1
            assert everything.count(f"Group={plan.guard.group}\n") == len(plan.enis) + 1
            primary = next(eni for eni in plan.enis if eni.is_primary)
            primary_file = next(
                f for f in rendering.files if f.path.endswith(f"{primary.table}.network")
            )
            assert "SuppressInterfaceGroup=" in text(primary_file)
        else:
            # never a bare "lookup main" that an old networkd would make of the guard
            assert "SuppressInterfaceGroup" not in everything and "Table=main" not in everything
            assert "[Link]" not in everything
            assert any("guard left out" in note for note in rendering.notes)


def test_guard_on_ubuntu_22_04_is_left_out(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = with_os(sandbox_plans["web-balanced"], UBUNTU_22)
    rendering = render("networkd", plan, RenderOptions())
    assert not networkd.guard_written(plan)
    assert [note for note in rendering.notes if "systemd 249" in note]
    assert all("SuppressInterfaceGroup" not in text(file) for file in rendering.files)


@pytest.mark.parametrize(
    "family, version, systemd",
    [
        ("debian", "12", 252),
        ("debian", "14", 257),  # newer than the table: at least its family's newest
        ("ubuntu", "22.04", 249),
        ("ubuntu", "26.04", 257),
        ("rhel-8+", "9", 252),
        ("rhel-7", "7", 219),
        ("amazon-linux-2023", "", 252),
        ("debian", "", None),
        ("ubuntu", "17.10", None),  # older than the table: unknown
        ("suse", "15", None),
        ("unknown", "", None),
    ],
)
def test_systemd_version_of_the_planned_os(family: str, version: str, systemd: int | None) -> None:
    assert networkd.systemd_version(OsGuess(family, version)) == systemd


def test_guard_family_covers_ipv6_when_the_plan_has_ipv6(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    assert networkd.guard_family(sandbox_plans["multi-subnet"]).value == "both"
    assert networkd.guard_family(sandbox_plans["web-balanced"]).value == "ipv4"


def test_secondary_enis_get_no_default_route_in_main(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    for plan in managed(sandbox_plans):
        for file in render("networkd", plan, RenderOptions()).files:
            got = normalise(parse_unit(text(file)))
            eni = next(eni for eni in plan.enis if eni.mac == got["mac"])
            # every route eniplan writes is in the ENI's own table, never in main
            assert {route[3] for route in got["routes"]} == {eni.table}
            if eni.is_primary:
                assert got["use_routes"] and got["ra_table"] is None
            else:
                assert not got["use_routes"] and not got["use_hostname"]
                assert got["accept_ra"] is True or got["accept_ra"] is False


def test_ipv6_default_comes_from_router_advertisements_into_table_t(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = sandbox_plans["multi-subnet"]
    secondary = next(eni for eni in plan.enis if not eni.is_primary)
    assert any(route.via_ra for route in secondary.routes)
    file = next(f for f in render("networkd", plan, RenderOptions()).files
                if f.path.endswith(f"{secondary.table}.network"))  # fmt: skip
    got = normalise(parse_unit(text(file)))
    assert got["ra_table"] == secondary.table and got["accept_ra"] is True
    assert not any(route[0].prefixlen == 0 and route[0].version == 6 for route in got["routes"])


def test_primary_with_ipv6_keeps_its_ra_default_in_main(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = edge_plan(sandbox_plans, "ipv6-primary")
    primary = next(eni for eni in plan.enis if eni.is_primary)
    assert any(route.via_ra for route in primary.routes)
    rendering = render("networkd", plan, RenderOptions())
    file = next(f for f in rendering.files if f.path.endswith(f"{primary.table}.network"))
    got = normalise(parse_unit(text(file)))
    assert got["accept_ra"] is True and got["ra_table"] is None
    assert any("falls through" in note for note in rendering.notes)
    assert got == expected(plan, primary, guard=True)


def test_ipv6_only_secondary_has_no_dhcpv4(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = edge_plan(sandbox_plans, "ipv6-only-secondary")
    secondary = next(eni for eni in plan.enis if not eni.is_primary)
    rendering = render("networkd", plan, RenderOptions())
    file = next(f for f in rendering.files if f.path.endswith(f"{secondary.table}.network"))
    got = normalise(parse_unit(text(file)))
    assert not got["dhcp4"] and got["ra_table"] == secondary.table
    assert got == expected(plan, secondary, guard=True)


def test_names_sort_before_cloud_init_and_netplan_files(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    theirs = ["10-cloud-init-eth0.network", "10-cloud-init-ens5.network",
              "10-netplan-enX0.network", "10-netplan-eth0.network", "50-cloud-init.network",
              "70-ec2-eth0.network", "80-ec2.network", "99-default.network"]  # fmt: skip
    for plan in managed(sandbox_plans):
        for file in render("networkd", plan, RenderOptions()).files:
            name = Path(file.path).name
            assert all(name < other for other in theirs), name


@pytest.mark.parametrize(
    "value, text",
    [
        (True, "yes"),
        (False, "no"),
        (10001, "10001"),
        (IPv4Address("10.0.0.1"), "10.0.0.1"),
        (IPv4Network("10.0.0.0/24"), "10.0.0.0/24"),
        (IPv4Interface("10.0.0.5/24"), "10.0.0.5/24"),
        (IPv6Network("2001:db8::/64"), "2001:db8::/64"),
        (networkd.Mac("02:00:00:aa:bb:cc"), "02:00:00:aa:bb:cc"),
        (networkd.Keyword("main"), "main"),
    ],
)
def test_values_are_typed(value: networkd.Value, text: str) -> None:
    assert networkd.format_value(value) == text


@pytest.mark.parametrize(
    "bad",
    ["eth0", "10.0.0.1\n[Route]", 1.5, None, -1, ip_address("fe80::1%eth0")],
)
def test_untyped_or_unsafe_values_are_refused(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        networkd.format_value(bad)


@pytest.mark.parametrize("bad", ["02:00:00:aa:bb:cc\n", "02:00:00:AA:BB:CC", "eth0"])
def test_macs_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        networkd.Mac(bad)


@pytest.mark.parametrize("bad", ["ipv4\n", "yes", "main table", ""])
def test_keywords_are_a_fixed_set(bad: str) -> None:
    with pytest.raises(ValueError):
        networkd.Keyword(bad)


@pytest.mark.parametrize(
    "comment", ["two\nlines", "carriage\rreturn", "continued \\", "separator\u2028here"]
)
def test_comments_cannot_break_out_of_their_line(comment: str) -> None:
    with pytest.raises(ValueError):
        networkd.write_unit("# marker", [comment], [])


@pytest.mark.parametrize("name", ["Route]\n[Network", "Bad Key", "", "Key="])
def test_section_and_key_names_are_identifiers(name: str) -> None:
    with pytest.raises(ValueError):
        networkd.write_unit("# marker", [], [networkd.Section(name, ())])
    with pytest.raises(ValueError):
        networkd.write_unit("# marker", [], [networkd.Section("Route", ((name, 1),))])


def test_a_plan_with_a_bad_mac_is_refused(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["web-balanced"]
    bad = dataclasses.replace(plan.enis[1], mac="02:00:00:94:42:4f\n[Network]")
    with pytest.raises(ValueError):
        render("networkd", dataclasses.replace(plan, enis=(plan.enis[0], bad)), RenderOptions())


def test_dynamic_mode_is_refused(sandbox_plans: dict[str, InstancePlan]) -> None:
    with pytest.raises(InputError, match="--mode dynamic"):
        render("networkd", sandbox_plans["web-balanced"], RenderOptions(mode="dynamic"))


def test_rendering_is_pure_and_deterministic(sandbox_plans: dict[str, InstancePlan]) -> None:
    for plan in managed(sandbox_plans):
        assert render("networkd", plan, RenderOptions()) == render(
            "networkd", plan, RenderOptions()
        )
