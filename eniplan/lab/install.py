"""Putting a rendered config on the lab instance, and booting it from the files alone.

The lab instance's file system is a directory (`root`): a target's files are written
under it at their paths on the instance, and `boot` runs what the instance would run at
boot, read back from those files only (never from the rendering in memory):

- `iproute2`: the script at /usr/local/sbin/eniplan-routing;
- `cloud-init` (`--persist script`): the user data's `write_files` are written out as
  cloud-init would, and every systemd unit that its `runcmd` enables is started the way
  systemd would, by running the unit's `ExecStart`.

The instance namespace has no IPv6 router, so the script's wait for router
advertisements is skipped (ENIPLAN_RA_WAIT=0): the lab proves IPv4.
"""

from __future__ import annotations

import gzip
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from eniplan.lab import shell
from eniplan.lab.shell import LabError
from eniplan.plan import InstancePlan
from eniplan.render import render
from eniplan.render.base import RenderOptions

TARGETS = ("iproute2", "cloud-init")
BOOT_LIST = "/var/lib/eniplan-lab/boot"  # the iproute2 target: what runs at boot
UNIT_DIRECTORY = PurePosixPath("/etc/systemd/system")
_ENABLE = re.compile(r"systemctl\s+enable\s+(?:--now\s+)?([A-Za-z0-9@_.-]+\.service)")
APPLY_ENV = {"ENIPLAN_RA_WAIT": "0"}
APPLY_TIMEOUT = 60


@dataclass(frozen=True)
class Applied:
    command: str
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def inside(root: Path, path: str) -> Path:
    """`path` on the instance, as a path under `root`; refuses to leave `root`."""
    posix = PurePosixPath(path)
    if not posix.is_absolute() or ".." in posix.parts:
        raise LabError(f"{path!r}: not an absolute path inside the instance")
    return root.joinpath(*posix.parts[1:])


def _write(root: Path, path: str, content: str | bytes, mode: int) -> None:
    target = inside(root, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode() if isinstance(content, str) else content)
    target.chmod(mode)


def install(target: str, plan: InstancePlan, root: Path) -> None:
    """Render `plan` for `target` and write what the instance would hold."""
    if target == "iproute2":
        rendering = render("iproute2", plan, RenderOptions())
        for file in rendering.files:
            _write(root, file.path, file.content, file.mode)
        _write(root, BOOT_LIST, "\n".join(rendering.activate) + "\n", 0o644)
    elif target == "cloud-init":
        rendering = render("cloud-init", plan, RenderOptions(persist="script"))
        (user_data,) = rendering.files
        run_cloud_init(user_data.content, root)
    else:
        raise LabError(f"--target {target}: the lab applies {', '.join(TARGETS)}")


def run_cloud_init(user_data: str | bytes, root: Path) -> None:
    """What cloud-init does with the user data, in `root`: write_files, and record the
    units that runcmd enables (started at every boot)."""
    text = gzip.decompress(user_data).decode() if isinstance(user_data, bytes) else user_data
    if not text.startswith("#cloud-config\n"):
        raise LabError("user data: not #cloud-config")
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise LabError("user data: not a YAML mapping")
    for entry in document.get("write_files", []):
        if entry.get("encoding") not in (None, "text/plain"):
            raise LabError(f"user data: {entry.get('path')}: encoding {entry['encoding']!r}")
        _write(
            root, str(entry["path"]), str(entry.get("content", "")), int(entry["permissions"], 8)
        )
    units = []
    for command in document.get("runcmd", []):
        line = " ".join(command) if isinstance(command, list) else str(command)
        units += _ENABLE.findall(line)
    if not units:
        raise LabError("user data: runcmd enables no systemd unit: nothing would run at boot")
    boot = [str(UNIT_DIRECTORY / unit) for unit in units]
    _write(root, BOOT_LIST, "\n".join(f"unit:{path}" for path in boot) + "\n", 0o644)


def boot_commands(root: Path) -> list[list[str]]:
    """What runs at boot, read from the files in `root` alone."""
    listing = inside(root, BOOT_LIST)
    if not listing.is_file():
        raise LabError("nothing installed to run at boot")
    commands = []
    for line in listing.read_text().splitlines():
        if line.startswith("unit:"):
            commands.append(_exec_start(root, line.removeprefix("unit:")))
        elif line.strip():
            commands.append([str(inside(root, line.strip()))])
    return commands


def _exec_start(root: Path, unit_path: str) -> list[str]:
    unit = inside(root, unit_path)
    if not unit.is_file():
        raise LabError(f"{unit_path}: enabled but not written")
    lines = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    if len(lines) != 1:
        raise LabError(f"{unit_path}: expected one ExecStart=, found {len(lines)}")
    argv = shlex.split(lines[0].removeprefix("ExecStart=").lstrip("-@+!"))
    if not argv:
        raise LabError(f"{unit_path}: empty ExecStart=")
    return [str(inside(root, argv[0])), *argv[1:]]


def boot(ns: str, root: Path) -> Applied:
    """Runs the boot commands in the instance namespace; the first failure stops it."""
    outputs = []
    for argv in boot_commands(root):
        try:
            done = shell.run(ns, argv, env=APPLY_ENV, check=False, timeout=APPLY_TIMEOUT)
        except LabError as error:
            return Applied(" ".join(argv), 124, str(error))
        text = (done.stdout + done.stderr).strip()
        outputs.append(text)
        if done.returncode != 0:
            return Applied(" ".join(argv), done.returncode, "\n".join(outputs))
    return Applied("boot", 0, "\n".join(outputs))
