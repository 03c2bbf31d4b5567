"""`eniplan lab --boot`: a real Debian 12 booted with systemd-nspawn in the lab's instance
namespace, the user data delivered by its own cloud-init from the lab's IMDS.

The booted tests (those taking the `boot_image` fixture: tests/conftest.py marks them
`boot`, so `-m "not boot"` skips them) build the image in the default cache location when
it is missing (the one step that needs the network: Debian's archive) and reuse it after.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from eniplan.lab import image, shell
from eniplan.lab.topology import OWNER, cleanup
from tests.helpers.cli_runner import run
from tests.helpers.netns import lab_namespaces

F = TypeVar("F", bound=Callable[..., None])
CLASSIC = "web-balanced"  # Debian 12, two ENIs in one subnet: the classic case


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


def test_boot_without_an_image_says_how_to_build_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(["lab", "--boot", "--image-dir", str(tmp_path), "--sandbox"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "eniplan lab --boot --prepare-image" in err
    assert list(tmp_path.iterdir()) == []  # nothing left


# --- hygiene: a SIGKILLed lab, then --cleanup ----------------------------------------------


def _labs_of(pid: int) -> set[str]:
    """The namespaces of the labs process `pid` runs (their state directory's owner)."""
    runs = set()
    for state in Path(tempfile.gettempdir()).glob(f"{shell.NAME_PREFIX}-*-state-*"):
        with contextlib.suppress(OSError):
            if (state / OWNER).read_text().split()[:1] == [str(pid)]:
                runs.add(state.name.split("-")[2])
    return {name for name in lab_namespaces() if name.split("-")[2] in runs}


def test_cleanup_removes_what_a_killed_lab_left(capsys: pytest.CaptureFixture[str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "eniplan", "lab", "--sandbox", "--tag", "Name=web-balanced",
         "--target", "cloud-init"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300  # loading the sandbox is slow on a loaded machine
        while len(_labs_of(process.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # its probe server is running
        mine = _labs_of(process.pid)  # not the labs other processes run meanwhile
        assert mine, "the lab never started"
    finally:
        process.kill()
        process.wait()
    # its helper processes die with it (PR_SET_PDEATHSIG); whatever ran inside is gone
    # after --cleanup, with the namespaces and directories
    code, out, _ = run(["lab", "--cleanup"], capsys)
    assert code == 0
    assert lab_namespaces() & mine == set()
    for name in mine:
        assert f"removed namespace {name}" in out
    run_id = next(iter(mine)).split("-")[2]
    assert not list(Path("/tmp").glob(f"{shell.NAME_PREFIX}-{run_id}-*"))
    assert cleanup() == []  # nothing more


# --- the booted OS (root; builds the image when missing) -----------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--target", "cloud-init", "--persist", "script"),
        ("--target", "cloud-init", "--persist", "netplan"),
        ("--target", "cloud-init", "--persist", "networkd"),
        ("--target", "cloud-init", "--persist", "script", "--stack", "networkmanager"),
        ("--target", "cloud-init", "--persist", "networkmanager"),
        ("--target", "netplan"),
        ("--target", "networkd"),
        ("--target", "networkmanager"),
        ("--target", "dynamic"),
        ("--target", "dynamic", "--stack", "networkmanager"),
        ("--target", "ssm"),
        ("--target", "ssm", "--stack", "networkmanager"),
    ],
    ids=lambda args: "-".join(args[1::2]),
)
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
        # the boot runs (first boot, reboot) took the ENIs from cloud-init's crawl of that
        # boot (/run/cloud-init/instance-data.json): 4 IMDS requests each
        crawled = [line for line in data["apply_output"] if "the rest from cloud-init" in line]
        assert len(crawled) == 2 and all("(4 requests" in line for line in crawled), crawled
    for phase in ("boot", "first-proof", "reboot"):
        assert data["timings"][phase] > 0
