"""The netplan target, validated by the real netplan.

For every managed sandbox plan: `netplan generate --root-dir` accepts the YAML (next to a
50-cloud-init.yaml like cloud-init writes on EC2), and the networkd files it generates,
with eniplan's drop-ins merged, configure exactly what eniplan's own networkd target
configures for the same plan (rules, routes, addresses, DHCP, group, RA table). networkd
applies the first matching file by name, so the tests also check that eniplan's generated
file is the one that applies to each ENI, whatever ID cloud-init used.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_render_networkd import (
    DEBIAN_12,
    EDGE_PLANS,
    MANAGED_PLANS,
    NetworkdLab,
    assert_lab_state,
    edge_plan,
    expected_lab_state,
    lab_plan,
    managed,
    merge,
    normalise,
    parse_unit,
    requires_networkd_lab,
    text,
    units_by_mac,
    with_os,
)

from eniplan.errors import InputError
from eniplan.plan import InstancePlan
from eniplan.render import netplan, networkd, render
from eniplan.render.base import Rendering, RenderOptions

NETPLAN = shutil.which("netplan")
requires_netplan = pytest.mark.skipif(NETPLAN is None, reason="netplan.io is not installed")

# How cloud-init names the devices it defines (the ID is the interface name): the name of
# the first ENI on images with eth0, with predictable names on Nitro, and on Xen.
CLOUD_INIT_NAMES = ("eth0", "ens5", "enX0")


def netplan_version() -> str:
    assert NETPLAN is not None
    shown = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "netplan.io"], capture_output=True, text=True
    )
    return shown.stdout.strip() or "unknown"


def cloud_init_yaml(plan: InstancePlan, first: str) -> str:
    """What cloud-init's EC2 datasource writes: every NIC by MAC under its interface name,
    DHCPv4 with a route metric per device (cloud-init before 24.1, no policy routing)."""
    ethernets: dict[str, Any] = {}
    prefix, number = first[:-1], int(first[-1])
    for index, eni in enumerate(sorted(plan.enis, key=lambda eni: eni.table)):
        name = f"{prefix}{number + index}"
        ethernets[name] = {
            "dhcp4": True,
            "dhcp4-overrides": {"route-metric": 100 * (index + 1)},
            "dhcp6": False,
            "match": {"macaddress": eni.mac},
            "set-name": name,
        }
    return yaml.safe_dump({"network": {"version": 2, "ethernets": ethernets}}, sort_keys=False)


def install(root: Path, rendering: Rendering) -> None:
    for file in rendering.files:
        target = root / file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text(file))
        os.chmod(target, file.mode)


def generate(root: Path) -> subprocess.CompletedProcess[str]:
    assert NETPLAN is not None
    return subprocess.run(
        [NETPLAN, "generate", "--root-dir", str(root)], capture_output=True, text=True
    )


def network_files(root: Path) -> list[Path]:
    """Every .network file networkd would read, in the order it considers them."""
    found = [
        path
        for directory in ("etc/systemd/network", "run/systemd/network", "lib/systemd/network")
        for path in (root / directory).glob("*.network")
    ]
    return sorted(found, key=lambda path: path.name)


def first_match(root: Path, mac: str) -> Path:
    for path in network_files(root):
        match = dict(
            kv for section, settings in parse_unit(path.read_text()) if section == "Match"
            for kv in settings
        )  # fmt: skip
        if mac in (match.get("MACAddress"), match.get("PermanentMACAddress")):
            return path
    raise AssertionError(f"no .network file matches {mac}")


def generated_with_dropins(root: Path, name: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """A generated file and its drop-ins (.d/*.conf in every directory, by file name)."""
    main = root / "run/systemd/network" / name
    dropins = sorted(
        (
            path
            for directory in ("lib/systemd/network", "run/systemd/network", "etc/systemd/network")
            for path in (root / directory / f"{name}.d").glob("*.conf")
        ),
        key=lambda path: path.name,
    )
    return merge(parse_unit(main.read_text()), *(parse_unit(p.read_text()) for p in dropins))


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "root"


def variants(plans: dict[str, InstancePlan]) -> list[InstancePlan]:
    """Every managed sandbox plan as planned, again as if on Debian 12 (guard on) where
    it was not, and the edge plans (IPv6 on the primary, an IPv6-only secondary)."""
    result = []
    for plan in managed(plans):
        result.append(plan)
        if not networkd.guard_written(plan):
            result.append(with_os(plan, DEBIAN_12))
    return result + [edge_plan(plans, name) for name in EDGE_PLANS]


# --- against the real netplan -----------------------------------------------------------


@requires_netplan
def test_netplan_generate_matches_the_networkd_target(
    sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    checked = 0
    for number, plan in enumerate(variants(sandbox_plans)):
        root = tmp_path / f"root{number}"
        rendering = render("netplan", plan, RenderOptions())
        install(root, rendering)
        cloud_init = root / "etc/netplan/50-cloud-init.yaml"
        cloud_init.write_text(cloud_init_yaml(plan, "ens5"))
        cloud_init.chmod(0o600)

        result = generate(root)
        assert result.returncode == 0, f"{plan.name}: {result.stderr}"
        assert result.stderr == "", f"{plan.name}: {result.stderr}"

        ours = {
            eni.mac: normalise(generated_with_dropins(root, netplan.generated_network_name(eni)))
            for eni in plan.enis
        }
        reference = units_by_mac(
            text(file) for file in render("networkd", plan, RenderOptions()).files
        )
        assert ours == reference, plan.name
        # and networkd applies eniplan's definition, not cloud-init's, to every ENI
        for eni in plan.enis:
            assert first_match(root, eni.mac).name == netplan.generated_network_name(eni)
        checked += 1
    assert checked == 10  # 5 plans, 3 of them again with the guard, 2 edge plans


@requires_netplan
@pytest.mark.parametrize("first", CLOUD_INIT_NAMES)
def test_eniplan_definitions_win_over_cloud_init_whatever_its_ids(
    sandbox_plans: dict[str, InstancePlan], root: Path, first: str
) -> None:
    plan = sandbox_plans["multi-subnet"]
    install(root, render("netplan", plan, RenderOptions()))
    cloud_init = root / "etc/netplan/50-cloud-init.yaml"
    cloud_init.write_text(cloud_init_yaml(plan, first))
    cloud_init.chmod(0o600)
    result = generate(root)
    assert result.returncode == 0, result.stderr
    generated = {path.name for path in (root / "run/systemd/network").glob("*.network")}
    # not merged: cloud-init's definitions are still generated, and sort after eniplan's
    assert f"10-netplan-{first}.network" in generated
    for eni in plan.enis:
        assert first_match(root, eni.mac).name == netplan.generated_network_name(eni)


@requires_netplan
def test_the_networkd_target_wins_over_netplan_generated_files(
    sandbox_plans: dict[str, InstancePlan], root: Path
) -> None:
    plan = sandbox_plans["web-balanced"]
    cloud_init = root / "etc/netplan/50-cloud-init.yaml"
    cloud_init.parent.mkdir(parents=True)
    cloud_init.write_text(cloud_init_yaml(plan, "enX0"))
    cloud_init.chmod(0o600)
    assert generate(root).returncode == 0
    rendering = render("networkd", plan, RenderOptions())
    install(root, rendering)
    for eni in plan.enis:
        assert first_match(root, eni.mac).name == f"09-eniplan-{eni.table}.network"


@requires_netplan
def test_netplan_reads_back_exactly_the_structure_built(
    sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    """`netplan get` prints netplan's parsed state: every key eniplan wrote was understood."""
    assert NETPLAN is not None
    for number, plan in enumerate(managed(sandbox_plans)):
        root = tmp_path / f"root{number}"
        install(root, render("netplan", plan, RenderOptions()))
        shown = subprocess.run(
            [NETPLAN, "get", "--root-dir", str(root), "ethernets"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert yaml.safe_load(shown.stdout) == netplan.document(plan)["network"]["ethernets"]


@requires_netplan
def test_validated_netplan_version() -> None:
    version = netplan_version()
    print(f"netplan.io {version}")
    assert version != "unknown"


@requires_netplan
@requires_networkd_lab
@pytest.mark.netns
@pytest.mark.slow
@pytest.mark.parametrize("name", [*MANAGED_PLANS, "ipv6-primary"])
def test_real_networkd_installs_the_plan_from_netplan(
    sandbox_plans: dict[str, InstancePlan], tmp_path: Path, name: str
) -> None:
    """What `netplan generate` makes of the YAML (next to cloud-init's definitions of the
    same MACs), plus eniplan's drop-ins, read by the real systemd-networkd with DHCP and RAs
    from the "VPC": the kernel then holds exactly the plan, and main keeps one default."""
    plan = lab_plan(sandbox_plans, name)
    root = tmp_path / "root"
    install(root, render("netplan", plan, RenderOptions()))
    cloud_init = root / "etc/netplan/50-cloud-init.yaml"
    cloud_init.write_text(cloud_init_yaml(plan, "ens5"))  # the lab names links ens5, ens6...
    cloud_init.chmod(0o600)
    assert generate(root).returncode == 0
    # netplan matches PermanentMACAddress=. A NIC whose driver owns its address (ENA,
    # virtio, xen-netfront) has perm_addr = its MAC; a veth has none (00:00:...), so the
    # lab matches the current address instead, in netplan's and cloud-init's files alike.
    generated = root / "run/systemd/network"
    for path in generated.glob("*.network"):
        text = path.read_text()
        assert "PermanentMACAddress=" in text
        path.write_text(text.replace("PermanentMACAddress=", "MACAddress="))
    with NetworkdLab(plan, tmp_path / "lab") as lab:
        lab.start_instance(
            root / "etc/systemd/network",
            [netplan.generated_network_name(eni) for eni in plan.enis],
            run_dir=generated,
        )
        expected = expected_lab_state(plan, lab.router_link_local())
        state = lab.wait_for(expected)
        assert_lab_state(state, expected)


# --- the YAML itself ------------------------------------------------------------------


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


def test_dynamic_mode_is_refused(sandbox_plans: dict[str, InstancePlan]) -> None:
    with pytest.raises(InputError, match="--mode dynamic"):
        render("netplan", sandbox_plans["web-balanced"], RenderOptions(mode="dynamic"))


def test_rendering_is_pure_and_deterministic(sandbox_plans: dict[str, InstancePlan]) -> None:
    for plan in managed(sandbox_plans):
        assert render("netplan", plan, RenderOptions()) == render("netplan", plan, RenderOptions())
