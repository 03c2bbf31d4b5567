"""The boot lab's operating system: a Debian 12 root filesystem built once from Debian's
packages with debootstrap, cached per user and rebuilt when its package list changes.

Building it is the only step of the lab that needs the network (Debian's archive).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from eniplan.lab.shell import LabError

OS_NAME = "debian-12"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What a Debian 12 EC2 instance runs for networking and first boot: systemd (networkd, PID 1),
# cloud-init, netplan, NetworkManager (libpam-systemd or its dependencies fail to configure),
# nftables, and the tools the proofs use (iproute2, python3 for the probe agent).
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "libpam-systemd",
    "dbus",
    "udev",
    "iproute2",
    "iputils-ping",
    "python3",
    "python3-cffi-backend",  # a virtual dependency of cloud-init's that debootstrap cannot pick
    "cloud-init",
    "netplan.io",
    "network-manager",
    "nftables",
)
BUILD_TIMEOUT = 1200.0  # seconds; measured here: about 4 minutes
NEEDED_BYTES = 1_500_000_000  # the image is about 400 MB; room for debootstrap's downloads
READY = ".eniplan-image-ready"


def default_image_dir() -> Path:
    """Under the XDG cache directory, per user."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "eniplan" / "boot-image"


def image_key() -> str:
    """Names the image after what it is built from, so a changed list rebuilds it."""
    recipe = "\n".join((OS_NAME, SUITE, *PACKAGES))
    return f"{OS_NAME}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def rootfs(image_dir: Path) -> Path:
    return image_dir / image_key()


def is_ready(image_dir: Path) -> bool:
    return (rootfs(image_dir) / READY).is_file()


def check_can_build() -> None:
    """LabError (one line, exit 2) unless this can build the image: root, debootstrap."""
    if os.geteuid() != 0:
        raise LabError("building the lab --boot image needs root (debootstrap): run it with sudo")
    if shutil.which("debootstrap") is None:
        raise LabError(
            "lab --boot needs debootstrap to build its image (apt-get install debootstrap)"
        )


def build(image_dir: Path, *, log: Path | None = None) -> Path:
    """Builds the image unless it is there; all or nothing (built beside it, renamed)."""
    target = rootfs(image_dir)
    if is_ready(image_dir):
        return target
    if shutil.which("debootstrap") is None:
        raise LabError(
            "lab --boot needs debootstrap to build its image (apt-get install debootstrap)"
        )
    image_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(image_dir).free
    if free < NEEDED_BYTES:
        raise LabError(
            f"lab --boot: {image_dir} has {free // 1_000_000} MB free, the image needs "
            f"{NEEDED_BYTES // 1_000_000} MB"
        )
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=image_dir))
    try:
        argv = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(staging / "root"),
            MIRROR,
        ]
        with open(log or os.devnull, "w") as out:
            result = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT, check=False
            )
        if result.returncode != 0:
            where = f" (log: {log})" if log else ""
            raise LabError(
                f"lab --boot: debootstrap {SUITE} from {MIRROR} failed with exit "
                f"{result.returncode}{where}; building the image needs Debian's archive"
            )
        (staging / "root" / READY).write_text(image_key() + "\n")
        if target.exists():
            shutil.rmtree(target)
        (staging / "root").rename(target)
    except subprocess.TimeoutExpired as error:
        raise LabError(f"lab --boot: debootstrap took over {BUILD_TIMEOUT:.0f} s") from error
    finally:
        _unmount_below(staging)
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _unmount_below(directory: Path) -> None:
    """What a failed or interrupted debootstrap left mounted in its target (/proc, /sys),
    so that removing the directory never walks into them."""
    prefix = f"{directory.resolve()}/"
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
