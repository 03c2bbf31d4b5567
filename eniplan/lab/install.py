"""Putting a rendered config on the lab instance, and booting it from the files alone.

The lab instance's file system is a directory (`root`): a target's files are written
under it at their paths on the instance, and `boot` runs what the instance would run at
boot, read back from those files only (never from the rendering in memory):

- `iproute2`: the script at /usr/local/sbin/eniplan-routing;
- `cloud-init` (`--persist script`): the user data's `write_files` are written out as
  cloud-init would, and every systemd unit that its `runcmd` enables is started the way
  systemd would, by running the unit's `ExecStart` in the instance's view (below);
- `dynamic` (`render --target cloud-init --mode dynamic`): the same, and the `runcmd`
  itself runs once (it unpacks the agent), then the units: the agent reads the ENIs from
  the lab's IMDS. On ENI hotplug, `hotplug` does what udev does with the user data's
  rule: it starts the template unit it names, for the link that came or went.

What runs at boot (the script, the units' commands) and the dynamic target's runcmd see
the instance's files at their own paths: they run in a private mount namespace (`unshare
--mount`) where the instance's /usr/local and /etc are overlays over the host's (the
instance's files on top, every write going to `root`) and /run is the instance's own
(the script's lock too: a run on the host never holds up the lab's). Nothing of this reaches the
host's mounts. systemctl and udevadm in the runcmd are the lab's: its systemd starts the
enabled units, its udev reads the rules (the runcmd's calls are no-ops). The runcmd runs
once, at install, in a network namespace of its own with no links (it unpacks the agent,
nothing more).

The instance namespace has no IPv6 router, so the script's wait for router
advertisements is skipped (ENIPLAN_RA_WAIT=0): the lab proves IPv4.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import gzip
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from eniplan import ownership
from eniplan.lab import shell
from eniplan.lab.shell import LabError
from eniplan.plan import InstancePlan
from eniplan.render import dynamic, render
from eniplan.render.base import RenderOptions

TARGETS = ("iproute2", "cloud-init", "dynamic")
BOOT_LIST = "/var/lib/eniplan-lab/boot"  # the iproute2 target: what runs at boot
OVERLAY_WORK = "/var/lib/eniplan-lab/overlay"  # the overlays' work directories
OVERLAID = ("/usr/local", "/etc")  # the instance's files over the host's, in its view
UDEV_RULES = PurePosixPath("/etc/udev/rules.d")
_UDEV_START = re.compile(
    r"systemctl\s+(?:--no-block\s+)?start\s+([A-Za-z0-9_.-]+@)\$(?:name|kernel|env\{INTERFACE\})"
    r"(\.service)"
)
_UDEV_RUN = re.compile(r'\bRUN\+="([^"]*)"')
_UDEV_NAME = re.compile(r"\$name|\$kernel|\$env\{INTERFACE\}|%k")
# systemd and udev are the lab's: the runcmd's calls to them do nothing
_STUBS = "systemctl() { :; }; udevadm() { :; }\n"
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


def unrunnable(target: str, os_guess: ownership.OsGuess) -> str | None:
    """Why the instance's own OS cannot run what `target` installs, or None. The lab runs it
    on this host's kernel and Python: a proof there would say nothing about that OS."""
    if ownership.predates_rule_protocols(os_guess):
        what = {
            "iproute2": "the iproute2 script",
            "cloud-init": "the user data's script (the lab proves --persist script)",
        }.get(target, "the agent's engine")
        return (
            f"its kernel (3.10) predates rule protocols (Linux 4.17), which {what} needs; "
            "render --target ifcfg (or cloud-init --persist auto) for it"
        )
    if target == "dynamic" and ownership.python_predates_agent(os_guess):
        return "its platform Python is 3.6 and the agent needs Python 3.7+"
    return None


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
        # eniplan's part alone: the lab proves the routing, not the instance's own user data
        options = RenderOptions(persist="script", replace_user_data=True)
        rendering = render("cloud-init", plan, options)
        (user_data,) = rendering.files
        run_cloud_init(user_data.content, root)
    elif target == "dynamic":
        rendering = dynamic.render(plan.table_base, guard=plan.guard is not None)
        (user_data,) = rendering.files
        run_cloud_init(user_data.content, root, runcmd=True)
    else:
        raise LabError(f"--target {target}: the lab applies {', '.join(TARGETS)}")


def run_cloud_init(user_data: str | bytes, root: Path, *, runcmd: bool = False) -> None:
    """What cloud-init does with the user data, in `root`: write_files, and record the
    units that runcmd enables (started at every boot, in the instance's view: their
    commands name the instance's files at their own paths); with `runcmd`, the runcmd
    runs too, in the view (systemctl and udevadm stubbed)."""
    text = gzip.decompress(user_data).decode() if isinstance(user_data, bytes) else user_data
    if not text.startswith("#cloud-config\n"):
        raise LabError("user data: not #cloud-config")
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise LabError("user data: not a YAML mapping")
    for entry in document.get("write_files", []):
        content: str | bytes = str(entry.get("content", ""))
        encoding = entry.get("encoding")
        if encoding in ("b64", "base64"):
            try:
                content = base64.b64decode(str(content), validate=True)
            except binascii.Error:
                raise LabError(f"user data: {entry.get('path')}: not base64") from None
        elif encoding not in (None, "text/plain"):
            raise LabError(f"user data: {entry.get('path')}: encoding {entry['encoding']!r}")
        _write(root, str(entry["path"]), content, int(entry["permissions"], 8))
    units = []
    for command in document.get("runcmd", []):
        line = " ".join(command) if isinstance(command, list) else str(command)
        units += _ENABLE.findall(line)
        if runcmd:
            _run_command(root, command)
    if not units:
        raise LabError("user data: runcmd enables no systemd unit: nothing would run at boot")
    boot = [str(UNIT_DIRECTORY / unit) for unit in units]
    _write(root, BOOT_LIST, "\n".join(f"unit:{path}" for path in boot) + "\n", 0o644)


def _run_command(root: Path, command: object) -> None:
    """One runcmd entry in the instance's view (a list is argv, a string is sh)."""
    if isinstance(command, list) and command[:2] == ["sh", "-c"] and len(command) == 3:
        text = str(command[2])
    elif isinstance(command, str):
        text = command
    else:
        raise LabError(f"user data: runcmd {command!r}: the lab runs `sh -c TEXT` or TEXT")
    if re.search(r"/(?:systemctl|udevadm)\b", text):
        raise LabError(f"user data: runcmd {text[:60]!r}: systemctl and udevadm by name only")
    # no network either: the user data's runcmd only unpacks what write_files wrote
    argv = ["unshare", "--net", *instance_view(root, ["sh", "-c", _STUBS + text])]
    done = shell.local(argv, check=False)
    if done.returncode != 0:
        raise LabError(f"user data: runcmd failed ({done.returncode}): {shell.short(done.stderr)}")


def instance_view(root: Path, argv: list[str]) -> list[str]:
    """`argv` run where the instance's files are at their own paths: a private mount
    namespace with overlays (the instance's files over the host's, writes to `root`)
    and the instance's /run."""
    if any(c in str(root) for c in ",:\\\n"):
        raise LabError(f"{root}: the lab's directory cannot hold , : or \\ (overlay options)")
    mounts, args = [], []
    for index, path in enumerate(OVERLAID):
        upper = inside(root, path)
        work = inside(root, f"{OVERLAY_WORK}/{index}")
        for directory in (upper, work):
            directory.mkdir(parents=True, exist_ok=True)
        n = 2 * index + 1
        mounts.append(
            f'mount -t overlay eniplan-lab -o "lowerdir={path},upperdir=${n},workdir=${n + 1}"'
            f" {path}"
        )
        args += [str(upper), str(work)]
    run = inside(root, "/run")
    run.mkdir(parents=True, exist_ok=True)
    n = 2 * len(OVERLAID) + 1
    mounts.append(f'mount --bind "${n}" /run')
    args.append(str(run))
    script = " && ".join(mounts) + f' && shift {n} && exec "$@"'
    return [
        "unshare", "--mount", "--propagation", "private",
        "sh", "-c", script, "eniplan-lab-view", *args, *argv,
    ]  # fmt: skip


def boot_commands(root: Path) -> list[list[str]]:
    """What runs at boot, read from the files in `root` alone, each in the instance's
    view: its /run is the instance's (the script's lock, the agent's state), never the
    host's."""
    listing = inside(root, BOOT_LIST)
    if not listing.is_file():
        raise LabError("nothing installed to run at boot")
    commands = []
    for line in listing.read_text().splitlines():
        if line.startswith("unit:"):
            commands.append(instance_view(root, _exec_start(root, line.removeprefix("unit:"))))
        elif line.strip():
            inside(root, line.strip())  # an absolute path inside the instance
            commands.append(instance_view(root, [line.strip()]))
    return commands


def _exec_start(root: Path, unit_path: str, *, instance: str = "") -> list[str]:
    """The unit's ExecStart as argv, for the instance's view (its program at its own
    path); `instance` fills a template unit's %i."""
    unit = inside(root, unit_path)
    if not unit.is_file():
        raise LabError(f"{unit_path}: enabled but not written")
    lines = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    if len(lines) != 1:
        raise LabError(f"{unit_path}: expected one ExecStart=, found {len(lines)}")
    argv = shlex.split(lines[0].removeprefix("ExecStart=").lstrip("-@+!"))
    if not argv:
        raise LabError(f"{unit_path}: empty ExecStart=")
    if instance:
        argv = [word.replace("%i", instance).replace("%I", instance) for word in argv]
    elif any("%" in word for word in argv):
        raise LabError(f"{unit_path}: a template's ExecStart= without an instance")
    return argv


def udev_rules(root: Path, action: str, ifname: str) -> list[str]:
    """The rules in `root` that udev applies when network link `ifname` is added or
    removed, in udev's order."""
    lines = []
    directory = inside(root, str(UDEV_RULES))
    for rules in sorted(directory.glob("*.rules")) if directory.is_dir() else ():
        for line in rules.read_text().splitlines():
            if not line.lstrip().startswith("#") and _udev_matches(line, action, ifname):
                lines.append(line)
    return lines


def hotplug_commands(root: Path, action: str, ifname: str) -> list[list[str]]:
    """What udev runs, with the rules in `root`, when network link `ifname` is added or
    removed: the template units the rules start, each unit's ExecStart for `ifname`."""
    commands = []
    for line in udev_rules(root, action, ifname):
        for template, suffix in _UDEV_START.findall(line):
            unit = str(UNIT_DIRECTORY / f"{template}{suffix}")
            argv = _exec_start(root, unit, instance=ifname)
            commands.append(instance_view(root, argv))
    return commands


def udev_runs(root: Path, action: str, ifname: str) -> list[str]:
    """The RUN+= commands of those rules as udev runs them for `ifname` ($name, $kernel
    and %k substituted): for a booted OS, whose own systemd then starts the units."""
    return [
        _UDEV_NAME.sub(lambda _: ifname, run)
        for line in udev_rules(root, action, ifname)
        for run in _UDEV_RUN.findall(line)
    ]


def _udev_matches(line: str, action: str, ifname: str) -> bool:
    """The rule's SUBSYSTEM, ACTION and KERNEL matches (udev's globs, | for or)."""
    wanted = {"SUBSYSTEM": "net", "ACTION": action, "KERNEL": ifname}
    for key, pattern in re.findall(r'\b(SUBSYSTEM|ACTION|KERNEL)=="([^"]*)"', line):
        if not any(fnmatch.fnmatchcase(wanted[key], one) for one in pattern.split("|")):
            return False
    return True


def hotplug(ns: str, root: Path, action: str, ifname: str) -> Applied:
    """udev's `action` (add, remove) for link `ifname`, run in the instance namespace."""
    commands = hotplug_commands(root, action, ifname)
    if not commands:
        return Applied(f"udev {action} {ifname}", 1, f"no udev rule runs anything for {ifname}")
    return _run_all(ns, commands, f"udev {action} {ifname}")


def boot(ns: str, root: Path) -> Applied:
    """Runs the boot commands in the instance namespace; the first failure stops it."""
    return _run_all(ns, boot_commands(root), "boot")


def _run_all(ns: str, commands: list[list[str]], what: str) -> Applied:
    outputs = []
    for argv in commands:
        try:
            done = shell.run(ns, argv, env=APPLY_ENV, check=False, timeout=APPLY_TIMEOUT)
        except LabError as error:
            return Applied(" ".join(argv), 124, str(error))
        text = (done.stdout + done.stderr).strip()
        outputs.append(text)
        if done.returncode != 0:
            return Applied(" ".join(argv), done.returncode, "\n".join(outputs))
    return Applied(what, 0, "\n".join(outputs))
