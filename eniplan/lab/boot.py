"""`eniplan lab --boot`: the lab's instance namespace runs a real Debian 12 (systemd as PID 1,
booted with systemd-nspawn), and the rendered config reaches it as on EC2.

    vpc namespace: the lab's VPC (topology.py), plus what EC2 gives an instance at boot:
      dnsmasq   DHCP on every subnet bridge, a fixed lease per ENI MAC (its primary IPv4),
                the subnet router as gateway
      imds.py   the instance metadata service at 169.254.169.254 (IMDSv2), with the
                user data (reached through the default route, via the VPC router)
    instance namespace: systemd-nspawn --boot of the image (image.py) on an overlay (the
      image read-only below, this run's changes above), so reboots keep the instance's
      disk and the image stays clean.

At first boot the image's own cloud-init (22.4) finds the EC2 datasource at the lab's
IMDS, writes the network config from the ENIs' meta-data (netplan for networkd, or
NetworkManager), and runs the user data. The proofs then run against the booted OS:

    1-4         after the first boot
    idempotent  the activation once more (the user data's runcmd, or the files' own
                activation commands): ip rule and ip route show table all unchanged
                once the OS has settled (within 10 s, as reconfigure)
    reboot      `systemctl reboot` in the container; the kernel state a reboot clears is
                cleared (links down, addresses, rules, routes), the OS boots from its
                disk alone, 1-4 again
    reconfigure the OS's network manager reconfigures every ENI link (`networkctl
                reconfigure`, `netplan apply`, or NetworkManager re-activating its
                profiles), 1-4 again within RECONFIGURE_WAIT seconds

udev does not run inside nspawn (its /sys is read-only): nothing here needs a udev event
except the dynamic target's hotplug, and there the lab starts what the rule would start.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eniplan.lab import image, install, shell
from eniplan.lab.imds import metadata_tree
from eniplan.lab.install import inside
from eniplan.lab.proofs import (
    PROOFS,
    ROUND_PROOFS,
    LabOptions,
    LabReport,
    Outcome,
    Udev,
    _Clock,
    _combined,
    _prove_hotplug,
    lab_report,
    measure,
    routing_snapshot,
    state_changes,
)
from eniplan.lab.shell import LabError
from eniplan.lab.topology import Lab, design, stop_process
from eniplan.model import Instance, Inventory
from eniplan.plan import MANAGED, InstancePlan, PlanOptions, plan_instance
from eniplan.render import dynamic, render
from eniplan.render.base import RenderOptions

BOOT_TIMEOUT = 120.0  # seconds for the OS to finish booting (first boot runs cloud-init)
STOP_TIMEOUT = 30.0
REBOOT_EXIT = 133  # systemd-nspawn's exit status when the container rebooted
RECONFIGURE_WAIT = 10.0  # the bound for 1-4 to hold again after a reconfigure
CAPABILITIES = "CAP_NET_ADMIN,CAP_NET_RAW"  # networkd needs both (ConditionCapability)
CONSOLE_LOG = "console.log"
OS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # systemd's

# The lab's part of the image's configuration, written on the instance's disk before
# its first boot: cloud-init looks for the EC2 datasource only (at the lab's IMDS, IPv4),
# and ds-identify runs it although the platform (no EC2 DMI data here) is unknown.
CLOUD_CFG = """\
# eniplan lab --boot: the EC2 datasource at the lab's instance metadata service
datasource_list: [Ec2, None]
datasource:
  Ec2:
    metadata_urls: ["http://169.254.169.254"]
    timeout: 5
    max_wait: 60
    strict_id: false
# the minimal image has no locales package (cloud-init's locale module would fail)
locale: false
"""
CLOUD_CFG_NM = """\
system_info:
  network:
    renderers: [network-manager]
    activators: [network-manager]
"""
DS_IDENTIFY = "policy: enabled\n"
# Debian's cloud-init.service (cloud-init's template, variant debian) runs before
# sysinit.target with no default dependencies: on Debian the network it waits for comes
# from networkd or ifupdown, both up by then. NetworkManager needs D-Bus, which starts
# after sysinit.target, so on Debian with NetworkManager the EC2 datasource waits its
# max_wait for a network that cannot come up before it. The distributions where
# NetworkManager manages the ENIs (RHEL 8+, Fedora, ...) get the same template rendered
# with their variant: default dependencies, ordered after NetworkManager.service. That is
# the unit the booted lab installs for the networkmanager stack (cloud-init 22.4's
# systemd/cloud-init.service.tmpl, variant rhel; its cloud-init.disabled conditions kept).
CLOUD_INIT_SERVICE_NM = """\
# eniplan lab --boot: cloud-init 22.4's cloud-init.service, variant rhel (NetworkManager)
[Unit]
Description=Initial cloud-init job (metadata service crawler)
Wants=cloud-init-local.service
Wants=sshd-keygen.service
Wants=sshd.service
After=cloud-init-local.service
After=systemd-networkd-wait-online.service
After=network.service
After=NetworkManager.service
Before=network-online.target
Before=sshd-keygen.service
Before=sshd.service
Before=systemd-user-sessions.service
ConditionPathExists=!/etc/cloud/cloud-init.disabled
ConditionKernelCommandLine=!cloud-init=disabled

[Service]
Type=oneshot
ExecStart=/usr/bin/cloud-init init
RemainAfterExit=yes
TimeoutSec=0

# Output needs to appear in instance console output
StandardOutput=journal+console

[Install]
WantedBy=cloud-init.target
"""
# The lab's ENIs are veths, which have no permanent MAC address (EC2's ENA devices have
# one), and netplan 0.106 matches `macaddress:` with networkd's PermanentMACAddress=. The
# lab's one change to the OS's own software: netplan's generator, wrapped so that its
# networkd files match the current MAC (which is the ENI's, as on EC2) instead.
NETPLAN_GENERATE = "/usr/libexec/netplan/generate"
NETPLAN_SHIM = f"""\
#!/bin/sh
# eniplan lab --boot: veths have no permanent MAC (EC2's ENA devices do); match the MAC
{NETPLAN_GENERATE}.debian "$@" || exit
for file in /run/systemd/network/10-netplan-*.network; do
    [ -f "$file" ] && sed -i 's/^PermanentMACAddress=/MACAddress=/' "$file"
done
exit 0
"""
# udev does not run in the container (its /sys is read-only): `netplan apply` ends with
# `udevadm trigger` and the dynamic user data's runcmd with `udevadm control --reload`,
# which then fail (exit 1) after everything else was done. Nothing here needs a udev
# event; with no udev daemon, trigger and control reach nothing and succeed as no-ops.
UDEVADM_SHIM = """\
#!/bin/sh
# eniplan lab --boot: no udev daemon in the container; trigger and control reach nothing
case "$1" in trigger | control) exit 0 ;; esac
exec /usr/bin/udevadm "$@"
"""
# The lab's VPC has no DNS server (debootstrap copied the host's resolv.conf, whose server
# is unreachable from the lab): with none listed a lookup fails at once instead of after
# cloud-init's 15 s wait.
RESOLV_CONF = "# eniplan lab --boot: the lab's VPC has no DNS server\n"
MASKED = {
    # networkd stack (cloud-init renders netplan, netplan generates networkd config)
    "networkd": ("NetworkManager.service", "NetworkManager-wait-online.service"),
    "networkmanager": (
        "systemd-networkd.service",
        "systemd-networkd.socket",
        "systemd-networkd-wait-online.service",
    ),
}

# What a lab instance never needs, masked on either stack so that the boots (the lab's
# time goes to them) do less on a shared machine: no periodic maintenance (apt, dpkg
# backups, ext4 scrubbing, tmpfiles cleaning). Nothing of the network, cloud-init,
# D-Bus, polkit, logind or the console is masked (measured: with the console getty and
# the utmp units masked, `systemctl reboot` did not finish in 30 s).
LAB_MASKED = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "systemd-tmpfiles-clean.timer",
)


@dataclass(frozen=True)
class BootedOs:
    """What `lab --boot` runs on: the image and the network stack that manages the ENIs."""

    image_dir: Path
    stack: str  # networkd | networkmanager


def install_files(root: Path, files: Mapping[str, tuple[bytes, int]]) -> None:
    """Files on the instance's disk (`root` is its overlay's upper directory before boot,
    or /proc/PID/root of the running container)."""
    for path, (content, mode) in files.items():
        target = inside(root, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)


def first_boot_files(stack: str) -> dict[str, tuple[bytes, int]]:
    files = {
        "/etc/cloud/cloud.cfg.d/90-eniplan-lab.cfg": (CLOUD_CFG.encode(), 0o644),
        "/etc/cloud/ds-identify.cfg": (DS_IDENTIFY.encode(), 0o644),
    }
    if stack == "networkmanager":
        files["/etc/cloud/cloud.cfg.d/91-eniplan-lab-nm.cfg"] = (CLOUD_CFG_NM.encode(), 0o644)
        files["/etc/systemd/system/cloud-init.service"] = (
            CLOUD_INIT_SERVICE_NM.encode(),
            0o644,
        )
    return files


def cgroup_mounts(mounts: str | None = None) -> str:
    """Shell commands that mount the host's cgroup hierarchies again under the fresh /sys
    that `ip netns exec` gives (nspawn needs them; v1, hybrid or unified as the host)."""
    if mounts is None:
        mounts = Path("/proc/self/mounts").read_text()
    commands = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4 or not (fields[1] + "/").startswith("/sys/fs/cgroup/"):
            continue
        source, point, kind, options = fields[:4]
        commands.append(
            f"mkdir -p {shlex.quote(point)} && mount -t {shlex.quote(kind)} "
            f"-o {shlex.quote(options)} {shlex.quote(source)} {shlex.quote(point)} && "
        )
    return "".join(commands)


def install_shims(lower: Path, upper: Path) -> None:
    """The lab's stand-ins on the instance's disk: the netplan generator shim
    (NETPLAN_SHIM), `udevadm trigger` as a no-op (UDEVADM_SHIM) and no DNS server
    (RESOLV_CONF)."""
    real = inside(lower, NETPLAN_GENERATE)
    moved = inside(upper, f"{NETPLAN_GENERATE}.debian")
    moved.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(real, moved)
    install_files(
        upper,
        {
            NETPLAN_GENERATE: (NETPLAN_SHIM.encode(), 0o755),
            "/usr/local/sbin/udevadm": (UDEVADM_SHIM.encode(), 0o755),
            "/etc/resolv.conf": (RESOLV_CONF.encode(), 0o644),
        },
    )


class Container:
    """The booted OS in the lab's instance namespace. `start` boots it (and returns once
    systemd reports the boot done), `run` executes a command inside it, `reboot` reboots
    it, `stop` powers it off. Its processes die with the lab (see shell.popen)."""

    def __init__(self, lab: Lab, os_: BootedOs) -> None:
        self.lab = lab
        self.os = os_
        self.lower = image.rootfs(os_.image_dir)
        self.upper = lab.state / "os-disk"
        self.work = lab.state / "os-work"
        self.merged = lab.state / "os-root"
        for directory in (self.upper, self.work, self.merged):
            directory.mkdir(parents=True, exist_ok=True)
        self.machine = f"{shell.NAME_PREFIX}-{lab.topology.run_id}"
        self.process: subprocess.Popen[str] | None = None
        self.boots = 0

    # -- life cycle --

    def start(self) -> float:
        """Boots the OS; returns the seconds until systemd reported the boot finished."""
        t = self.lab.topology
        started = time.monotonic()
        mount = (
            f"{cgroup_mounts()}"
            'mount -t overlay eniplan-lab -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" '
            '&& shift 4 && exec "$@"'
        )
        nspawn = [
            "systemd-nspawn", "--quiet", "--boot",
            f"--directory={self.merged}",
            f"--machine={self.machine}",
            "--register=no", "--keep-unit",
            f"--network-namespace-path=/run/netns/{t.instance_ns}",
            f"--capability={CAPABILITIES}",
            "--resolv-conf=off", "--timezone=off", "--link-journal=no",
            "--console=passive",
        ]  # fmt: skip
        # nspawn starts inside the instance namespace (`ip netns exec` also gives it a
        # sysfs of that namespace): the /sys it mounts for the OS then shows the ENIs, not
        # the host's links, and cloud-init, networkd and NetworkManager read them there
        argv = [
            "ip", "netns", "exec", t.instance_ns,
            "unshare", "--mount", "--propagation", "private", "sh", "-c", mount,
            "eniplan-lab-boot", str(self.lower), str(self.upper), str(self.work),
            str(self.merged), *nspawn,
        ]  # fmt: skip
        log = (self.lab.state / CONSOLE_LOG).open("a")
        try:
            self.process = shell.popen_local(argv, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        self.lab.track(self.process)
        self.boots += 1
        self._wait_booted(started)
        return time.monotonic() - started

    def _init_pid(self) -> int | None:
        """The container's PID 1 as the host sees it: nspawn's child in a new PID namespace."""
        if self.process is None:
            return None
        for task in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            for child in task.read_text().split():
                status = Path(f"/proc/{child}/status")
                with contextlib.suppress(OSError):
                    for line in status.read_text().splitlines():
                        if line.startswith("NSpid:") and line.split()[-1] == "1":
                            return int(child)
        return None

    def _wait_booted(self, started: float) -> None:
        deadline = started + BOOT_TIMEOUT
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise LabError(
                    f"lab --boot: systemd-nspawn exited ({self.process.returncode}) during "
                    f"boot: {self._console_tail()}"
                )
            if self._init_pid() is not None:
                with contextlib.suppress(LabError):  # systemd not answering yet
                    done = self.run(["systemctl", "is-system-running"], check=False, timeout=5)
                    if done.stdout.strip() in ("running", "degraded"):
                        return
            if time.monotonic() > deadline:
                raise LabError(
                    f"lab --boot: the OS did not finish booting in {BOOT_TIMEOUT:.0f} s: "
                    f"{self._console_tail()}"
                )
            time.sleep(0.2)

    def _console_tail(self) -> str:
        path = self.lab.state / CONSOLE_LOG
        text = path.read_text(errors="replace") if path.exists() else ""
        return shell.short("\n".join(text.splitlines()[-3:])) or "no console output"

    def run(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """`argv` inside the running OS (all its namespaces, its root)."""
        pid = self._init_pid()
        if pid is None:
            raise LabError("lab --boot: the OS is not running")
        enter = ["nsenter", f"--target={pid}", "--mount", "--uts", "--ipc", "--net", "--pid"]
        env = ["env", "-i", f"PATH={OS_PATH}", "LANG=C.UTF-8"]
        return shell.local([*enter, *env, *argv], check=check, timeout=timeout)

    def sh(self, script: str, *, check: bool = True, timeout: float = 60.0) -> str:
        done = self.run(["sh", "-c", script], check=check, timeout=timeout)
        return (done.stdout + done.stderr).strip()

    @property
    def root(self) -> Path:
        """The running OS's file system, as the host reaches it."""
        pid = self._init_pid()
        if pid is None:
            raise LabError("lab --boot: the OS is not running")
        return Path(f"/proc/{pid}/root")

    def reboot(
        self, power_cycle: Callable[[], None], down: Callable[[], None] = lambda: None
    ) -> float:
        """`systemctl reboot` inside; once nspawn has exited with REBOOT_EXIT (`down` is
        called then), what a reboot clears is cleared (`power_cycle`) and the OS boots
        again from its disk. Returns the seconds from the reboot command to the end of
        the next boot."""
        started = time.monotonic()
        self.run(["systemctl", "reboot", "--no-block"], check=False)
        code = self._wait_exit(STOP_TIMEOUT)
        if code != REBOOT_EXIT:
            raise LabError(f"lab --boot: the OS did not reboot (systemd-nspawn exit {code})")
        down()
        power_cycle()
        self.start()
        return time.monotonic() - started

    def _wait_exit(self, timeout: float) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Powers the OS off (SIGTERM to nspawn is a clean shutdown), else kills it."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        if self._wait_exit(STOP_TIMEOUT) is None:
            stop_process(self.process)


BOOT_TARGETS = ("cloud-init", "dynamic", "netplan", "networkd", "networkmanager", "ssm")
# `--target ssm`: the script `apply --ssm` sends, where AWS-RunShellScript would put it (the
# SSM agent writes the commands to a script file and runs it with sh), on the running OS
SSM_SCRIPT = "/var/lib/amazon/ssm/eniplan-apply/_script.sh"
PERSISTS = ("script", "networkd", "networkmanager", "netplan")
BOOT_PROOFS: tuple[tuple[str, str], ...] = (
    *(proof for proof in PROOFS if proof[0] in ROUND_PROOFS),
    ("idempotent", "activated twice: identical ip rule and ip route show table all, settled"),
    ("reboot", "the OS reboots: its files alone restore proofs 1-4"),
    ("reconfigure", "the network manager reconfigures every ENI: 1-4 within 10 s"),
)
HOTPLUG_PROOF = (
    "hotplug",
    "an ENI detached, another attached; udev's RUN emulated (no udev in nspawn): 1-4",
)
HOTPLUG_WAIT = 90.0  # seconds for the units a udev event started (their TimeoutStartSec)
RUNCMD = "/var/lib/cloud/instance/scripts/runcmd"  # cloud-init's copy of the user data's runcmd


def check_ready(image_dir: Path) -> None:
    """LabError (one line, exit 2) unless the tools are here and the image is built."""
    for tool, package in (("systemd-nspawn", "systemd-container"), ("dnsmasq", "dnsmasq-base")):
        if shutil.which(tool) is None:
            raise LabError(f"lab --boot needs {tool} (apt-get install {package})")
    if not image.is_ready(image_dir):
        raise LabError(
            f"lab --boot: no {image.OS_NAME} image in {image_dir}: build it first with "
            "`eniplan lab --boot --prepare-image` (the one step that needs the network)"
        )


STACKS = ("networkd", "networkmanager")


def stack_for(target: str, persist: str, stack: str | None = None) -> str:
    """The network stack that manages the ENIs on the booted OS: `stack` when given (the
    script, the agent and the cloud-init persistences that install no network config run
    on either), else the one the target's files are for (networkd for netplan)."""
    chosen = persist if target == "cloud-init" else target
    own = {"networkmanager": "networkmanager", "networkd": "networkd", "netplan": "networkd"}
    needs = own.get(chosen)
    if stack is None:
        return needs or "networkd"
    if stack not in STACKS:
        raise LabError(f"lab --boot: --stack {stack}: the lab boots {', '.join(STACKS)}")
    if needs is not None and needs != stack:
        what = f"--persist {chosen}" if target == "cloud-init" else f"--target {chosen}"
        raise LabError(f"lab --boot: {what} is configuration for {needs}, not --stack {stack}")
    return stack


@dataclass(frozen=True)
class Delivery:
    """How a target reaches the OS: user data through IMDS and cloud-init, or files as
    an image build or a config-management tool puts them (cloud-init still runs, with no
    user data, as on EC2): on the instance's disk before its first boot (`before_boot`),
    or on the running OS after it, then activated. `activate`: the commands that apply
    the files on the running OS (the idempotent proof runs them twice)."""

    user_data: bytes | None
    files: dict[str, tuple[bytes, int]]
    activate: tuple[str, ...]
    before_boot: bool = False


# Files the OS applies from its first boot on. NetworkManager's keyfiles are installed
# after it: with them on the disk at the first boot, cloud-init's activation of its own
# profile for the primary ENI (nmcli connection up) overrides eniplan's until the next
# reboot (measured: proofs 1-4 fail for the primary ENI's address after the first boot,
# hold after the reboot and the reconfigure).
BEFORE_FIRST_BOOT = ("netplan", "networkd")


def check_target(target: str) -> None:
    if target == "ifcfg":
        raise LabError(
            "lab --boot --target ifcfg: ifcfg needs a RHEL-family image, and the lab builds "
            f"{image.OS_NAME} only"
        )
    if target not in BOOT_TARGETS:
        raise LabError(f"lab --boot: --target {target}: the lab boots {', '.join(BOOT_TARGETS)}")


def delivery(target: str, persist: str, plan: InstancePlan) -> Delivery:
    if target == "cloud-init":
        if persist not in PERSISTS:
            raise LabError(f"lab --boot: --persist {persist}: the lab boots {', '.join(PERSISTS)}")
        (file,) = render("cloud-init", plan, RenderOptions(persist=persist)).files
        return Delivery(_bytes(file.content), {}, (f"sh {RUNCMD}",))
    if target == "dynamic":
        (file,) = dynamic.render(plan.table_base, guard=plan.guard is not None).files
        return Delivery(_bytes(file.content), {}, (f"sh {RUNCMD}",))
    if target == "ssm":
        from eniplan import ssm

        script = "\n".join(ssm.command_lines(plan)) + "\n"
        return Delivery(None, {SSM_SCRIPT: (script.encode(), 0o700)}, (f"sh {SSM_SCRIPT}",))
    check_target(target)
    rendering = render(target, plan, RenderOptions())
    files = {f.path: (_bytes(f.content), f.mode) for f in rendering.files}
    return Delivery(None, files, rendering.activate, before_boot=target in BEFORE_FIRST_BOOT)


def _bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


def mask_files(stack: str) -> list[str]:
    return [f"/etc/systemd/system/{unit}" for unit in (*MASKED[stack], *LAB_MASKED)]


def power_cycle(lab: Lab) -> None:
    """What a reboot clears in the kernel, in the instance namespace: ENI links down with
    no address and the default netdev group, every rule but the kernel's three, every
    route of a table other than main and local (main's go with the links)."""
    t = lab.topology
    lines = []
    for eni in t.enis:
        lines += [
            f"link set dev {eni.ifname} down",
            f"addr flush dev {eni.ifname}",
            f"link set dev {eni.ifname} group default",
        ]
    shell.ip_batch(t.instance_ns, lines)
    for family in ("-4", "-6"):
        rules = shell.ip_json(t.instance_ns, family, "rule", "show")
        batch = [
            f"rule del priority {rule['priority']}"
            for rule in rules
            if int(rule.get("priority", 0)) not in (0, 32766, 32767)
        ]
        tables = {
            str(route.get("table"))
            for route in shell.ip_json(t.instance_ns, family, "route", "show", "table", "all")
            if str(route.get("table", "main")) not in ("main", "local")
        }
        batch += [f"route flush table {table}" for table in sorted(tables)]
        text = "".join(f"{line}\n" for line in batch)
        if text:
            shell.run(
                t.instance_ns, ["ip", family, "-force", "-batch", "-"], input=text, check=False
            )


def _until_round_holds(lab: Lab, wait: float) -> tuple[dict[str, Outcome], float]:
    """Proofs 1-4, again until they hold or `wait` seconds have passed; the last round and
    the seconds it took to hold."""
    started = time.monotonic()
    while True:
        outcomes = measure(lab)
        elapsed = time.monotonic() - started
        if all(o.passed for o in outcomes.values()) or elapsed >= wait:
            return outcomes, elapsed
        time.sleep(0.5)


def _until_state_returns(lab: Lab, state: Sequence[str], wait: float) -> tuple[str, ...]:
    """What differs from `state`, read again until nothing does or `wait` seconds have
    passed. An activation may remove the ENIs' state and add it back as leases return
    (`netplan apply` does, measured: the second ENI's address and routes were missing
    for a moment); idempotent means the settled state is the same, so a difference that
    lasts past `wait` fails, one the OS repairs within it does not."""
    started = time.monotonic()
    while True:
        changes = state_changes(state, routing_snapshot(lab.topology.instance_ns))
        if not changes or time.monotonic() - started >= wait:
            return changes
        time.sleep(0.5)


def _activate(os_: Container, commands: Sequence[str]) -> tuple[str, ...]:
    """The commands inside the OS; a failure as one line per command."""
    failures = []
    for command in commands:
        done = os_.run(["sh", "-c", command], check=False, timeout=60)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            failures.append(f"{command}: exit {done.returncode}: {last[0]}")
    return tuple(failures)


def reconfigure_commands(os_: Container, stack: str, lab: Lab) -> list[str]:
    """What the OS's network manager runs to reconfigure every ENI link."""
    links = " ".join(eni.ifname for eni in lab.topology.enis)
    if stack == "networkd":
        return [f"networkctl reconfigure {links}", "netplan apply"]
    # NetworkManager: each ENI's applied profile again (`device reapply`), each profile
    # re-activated (`connection up`: the link's addresses and routes go and come back),
    # then the daemon restarted (what cloud-init's final stage does on the RHEL family)
    reapply, up = [], []
    for eni in lab.topology.enis:
        done = os_.run(
            ["nmcli", "-g", "GENERAL.CONNECTION", "device", "show", eni.ifname], check=False
        )
        profile = done.stdout.strip()
        if profile:
            reapply.append(f"nmcli device reapply {shlex.quote(eni.ifname)}")
            up.append(f"nmcli connection up {shlex.quote(profile)}")
    return [*reapply, *up, "systemctl restart NetworkManager"]


CLOUD_INIT_RESULT = "/run/cloud-init/result.json"  # written when its last stage ends


def cloud_init_failures(root: Path) -> tuple[str, ...]:
    """What `cloud-init status` reports as errors, read from the file it reads (without
    starting cloud-init's Python once more): none, or one line."""
    try:
        result = json.loads(inside(root, CLOUD_INIT_RESULT).read_text())
        errors = list(result["v1"]["errors"])
    except (OSError, ValueError, KeyError, TypeError):
        return (f"cloud-init: no result in {CLOUD_INIT_RESULT} (it did not finish)",)
    return (f"cloud-init: {shell.short('; '.join(map(str, errors)))}",) if errors else ()


def udev_in(os_: Container) -> Udev:
    """What udev would do on a link event in the booted OS, which has no udev daemon
    (nspawn's /sys is read-only): the RUN+= commands of the OS's own rules that match
    the event, run inside it; then the jobs they queued (the units they started) are
    waited for, and a unit that did not succeed fails the event."""

    def event(action: str, link: str) -> install.Applied:
        commands = install.udev_runs(os_.root, action, link)
        what = f"udev {action} {link} (emulated)"
        if not commands:
            return install.Applied(what, 1, f"no udev rule of the OS runs anything for {link}")
        outputs = []
        for command in commands:
            done = os_.run(["sh", "-c", command], check=False)
            outputs.append((done.stdout + done.stderr).strip())
            if done.returncode != 0:
                return install.Applied(command, done.returncode, "\n".join(outputs))
        deadline = time.monotonic() + HOTPLUG_WAIT
        while os_.run(["systemctl", "list-jobs", "--no-legend"], check=False).stdout.strip():
            if time.monotonic() > deadline:
                return install.Applied(what, 124, f"jobs still queued after {HOTPLUG_WAIT:.0f} s")
            time.sleep(0.2)
        for unit in sorted({u for c in commands for u in _UNIT.findall(c)}):
            result = os_.run(["systemctl", "show", "-P", "Result", unit], check=False)
            outputs.append(os_.sh(f"journalctl -b -o cat -u {shlex.quote(unit)}", check=False))
            if result.stdout.strip() != "success":
                return install.Applied(unit, 1, f"{unit}: {result.stdout.strip()}")
        return install.Applied(what, 0, "\n".join(o for o in outputs if o))

    return event


_UNIT = re.compile(r"[A-Za-z0-9@_.:-]+\.service\b")


def run_boot_lab(
    instance: Instance,
    inventory: Inventory,
    plan_options: PlanOptions,
    options: LabOptions,
    *,
    run_id: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> LabReport:
    """`lab --boot`: the lab's VPC with a booted Debian 12 as the instance; the target
    delivered as on EC2; proofs after the first boot, idempotent, reboot, reconfigure."""
    check_ready(options.image_dir)
    plan = plan_instance(instance, inventory, plan_options)
    if plan.status != MANAGED:
        raise LabError(f"{instance.instance_id}: {plan.status}: {plan.reason}")
    chosen = delivery(options.target, options.persist, plan)
    stack = stack_for(options.target, options.persist, options.stack)
    topology = design(
        plan,
        run_id or shell.unique_run_id(),
        source_dest_check=options.source_dest_check,
        rp_filter=options.rp_filter,
        unchecked=[eni.mac for eni in instance.enis if not eni.source_dest_check],
    )
    clock = _Clock(progress)
    total_start = time.monotonic()
    outputs: list[str] = []
    after: dict[str, Outcome] = {}
    lab = Lab(topology, booted=True)
    with lab:
        lab.serve_dhcp()
        lab.serve_imds(metadata_tree(instance, inventory), user_data=chosen.user_data)
        os_ = Container(lab, BootedOs(options.image_dir, stack))
        lab.on_close(os_.stop)
        install_files(os_.upper, first_boot_files(stack))
        if chosen.before_boot:
            install_files(os_.upper, chosen.files)
        install_shims(os_.lower, os_.upper)
        for path in mask_files(stack):
            target = inside(os_.upper, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to("/dev/null")
        clock.lap("build")

        os_.start()
        clock.lap("boot")
        failures: tuple[str, ...] = ()
        failures += cloud_init_failures(os_.root)
        if chosen.files and not chosen.before_boot:
            install_files(os_.root, chosen.files)
            failures += _activate(os_, chosen.activate)
        outputs.append(os_.sh("journalctl -b -o cat -u 'eniplan*' --no-pager", check=False))
        first = measure(lab)
        for key, outcome in first.items():
            after[key] = Outcome(outcome.checks, (*failures, *outcome.failures))
        clock.lap("first-proof")

        # applied twice: the user data's runcmd ran at the first boot, files installed
        # after it were activated then; files on the disk before it are applied by their
        # own command now (the boot is no activation: on Debian 12 the first boot leaves
        # the primary ENI's DHCP route without the metric that any later `netplan apply`
        # gives it, with no eniplan file at all; measured)
        once = _activate(os_, chosen.activate) if chosen.before_boot else ()
        _until_round_holds(lab, RECONFIGURE_WAIT)
        state = routing_snapshot(topology.instance_ns)
        again = _activate(os_, chosen.activate)
        changes = _until_state_returns(lab, state, RECONFIGURE_WAIT)
        after["idempotent"] = Outcome(1, (*once, *again, *changes))
        clock.lap("idempotent")

        os_.reboot(lambda: power_cycle(lab), lambda: clock.lap("shutdown"))
        clock.lap("reboot")
        if options.target == "dynamic":  # the agent's boot run after the reboot
            outputs.append(os_.sh("journalctl -b -o cat -u eniplan-agent --no-pager", check=False))
        rebooted, _ = _until_round_holds(lab, 0.0)
        after["reboot"] = _combined(rebooted, (), 1)
        clock.lap("reboot-proof")

        extra: list[str] = []
        outcomes: dict[str, Outcome] = {}
        for command in reconfigure_commands(os_, stack, lab):
            failed = _activate(os_, [command])
            outcomes, _ = _until_round_holds(lab, RECONFIGURE_WAIT)
            extra += failed
            for key in ROUND_PROOFS:
                extra += [f"after {command}: {line}" for line in outcomes[key].failures]
        total = sum(outcomes[key].checks for key in ROUND_PROOFS) if outcomes else 0
        after["reconfigure"] = Outcome(total + 1, tuple(extra))
        clock.lap("reconfigure")
        proofs = BOOT_PROOFS
        if options.target == "dynamic":
            proofs = (*BOOT_PROOFS, HOTPLUG_PROOF)
            after["hotplug"] = _prove_hotplug(
                lab, instance, inventory, plan, plan_options, "dynamic", outputs, udev_in(os_)
            )
            clock.lap("hotplug")
    clock.lap("teardown")
    return lab_report(
        instance, options.target, topology.enis, lab, proofs, {}, after, clock, total_start,
        outputs, booted_os=image.OS_NAME,
    )  # fmt: skip
