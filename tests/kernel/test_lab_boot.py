"""`eniplan lab --boot`: a real Debian 12 booted with systemd-nspawn in the lab's instance
namespace, the user data delivered by its own cloud-init from the lab's IMDS.

The booted tests (root; marked `boot`, so `-m "not boot"` skips them) build the image in
the default cache location when it is missing (the one step that needs the network:
Debian's archive) and reuse it after. The bad-input tests run for any user.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from netns import requires_netns

from eniplan.cli import main
from eniplan.lab import boot, image, shell
from eniplan.lab.topology import cleanup, running

F = TypeVar("F", bound=Callable[..., None])
CLASSIC = "web-balanced"  # Debian 12, two ENIs in one subnet: the classic case


def booted(test: F) -> F:
    marked: F = requires_netns(pytest.mark.boot(pytest.mark.netns(test)))
    return marked


def _lab_namespaces() -> set[str]:
    directory = Path("/run/netns")
    if not directory.is_dir():
        return set()
    return {p.name for p in directory.iterdir() if p.name.startswith(f"{shell.NAME_PREFIX}-")}


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="session")
def boot_image() -> Path:
    """The image in the default cache directory, built once if missing."""
    directory = image.default_image_dir()
    image.build(directory)
    return directory


def _boot_lab(image_dir: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "eniplan", "lab", "--boot", "--image-dir", str(image_dir),
         "--sandbox", "--tag", f"Name={CLASSIC}", "--format", "json", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout or "{}"), done.stderr


# --- bad input (any user) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--target", "netplan"], "--target netplan: only the booted lab applies it: add --boot"),
        (["--prepare-image"], "--prepare-image builds the image of --boot: add --boot"),
    ],
)
def test_lab_options_that_need_boot(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, out, err = _cli(capsys, "lab", "--sandbox", *argv)
    assert code == 2 and out == ""
    assert err == f"eniplan: error: {expected}\n"


def test_ifcfg_needs_a_rhel_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _cli(
        capsys, "lab", "--boot", "--target", "ifcfg", "--image-dir", str(tmp_path), "--sandbox"
    )
    assert code == 2
    assert err.count("\n") == 1 and "ifcfg needs a RHEL-family image" in err


@requires_netns
def test_boot_without_an_image_says_how_to_build_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _cli(capsys, "lab", "--boot", "--image-dir", str(tmp_path), "--sandbox")
    assert code == 2 and err.count("\n") == 1
    assert "eniplan lab --boot --prepare-image" in err
    assert list(tmp_path.iterdir()) == []  # nothing left


def test_image_key_follows_the_package_list(monkeypatch: pytest.MonkeyPatch) -> None:
    key = image.image_key()
    assert key.startswith("debian-12-")
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "less"))
    assert image.image_key() != key


def test_stack_and_delivery_per_target() -> None:
    assert boot.stack_for("cloud-init", "script") == "networkd"
    assert boot.stack_for("cloud-init", "networkmanager") == "networkmanager"
    assert boot.stack_for("networkmanager", "script") == "networkmanager"
    assert boot.stack_for("netplan", "script") == "networkd"
    assert boot.stack_for("dynamic", "script") == "networkd"
    assert boot.stack_for("dynamic", "script", "networkmanager") == "networkmanager"
    assert boot.stack_for("cloud-init", "script", "networkmanager") == "networkmanager"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--target", "netplan", "--stack", "networkmanager"],
         "lab --boot: --target netplan is configuration for networkd, not --stack networkmanager"),
        (["--target", "cloud-init", "--persist", "networkmanager", "--stack", "networkd"],
         "lab --boot: --persist networkmanager is configuration for networkmanager, not "
         "--stack networkd"),
    ],
)  # fmt: skip
def test_a_stack_that_contradicts_the_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], expected: str
) -> None:
    code, out, err = _cli(capsys, "lab", "--boot", "--image-dir", str(tmp_path), "--sandbox", *argv)
    assert (code, out, err) == (2, "", f"eniplan: error: {expected}\n")
    assert list(tmp_path.iterdir()) == []


def test_stack_needs_boot(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "lab", "--sandbox", "--stack", "networkmanager")
    assert (code, out) == (2, "")
    assert err == "eniplan: error: --stack chooses the booted OS's network stack: add --boot\n"


def test_networkmanager_os_orders_cloud_init_after_networkmanager() -> None:
    """Debian's cloud-init.service runs before sysinit.target, where NetworkManager (it
    needs D-Bus) cannot have brought a link up: the NetworkManager OS gets the unit
    cloud-init renders for the RHEL family, after NetworkManager.service."""
    unit_path = "/etc/systemd/system/cloud-init.service"
    assert unit_path not in boot.first_boot_files("networkd")
    unit = boot.first_boot_files("networkmanager")[unit_path][0].decode()
    directives = {line for line in unit.splitlines() if "=" in line and line[0] != "#"}
    assert "After=NetworkManager.service" in directives
    assert "ExecStart=/usr/bin/cloud-init init" in directives
    assert not {"DefaultDependencies=no", "Before=sysinit.target"} & directives


# --- hygiene: a SIGKILLed lab, then --cleanup ----------------------------------------------


@requires_netns
@pytest.mark.netns
def test_cleanup_removes_what_a_killed_lab_left(capsys: pytest.CaptureFixture[str]) -> None:
    existing = _lab_namespaces()
    process = subprocess.Popen(
        [sys.executable, "-m", "eniplan", "lab", "--sandbox", "--tag", "Name=web-balanced",
         "--target", "cloud-init"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300  # loading the sandbox is slow on a loaded machine
        while len(_lab_namespaces() - existing) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # its probe server is running
        mine = _lab_namespaces() - existing
        assert mine, "the lab never started"
    finally:
        process.kill()
        process.wait()
    # its helper processes die with it (PR_SET_PDEATHSIG); whatever ran inside is gone
    # after --cleanup, with the namespaces and directories
    code, out, _ = _cli(capsys, "lab", "--cleanup")
    assert code == 0
    assert _lab_namespaces() & mine == set()
    for name in mine:
        assert f"removed namespace {name}" in out
    run_id = next(iter(mine)).split("-")[2]
    assert not list(Path("/tmp").glob(f"{shell.NAME_PREFIX}-{run_id}-*"))
    assert cleanup() == []  # nothing more


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """No namespace left by a lab that has ended (other labs may run meanwhile)."""
    existing = _lab_namespaces()
    yield
    assert {name for name in _lab_namespaces() - existing if not running(name)} == set()


# --- the booted OS (root; builds the image when missing) -----------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--target", "cloud-init", "--persist", "script"),
        ("--target", "cloud-init", "--persist", "netplan"),
        ("--target", "cloud-init", "--persist", "networkd"),
        ("--target", "cloud-init", "--persist", "networkmanager"),
        ("--target", "netplan"),
        ("--target", "networkd"),
        ("--target", "networkmanager"),
        ("--target", "dynamic"),
        ("--target", "dynamic", "--stack", "networkmanager"),
    ],
    ids=lambda args: "-".join(args[1::2]),
)
@booted
@pytest.mark.usefixtures("no_leftovers")
def test_boot_lab_proves_a_target(boot_image: Path, args: tuple[str, ...]) -> None:
    code, data, err = _boot_lab(boot_image, *args)
    assert code == 0, (err, json.dumps(data.get("proofs"), indent=1))
    assert data["boot"] is True and data["os"] == "debian-12"
    failed = {
        p["proof"]: p["after"]["failures"] for p in data["proofs"] if not p["after"]["passed"]
    }
    assert failed == {}
    assert data["passed"] is True and data["namespaces_left"] == []
    keys = [proof["proof"] for proof in data["proofs"]]
    assert keys[:7] == [
        "reachable", "symmetric", "direct", "coexistence", "idempotent", "reboot", "reconfigure",
    ]  # fmt: skip
    if "dynamic" in args:  # udev's event emulated (none in nspawn), and the report says so
        assert keys[7:] == ["hotplug"] and "udev" in data["proofs"][7]["title"]
    for phase in ("boot", "first-proof", "reboot"):
        assert data["timings"][phase] > 0
