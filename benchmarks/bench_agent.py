"""The dynamic-mode agent on the largest instance, against amazon-ec2-net-utils and `ip -batch`.

Builds 15 ENIs x 50 IPv4 addresses (tests/helpers/builders.py), serves their meta-data from the
fake IMDSv2 (tests/helpers/fake_imds.py, which logs every request) in a namespace of its own at
169.254.169.254, and runs the agent as the dynamic user data installs it (its archive
unpacked, `python3 -Es`) in an instance namespace with one veth per ENI. In one run:

  boot run          the whole run, Python start-up included (median of --repeat, each in
                    fresh namespaces), its ENIs from cloud-init's crawl of this boot
                    (/run/cloud-init/instance-data.json under --root, as cloud-init 22.4
                    writes it: tests/helpers/dynamic.cloud_init_crawl); target <= 0.5 s
  boot from IMDS    the same run without the crawl (where it is in doubt): every key read
                    from IMDS, paced at 20 requests a second
  ip -batch bound   the same changes fed once to `ip -batch` + `ip -6 -batch` (as in
                    bench_iproute2.py), in fresh namespaces, alternating with the boot runs
  coldplug replay   udev's `add` for every link after the boot run; target: boot + replay
                    <= 1.5 x one boot run's requests
  reconcile         a run with nothing changed (it must only read), then one after five
                    addresses were assigned to the last ENI (they must be routed)
  late ENI          a hotplugged ENI that IMDS lists 3 s after its link appeared
Requests and the peak rate (the most requests in any one-second window; target <= 20
for every run) come from the IMDS's log; processes from `strace -f` (separate,
untimed runs).

amazon-ec2-net-utils 2.7.4 (bin/setup-policy-routes.sh, lib/lib.sh, its units), counted
from its code for IPv4-only ENIs on an instance type with the network-card key: udev starts
one `policy-routes@IF` per ENI (a oneshot that stays active, so the coldplug replay adds
nothing), each `setup_interface` makes 8 requests for the primary (token; `mac` in
_get_network_card, _get_device_number and twice in the rules loop; subnet-ipv4-cidr-block;
interface-id; local-ipv4s) and 12 for another ENI (also network-card, device-number,
local-ipv4s and ipv4-prefix for its rules): 12N-4 at boot. Its timer runs
`refresh-policy-routes@IF` for every ENI every 60 s: 6 requests for the primary, 10 for
another (no subnet CIDR or interface-id): 10N-4 a minute. Every request is one curl
process, so those are lower bounds of its processes too.

    python benchmarks/bench_agent.py             # 15 ENIs x 50 addresses, 5 boot runs
    python benchmarks/bench_agent.py --quick     # 4 ENIs x 10 addresses, 3 boot runs
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # eniplan and tests.helpers from this checkout
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_iproute2 import Namespace as BoundNamespace  # noqa: E402
from bench_iproute2 import bound_batches, children_cpu  # noqa: E402

from eniplan.lab.imds import metadata_tree, write_tree  # noqa: E402
from eniplan.plan import InstancePlan, PlanOptions, plan_instance  # noqa: E402
from eniplan.render import dynamic  # noqa: E402
from tests.helpers.builders import largest_instance  # noqa: E402
from tests.helpers.dynamic import cloud_init_crawl  # noqa: E402

BOOT_TARGET = 0.5  # seconds
IMDS = "169.254.169.254"
MACS = "network/interfaces/macs/"
ENV = dict(os.environ, ENIPLAN_RA_WAIT="0")  # no IPv6 router in these namespaces
# python3 as systemd's PATH finds it on an instance (not a version manager's shim)
PYTHON = (
    shutil.which("python3", path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin") or "python3"
)


def net_utils_requests(n: int) -> tuple[int, int]:
    """(one boot, one refresh round) of amazon-ec2-net-utils for n IPv4-only ENIs."""
    boot = 8 + 12 * (n - 1)
    refresh = 6 + 10 * (n - 1)
    return boot, refresh


class Lab:
    """An instance namespace with one veth per ENI, an IMDS namespace with the fake IMDS,
    and the agent unpacked from the dynamic user data."""

    def __init__(self, plan: InstancePlan, tree: dict[str, str], work: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.ns, self.imds_ns = f"eniplan-ba-{tag}", f"eniplan-bi-{tag}"
        self.plan, self.work = plan, work
        self.tree, self.tree_file, self.log = dict(tree), work / "tree.json", work / "imds.log"
        self.links = [f"ens{5 + i}" for i in range(len(plan.enis))]
        self.lib, self.state, self.sysfs = work / "lib", work / "state.json", work / "sysfs"
        self.crawl = work / "run/cloud-init/instance-data.json"
        self.server: subprocess.Popen[str] | None = None
        self.cpu = 0.0  # CPU seconds of the last agent run

    def __enter__(self) -> Lab:
        for name in (self.ns, self.imds_ns):
            subprocess.run(["ip", "netns", "add", name], check=True)
        try:
            self._build()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _build(self) -> None:
        lines = ["link set dev lo up"]
        for i, (eni, link) in enumerate(zip(self.plan.enis, self.links, strict=True)):
            lines += [f"link add {link} address {eni.mac} type veth peer name p{i}",
                      f"link set dev p{i} up", f"link set dev {link} up"]  # fmt: skip
            if eni.is_primary and eni.primary_ipv4 and eni.subnet_cidr:
                lines.append(f"addr add {eni.primary_ipv4}/{eni.subnet_cidr.prefixlen} dev {link}")
        lines += [f"link add imds0 type veth peer name imds1 netns {self.imds_ns}",
                  "addr add 169.254.0.1/16 dev imds0", "link set dev imds0 up"]  # fmt: skip
        self.ip(self.ns, lines)
        self.ip(
            self.imds_ns,
            ["link set dev lo up", f"addr add {IMDS}/16 dev imds1", "link set dev imds1 up"],
        )
        with tarfile.open(fileobj=io.BytesIO(lzma.decompress(dynamic.archive()))) as tar:
            tar.extractall(self.lib, filter="data")
        subprocess.run([PYTHON, "-m", "compileall", "-q", str(self.lib)], check=True)  # runcmd's
        write_tree(self.tree_file, self.tree)
        self.crawl.parent.mkdir(parents=True)  # cloud-init's crawl at this boot
        self.crawl.write_text(json.dumps(cloud_init_crawl(self.tree)))
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        command = [sys.executable, "-m", "tests.helpers.fake_imds", str(self.tree_file),
                   IMDS, "80", str(self.log)]  # fmt: skip
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.imds_ns, *command],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.server.stdout is not None
        if self.server.stdout.readline().strip() != "ready":
            raise RuntimeError("the fake IMDS did not start")

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=10)
        for name in (self.ns, self.imds_ns):
            subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)

    @staticmethod
    def ip(ns: str, lines: list[str]) -> None:
        subprocess.run(
            ["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True
        )

    def requests(self) -> list[float]:
        """The times of the requests IMDS answered so far (and a fresh log)."""
        times = [float(line.split()[0]) for line in self.log.read_text().splitlines()]
        self.log.write_text("")
        return times

    def command(self, *args: str) -> list[str]:
        code = (
            f"import sys; sys.path.insert(0, {str(self.lib)!r})\n"
            "from eniplan.agent.main import main; sys.exit(main())"
        )
        return ["ip", "netns", "exec", self.ns, PYTHON, "-Es", "-c", code, "--root",
                str(self.work), "--lock", str(self.work / "lock"), "--state", str(self.state),
                *args]  # fmt: skip

    def agent(self, *args: str, strace: Path | None = None) -> tuple[float, str]:
        command = self.command(*args)
        if strace is not None:  # (strace inside the namespace: ip netns exec is not counted)
            command[4:4] = ["strace", "-f", "-qq", "-e", "trace=process", "-o", str(strace)]
        cpu = children_cpu()
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=120)
        seconds = time.perf_counter() - started
        self.cpu = children_cpu() - cpu  # the agent, its engine and ip (not the IMDS)
        if done.returncode != 0:
            raise RuntimeError(f"agent {' '.join(args)}: exit {done.returncode}: {done.stderr}")
        return seconds, done.stderr + done.stdout

    def dump(self) -> str:
        return "".join(
            subprocess.run(
                ["ip", "-n", self.ns, family, *what], capture_output=True, text=True, check=True
            ).stdout
            for family in ("-4", "-6")
            for what in (["rule", "show"], ["route", "show", "table", "all"])
        )


def eniplans(dump: str) -> list[str]:
    """The rules and the protocol-247 routes of a dump (not the kernel's own routes)."""
    return [line for line in dump.splitlines() if "lookup" in line or "proto 247" in line]


def processes(log: Path) -> int:
    """Processes in an strace -f log: the distinct PIDs."""
    return len({line.split()[0] for line in log.read_text().splitlines() if line.strip()})


def peak_rate(times: list[float]) -> int:
    """The most requests in any one-second window."""
    times = sorted(times)
    best, start = 0, 0
    for end, now in enumerate(times):
        while now - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


LATE = 3.0  # seconds between the late ENI's link and its listing


def late_eni(plan: InstancePlan, tree: dict[str, str], work: Path) -> dict[str, float]:
    """A hotplugged ENI that IMDS lists LATE seconds after its link appeared: the requests
    while the agent waits for it, their peak rate, and the time to its routing."""
    work.mkdir()
    late = plan.enis[-1]
    early = {k: v for k, v in tree.items() if not k.startswith(f"{MACS}{late.mac}/")}
    with Lab(plan, early, work) as lab:
        lab.agent()  # the boot run: the late ENI's link is there, IMDS does not list it
        lab.requests()
        for eni, link in zip(plan.enis, lab.links, strict=True):  # ENIs are devices
            (lab.sysfs / link / "device").mkdir(parents=True)
            (lab.sysfs / link / "address").write_text(eni.mac + "\n")
        command = lab.command("--hotplug", lab.links[-1], "--sysfs", str(lab.sysfs))
        started = time.monotonic()
        waiting = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
        )
        time.sleep(LATE)
        write_tree(lab.tree_file, tree)
        out, err = waiting.communicate(timeout=120)
        seconds = time.monotonic() - started
        if waiting.returncode != 0:
            raise RuntimeError(f"the late ENI's hotplug run: {err}")
        times = lab.requests()
        rules = subprocess.run(
            ["ip", "-n", lab.ns, "rule"], capture_output=True, text=True, check=True
        ).stdout
        if f"lookup {late.table}" not in rules:
            raise RuntimeError(f"the late ENI was not routed: {err}{out}")
    return {"requests": len(times), "peak": peak_rate(times), "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enis", type=int, default=15)
    parser.add_argument("--addresses", type=int, default=50, help="IPv4 addresses per ENI")
    parser.add_argument("--repeat", type=int, help="boot runs (default 5, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="4 ENIs x 10 addresses")
    args = parser.parse_args(argv)
    if args.quick:
        args.enis, args.addresses = 4, 10
    repeat = args.repeat or (3 if args.quick else 5)
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("strace") is None:
        print("error: needs root, iproute2 and strace (network namespaces)", file=sys.stderr)
        return 2
    inventory = largest_instance(args.enis, args.addresses)
    instance = inventory.instances[0]
    plan = plan_instance(instance, inventory, PlanOptions())
    tree = metadata_tree(instance, inventory)
    n = len(plan.enis)
    boots: list[float] = []
    boot_cpus: list[float] = []
    bound_cpus: list[float] = []
    bounds: list[float] = []
    starts: list[float] = []
    with tempfile.TemporaryDirectory(prefix="eniplan-bench-agent-") as temp:
        work = Path(temp)
        for run in range(repeat):  # alternating, so drift in the machine hits both alike
            with BoundNamespace(plan) as ns:
                setup, changes, changes6 = bound_batches(plan, ns.links)
                (work / "all4").write_text("\n".join(setup + changes) + "\n")
                (work / "rules6").write_text("\n".join(changes6) + "\n")
                (work / "bound.sh").write_text(
                    f"ip -batch {work / 'all4'} && ip -6 -batch {work / 'rules6'}\n"
                )
                bounds.append(ns.timed_sh(work / "bound.sh")[0])
                bound_cpus.append(ns.cpu)
                bound_state = ns.dump()
            directory = work / f"run{run}"
            directory.mkdir()
            with Lab(plan, tree, directory) as lab:
                started = time.perf_counter()
                subprocess.run(["ip", "netns", "exec", lab.ns, PYTHON, "-Es", "-c", "pass"],
                               check=True)  # fmt: skip
                starts.append(time.perf_counter() - started)
                seconds, output = lab.agent()
                boots.append(seconds)
                boot_cpus.append(lab.cpu)
                if run == 0:
                    if eniplans(lab.dump()) != eniplans(bound_state):
                        raise RuntimeError("the agent's rules and routes differ from the bound's")
                    boot_times = lab.requests()
                    boot_requests = len(boot_times)
                    if "the rest from cloud-init" not in output:
                        raise RuntimeError(
                            f"the boot run did not take cloud-init's crawl: {output}"
                        )
                    for link in lab.links:  # udev's coldplug replay
                        lab.agent("--hotplug", link)
                    replay = len(lab.requests())
                    state = lab.dump()
                    seconds_reconcile, output = lab.agent("--reconcile")
                    idle = lab.requests()
                    # eniplan's rules and routes (the kernel adds link-local ones as it likes)
                    if eniplans(lab.dump()) != eniplans(state) or "nothing changed" not in output:
                        raise RuntimeError(f"a reconcile with nothing new changed: {output}")
                    last = plan.enis[-1]
                    assert last.subnet_cidr is not None
                    new = [last.subnet_cidr.broadcast_address - 1 - k for k in range(5)]
                    key = f"{MACS}{last.mac}/local-ipv4s"
                    lab.tree[key] += "".join(f"\n{address}" for address in new)
                    write_tree(lab.tree_file, lab.tree)
                    lab.agent("--reconcile")
                    rules = subprocess.run(
                        ["ip", "-n", lab.ns, "rule"], capture_output=True, text=True, check=True
                    ).stdout
                    if not all(f"from {address} lookup {last.table}" in rules for address in new):
                        raise RuntimeError("the reconcile run did not route the new addresses")
                    changed = len(lab.requests())
                    traced = {}
                    for label, extra in (("reconcile", ["--reconcile"]), ("boot", [])):
                        log = directory / f"strace-{label}"
                        if label == "boot":
                            lab.state.unlink()
                        lab.agent(*extra, strace=log)
                        traced[label] = processes(log)
                    lab.requests()
                    lab.state.unlink()  # a boot run with no crawl: every key from IMDS
                    lab.crawl.unlink()
                    imds_seconds, output = lab.agent()
                    imds_times = lab.requests()
                    if "from cloud-init" in output:
                        raise RuntimeError("the boot run without a crawl did not read IMDS")
        late = late_eni(plan, tree, work / "late")
    boot, bound = statistics.median(boots), statistics.median(bounds)
    ours_boot = boot_requests
    theirs_boot, theirs_refresh = net_utils_requests(n)
    ok = boot <= BOOT_TARGET and ours_boot <= 10 * n + 10 and replay <= 1.5 * boot_requests
    peaks = [peak_rate(times) for times in (boot_times, imds_times, idle)] + [late["peak"]]
    ok = ok and max(peaks) <= 20
    print(
        f"boot run, {n} ENIs x {args.addresses} addresses: {boot:.3f} s "
        f"(target <= {BOOT_TARGET}; runs: {', '.join(f'{b:.3f}' for b in boots)}), its ENIs "
        f"from cloud-init's crawl, peak {peak_rate(boot_times)} requests/s"
    )
    print(
        f"boot run from IMDS (no crawl): {imds_seconds:.3f} s, {len(imds_times)} requests "
        f"(4+10N = {4 + 10 * n}), peak {peak_rate(imds_times)} requests/s (target <= 20)"
    )
    start = statistics.median(starts)
    print(f"ip -batch bound: {bound * 1000:.1f} ms; boot run / bound: {boot / bound:.1f}")
    boot_cpu, bound_cpu = statistics.median(boot_cpus), statistics.median(bound_cpus)
    print(
        f"CPU time (user + system; the agent, its engine and ip, not the IMDS): boot run "
        f"{boot_cpu * 1000:.1f} ms, ip -batch bound {bound_cpu * 1000:.1f} ms"
    )
    print(
        f"Python start-up ({PYTHON} -Es -c pass): {start * 1000:.1f} ms; boot run - start-up: "
        f"{(boot - start) * 1000:.1f} ms = {(boot - start) / bound:.1f} x the bound"
    )
    print(
        f"boot run requests: {ours_boot} (target <= 10N+10 = {10 * n + 10}; "
        f"amazon-ec2-net-utils: 12N-4 = {theirs_boot}), on 1 connection"
    )
    print(
        f"boot + coldplug replay: {ours_boot + replay} requests = "
        f"{(ours_boot + replay) / ours_boot:.2f} x one boot run (target <= 1.5)"
    )
    print(
        f"reconcile, nothing new: {len(idle)} requests (2+4N = {2 + 4 * n}; "
        f"amazon-ec2-net-utils' refresh: 10N-4 = {theirs_refresh} a minute), "
        f"{seconds_reconcile:.3f} s, peak {peak_rate(idle)} requests/s, nothing changed"
    )
    print(f"reconcile, 5 addresses assigned: {changed} requests, routed")
    print(
        f"late ENI (listed after {LATE} s): {late['requests']} requests while waiting, "
        f"peak {late['peak']} requests/s (target <= 20), routed in {late['seconds']:.2f} s"
    )
    print(
        f"processes: boot run {traced['boot']}, reconcile {traced['reconcile']} "
        f"(amazon-ec2-net-utils: at least {theirs_boot} at boot, one curl per request, "
        f"and {theirs_refresh} a minute)"
    )
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
