"""The netplan target, validated by the real netplan.

For every managed sandbox plan: `netplan generate --root-dir` accepts the YAML (next to a
50-cloud-init.yaml like cloud-init writes on EC2), and the networkd files it generates,
with eniplan's drop-ins merged, configure exactly what eniplan's own networkd target
configures for the same plan (rules, routes, addresses, DHCP, group, RA table). networkd
applies the first matching file by name, so the tests also check that eniplan's generated
file is the one that applies to each ENI, whatever ID cloud-init used.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from eniplan.plan import InstancePlan
from eniplan.render import netplan, render
from eniplan.render.base import RenderOptions
from tests.helpers.netplan import (
    NETPLAN,
    cloud_init_yaml,
    generate,
    install,
    netplan_version,
    requires_netplan,
)
from tests.helpers.networkd import (
    managed,
    merge,
    normalise,
    parse_unit,
    text,
    units_by_mac,
    variants,
)

# How cloud-init names the devices it defines (the ID is the interface name): the name of
# the first ENI on images with eth0, with predictable names on Nitro, and on Xen.
CLOUD_INIT_NAMES = ("eth0", "ens5", "enX0")


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


# --- the YAML itself ------------------------------------------------------------------
