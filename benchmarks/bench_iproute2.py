"""What the iproute2 script costs on the largest instance, against `ip -batch` alone.

Builds a synthetic plan of 15 ENIs x 50 IPv4 addresses (one subnet each, every ENI with its
primary and 49 secondary addresses; the primary ENI's primary address is DHCP's, as on EC2)
and times, each in fresh network namespaces (veth links with the plan's MACs, the DHCP
address in place), the median of --repeat runs:

  lower bound   the same changes as ip commands, fed once to `ip -batch` (links, addresses,
                routes, IPv4 rules, IPv4 guard) plus one `ip -6 -batch` (the IPv6 guard
                rule: ip takes a rule's family from -6 only): the fewest ip processes that
                can make them;
  rules+routes  the narrower bound: only the rules and routes (addresses and links
                already in place before timing);
  first run     the script on the fresh namespace;
  second run    the script again on the configured namespace (must change nothing).

and, in the same runs, the floors of any script that reads the state before it changes
it (the engine's own read commands, taken from the script, with nothing else of it):

  reads         the two `ip` reads (ip -6 alone lists IPv6 rules), each captured as the
                script captures it, on the configured namespace;
  lock + reads  the same after taking the lock as the script does (flock): the floor of
                a second run;
  first floor   lock, the IPv4 read, the IPv6 read that adds the IPv6 guard (as a first
                run does) and the bound's IPv4 `ip -batch`, on a fresh namespace: the
                floor of a first run.

A target under its floor cannot be met on that machine by reading the state once and
comparing; the ratios above the floors are what the script's shell work costs.

Every timing is one `ip netns exec NS sh ...` process, so the namespace switch and the shell
start are in the bound as in the script. Root and network namespaces are needed; nothing in
the root namespace is touched.

    python benchmarks/bench_iproute2.py                # 15 ENIs x 50 addresses, 5 runs
    python benchmarks/bench_iproute2.py --quick        # 4 ENIs x 10 addresses, 3 runs
    python benchmarks/bench_iproute2.py --shell bash   # as on RHEL, where sh is bash

The rules+routes ratios are for information: the script must also add the addresses, which
that bound leaves out, so it cannot come near it; the target is against the full bound.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # eniplan and tests.helpers from this checkout

from eniplan.plan import InstancePlan  # noqa: E402
from eniplan.render import cloudinit  # noqa: E402
from eniplan.render.base import RenderOptions  # noqa: E402
from eniplan.render.iproute2 import PROTOCOL, script  # noqa: E402
from tests.helpers.builders import largest_instance_plan  # noqa: E402

FIRST_TARGET = 1.2  # the first run, against the lower bound
SECOND_TARGET = 0.5  # the second run (nothing to do: read, compare, change nothing)


# --- the lower bound: the same changes, in `ip -batch` form ---------------------------


def bound_batches(plan: InstancePlan, names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(links and addresses, IPv4 routes and rules and guard, IPv6 rules) as batch lines."""
    setup: list[str] = []
    changes: list[str] = []
    changes6: list[str] = []
    for eni, name in zip(plan.enis, names, strict=True):
        if plan.guard:
            setup.append(f"link set dev {name} group {plan.guard.group}")
        setup += [f"addr replace {address} dev {name}" for address in eni.ipv4_addresses]
        for route in eni.routes:
            destination = "0.0.0.0/0" if route.is_default else str(route.destination)
            via = f" via {route.gateway}" if route.gateway else ""
            source = f" src {route.source}" if route.source else ""
            changes.append(
                f"route replace {destination}{via} dev {name}{source} table {route.table} "
                f"proto {PROTOCOL}"
            )
        for rule in eni.rules:
            line = (
                f"rule add from {rule.source} lookup {rule.table} priority {rule.priority} "
                f"protocol {PROTOCOL}"
            )
            (changes6 if rule.family == 6 else changes).append(line)
    if plan.guard:
        guard = (
            f"rule add from all lookup main suppress_ifgroup {plan.guard.group} "
            f"priority {plan.guard.priority} protocol {PROTOCOL}"
        )
        changes.append(guard)
        changes6.append(guard)
    return setup, changes, changes6


# --- the floors: the script's reads, and nothing else of it ------------------------


def engine_reads(text: str) -> tuple[str, str, str, str]:
    """(the plan's variables, the lock, the IPv4 read, the IPv6 read) of a rendered
    script, as it runs them: cut out of the engine, so the floors follow it."""
    header = text[: text.index("# --- the engine")]
    lines = text.splitlines()
    lock_file = next(line for line in lines if line.startswith("LOCK="))
    (take,) = (line.strip() for line in lines if "flock -w" in line)  # where flock(1) is
    lock = f"{lock_file}\n{take.removesuffix(' && return 0')}\n"
    reads = []
    for start in ("state=$(\n", "state6=$(\n"):
        begin = text.index(start)
        read = text[begin : text.index("\n)", begin) + 2]
        if "ip -" not in read or "<<EOF" not in read:
            raise RuntimeError(f"the script's read {start.strip()} is not what was expected")
        reads.append(read)
    return header, lock, reads[0], reads[1]


def floor_scripts(text: str, bound_ipv4: Path) -> dict[str, str]:
    """The floor scripts by name (see the module's docstring)."""
    header, lock, read4, read6 = engine_reads(text)
    return {
        "reads": f"{header}try=''\n{read4}\n{read6}\n",
        "lock + reads": f"{header}{lock}try=''\n{read4}\n{read6}\n",
        # try=$GUARD: the IPv6 read adds the IPv6 guard, as a first run's does
        "first floor": f"{header}{lock}try=$GUARD\n{read4}\n{read6}\nip -batch {bound_ipv4}\n",
    }


# --- namespaces ---------------------------------------------------------------------


class Namespace:
    """A fresh namespace with one veth per ENI (MAC from the plan) and DHCP's address."""

    def __init__(self, plan: InstancePlan) -> None:
        self.name = f"eniplan-bench-{uuid.uuid4().hex[:10]}"
        self.cpu = 0.0  # CPU seconds of the last timed_sh
        self.plan = plan
        self.links = [f"ens{5 + index}" for index in range(len(plan.enis))]

    def __enter__(self) -> Namespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            lines = ["link set dev lo up"]
            for index, (eni, link) in enumerate(zip(self.plan.enis, self.links, strict=True)):
                lines += [
                    f"link add {link} address {eni.mac} type veth peer name p{index}",
                    f"link set dev p{index} up",
                    f"link set dev {link} up",
                ]
                if eni.is_primary and eni.primary_ipv4 and eni.subnet_cidr:
                    address = IPv4Interface(f"{eni.primary_ipv4}/{eni.subnet_cidr.prefixlen}")
                    lines.append(f"addr add {address} dev {link}")
            self.batch(lines)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False, capture_output=True)

    def batch(self, lines: list[str], family: str = "") -> None:
        command = ["ip", "-n", self.name, *([family] if family else []), "-batch", "-"]
        subprocess.run(command, input="\n".join(lines) + "\n", text=True, check=True)

    def timed_sh(
        self, path: Path, shell: str = "sh"
    ) -> tuple[float, subprocess.CompletedProcess[str]]:
        command = ["ip", "netns", "exec", self.name, shell, str(path)]
        # the script's lock next to it, in the benchmark's directory: never the host's
        # /run/eniplan-routing.lock (a run on the host would hold the benchmark up)
        env = dict(os.environ, ENIPLAN_LOCK=str(path.with_name("eniplan-routing.lock")))
        cpu = children_cpu()
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        elapsed = time.perf_counter() - start
        self.cpu = children_cpu() - cpu
        if result.returncode != 0:
            raise RuntimeError(f"{path.name} exited {result.returncode}: {result.stderr}")
        return elapsed, result

    def dump(self) -> str:
        parts = []
        for family in ("-4", "-6"):
            for what in (["rule", "show"], ["route", "show", "table", "all"]):
                parts.append(
                    subprocess.run(
                        ["ip", "-n", self.name, family, *what],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                )
        return "".join(parts)


def children_cpu() -> float:
    """User + system seconds of the finished child processes (theirs included): what a run
    costs the machine, nearly unchanged by other jobs on it (its wall time is not)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Results:
    """Wall and CPU seconds of each timed run, by what ran (`measure`'s labels)."""

    wall: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, label: str, elapsed: float, ns: Namespace) -> None:
        self.wall[label].append(elapsed)
        self.cpu[label].append(ns.cpu)


def measure(plan: InstancePlan, repeat: int, workdir: Path, shell: str) -> Results:
    text = script(plan)
    script_path = workdir / "eniplan-routing"
    script_path.write_text(text)
    floors = floor_scripts(text, workdir / "all4")
    floor_paths = {label: workdir / f"floor-{index}" for index, label in enumerate(floors)}
    for label, path in floor_paths.items():
        path.write_text(floors[label])
    results = Results()
    for _ in range(repeat):  # alternating, so drift in the machine hits all alike
        with Namespace(plan) as ns:
            setup, changes, changes6 = bound_batches(plan, ns.links)
            if changes6 != changes6[-1:]:  # the first floor adds only the IPv6 guard
                raise RuntimeError("the benchmark's plan has IPv6 rules: no floor for them")
            (workdir / "all4").write_text("\n".join(setup + changes) + "\n")
            (workdir / "rules6").write_text("\n".join(changes6) + "\n")
            (workdir / "bound.sh").write_text(
                f"ip -batch {workdir / 'all4'} && ip -6 -batch {workdir / 'rules6'}\n"
            )
            elapsed, _ = ns.timed_sh(workdir / "bound.sh")
            results.add("bound", elapsed, ns)
            bound_state = ns.dump()
        with Namespace(plan) as ns:
            setup, changes, changes6 = bound_batches(plan, ns.links)
            ns.batch(setup)
            (workdir / "changes4").write_text("\n".join(changes) + "\n")
            (workdir / "narrow.sh").write_text(
                f"ip -batch {workdir / 'changes4'} && ip -6 -batch {workdir / 'rules6'}\n"
            )
            elapsed, _ = ns.timed_sh(workdir / "narrow.sh")
            results.add("narrow", elapsed, ns)
        with Namespace(plan) as ns:  # (the bound's all4 names the same links: ens5...)
            elapsed, _ = ns.timed_sh(floor_paths["first floor"], shell)
            results.add("first floor", elapsed, ns)
            if ns.dump() != bound_state:
                raise RuntimeError("the first floor's rules and routes differ from the bound's")
        with Namespace(plan) as ns:
            elapsed, _ = ns.timed_sh(script_path, shell)
            results.add("first", elapsed, ns)
            state = ns.dump()
            if state != bound_state:
                raise RuntimeError("the script's rules and routes differ from the bound's")
            elapsed, second = ns.timed_sh(script_path, shell)
            results.add("second", elapsed, ns)
            if ns.dump() != state or "nothing changed" not in second.stdout:
                raise RuntimeError(f"the second run changed something: {second.stdout}")
            for label in ("reads", "lock + reads"):
                elapsed, _ = ns.timed_sh(floor_paths[label], shell)
                results.add(label, elapsed, ns)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enis", type=int, default=15)
    parser.add_argument("--addresses", type=int, default=50, help="IPv4 addresses per ENI")
    parser.add_argument("--repeat", type=int, help="runs of each (default 5, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="4 ENIs x 10 addresses")
    parser.add_argument(
        "--shell", default="sh", help="the shell that runs the script (sh, dash, bash, ...)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.enis, args.addresses = 4, 10
    repeat = args.repeat or (3 if args.quick else 5)
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("error: needs root and iproute2 (network namespaces)", file=sys.stderr)
        return 2
    plan = largest_instance_plan(args.enis, args.addresses)
    text = script(plan)
    with tempfile.TemporaryDirectory(prefix="eniplan-bench-") as temp:
        results = measure(plan, repeat, Path(temp), args.shell)
    median: Callable[[list[float]], float] = statistics.median
    wall = {label: median(values) for label, values in results.wall.items()}
    cpu = {label: median(values) for label, values in results.cpu.items()}
    bound, narrow = wall["bound"], wall["narrow"]
    rules = sum(len(eni.rules) for eni in plan.enis) + (2 if plan.guard else 0)
    routes = sum(len(eni.routes) for eni in plan.enis)
    addresses = sum(len(eni.ipv4_addresses) for eni in plan.enis)
    print(f"first run / lower bound: {wall['first'] / bound:.2f} (target <= {FIRST_TARGET})")
    print(f"second run / lower bound: {wall['second'] / bound:.2f} (target <= {SECOND_TARGET})")
    print(
        f"CPU time (user + system, every process): first run / bound "
        f"{cpu['first'] / cpu['bound']:.2f}, second run / bound {cpu['second'] / cpu['bound']:.2f} "
        f"(bound {cpu['bound'] * 1000:.1f} ms, first {cpu['first'] * 1000:.1f}, "
        f"second {cpu['second'] * 1000:.1f})"
    )
    print(f"first run / rules+routes bound: {wall['first'] / narrow:.2f}")
    print(f"second run / rules+routes bound: {wall['second'] / narrow:.2f}")
    print("floors of a script that reads the state first (/ lower bound; CPU in brackets):")
    for run, floor, target, what in (
        ("first", "first floor", FIRST_TARGET, "lock, the two reads, the bound's ip -batch"),
        ("second", "lock + reads", SECOND_TARGET, "lock and the two reads"),
    ):
        left = target - wall[floor] / bound
        print(
            f"  {run} run's floor ({what}): {wall[floor] / bound:.2f} "
            f"({cpu[floor] / cpu['bound']:.2f}); the script's own work over it "
            f"{(wall[run] - wall[floor]) / bound:.2f}; "
            + (
                f"the target leaves {left:.2f} for that work"
                if left > 0
                else "the target is under the floor: out of reach here"
            )
        )
    print(f"  the two reads alone: {wall['reads'] / bound:.2f} ({cpu['reads'] / cpu['bound']:.2f})")
    print()
    print(
        f"  plan: {len(plan.enis)} ENIs x {args.addresses} IPv4 addresses: {rules} rules, "
        f"{routes} routes, {addresses} addresses to add (the primary's first is DHCP's)"
    )
    print(
        f"  script: {len(text.encode())} bytes, {text.count(chr(10)) + 1} lines, "
        f"run by {shutil.which(args.shell) or args.shell}"
    )
    user_data = cloudinit.render(plan, RenderOptions(persist="script"))
    (user_data_file,) = user_data.files
    compressed = isinstance(user_data_file.content, bytes)
    size = len(user_data_file.content)
    print(
        f"  static user data (cloud-init, --persist script): {size} bytes"
        + (", gzip-compressed (the text is over EC2's 16 KB)" if compressed else ", plain text")
    )
    for label, values in (
        ("lower bound (ip -batch + ip -6 -batch)", results.wall["bound"]),
        ("rules+routes bound", results.wall["narrow"]),
        ("first run", results.wall["first"]),
        ("second run", results.wall["second"]),
        ("first run's floor", results.wall["first floor"]),
        ("second run's floor", results.wall["lock + reads"]),
        ("the two reads", results.wall["reads"]),
    ):
        runs = ", ".join(f"{value * 1000:.1f}" for value in values)
        print(f"  {label}: median {median(values) * 1000:.1f} ms (runs: {runs})")
    return 0


if __name__ == "__main__":
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader left (the namespaces are gone already)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        code = 1
    sys.exit(code)
