"""How long `eniplan audit` takes on a large account, against Python reading the same JSON.

Generates the AWS API shapes of --instances instances of three ENIs each (two in one
subnet, one in another) and their user data, in a mix that exercises every check:

  1 in 4  Debian, no user data                  -> ENI001 + ENI002
  1 in 4  Amazon Linux 2023                     -> handled by amazon-ec2-net-utils
  1 in 4  Debian, eniplan static user data      -> up to date (plan digest compared)
  1 in 4  Debian, eniplan user data, drifted    -> ENI004
  1 in 10 source/dest check off on eth2         -> ENI003 (or a route targets it)

The eniplan user data is real: the cloud-init target's output for one instance (gzip, as
eniplan compresses user data over 16 KB), with each instance's own marker line as eniplan
writes it (planning options included). They are written twice: as a snapshot (what
`eniplan collect` writes) and as AWS CLI dumps (one file per describe-* call, the user
data answers in one more). The baseline is a bare `json.load` of the same files, measured
in the same run; runs alternate, ratios are of medians:

  whole process   `eniplan audit --inventory FILES --format json -o OUT` against
                  `python -c 'json.load each file'`, each a fresh process    (target <= 1.5)
  in process      decoding and validating into the model, the audit itself, and the JSON
                  report, each against json.load of the files in the same process (CPU
                  time of the process; the cycle collector paused for eniplan's parts, as
                  the command pauses it, not for json.load's, as a bare load runs)

Whole processes are timed by the wall clock and by their CPU time (user + system): on a
shared machine other processes stretch the first, much less the second.

The findings are counted against the mix, so a fast wrong audit fails (exit 1).

    python benchmarks/bench_audit.py            # 20,000 instances, 60,000 ENIs
    python benchmarks/bench_audit.py --quick    # 1,000 instances
"""

from __future__ import annotations

import argparse
import base64
import functools
import gc
import gzip
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eniplan.audit import audit  # noqa: E402
from eniplan.cli_io import collector_paused  # noqa: E402
from eniplan.plan import plan_instance  # noqa: E402
from eniplan.render import cloudinit  # noqa: E402
from eniplan.render.base import RenderOptions, marker  # noqa: E402
from eniplan.report import format_report  # noqa: E402
from eniplan.sources.collection import Collection, Shapes  # noqa: E402
from eniplan.sources.files import read_inventory_paths, write_snapshot  # noqa: E402
from eniplan.sources.shapes import build_inventory  # noqa: E402

ACCOUNT, REGION, ZONE = "123456789012", "eu-west-1", "eu-west-1a"
VPC = "vpc-0b0b0b0b0b0b0b0b1"
PER_PAIR = 1000  # instances per pair of subnets (/20s: 2,000 + 1,000 addresses)
DEBIAN = ("ami-0d3e4f5061728394a", "debian-12-amd64-20240717-1811")
AL2023 = ("ami-0e4f5061728394a5b", "al2023-ami-2023.6.20241010.0-kernel-6.1-x86_64")
T = TypeVar("T")


def _subnets(pairs: int) -> list[dict[str, Any]]:
    subnets = []
    for k in range(pairs):
        for half in (0, 16):
            subnets.append(
                {
                    "SubnetId": f"subnet-{2 * k + half // 16:017x}",
                    "VpcId": VPC,
                    "OwnerId": ACCOUNT,
                    "AvailabilityZone": ZONE,
                    "CidrBlock": f"10.{k}.{half}.0/20",
                }
            )
    return subnets


def _eni(
    instance: int, device: int, subnet: dict[str, Any], address: IPv4Address
) -> dict[str, Any]:
    number = 3 * instance + device
    return {
        "NetworkInterfaceId": f"eni-{number + 1:017x}",
        "MacAddress": "02:00:00:"
        + ":".join(f"{number >> shift & 255:02x}" for shift in (16, 8, 0)),
        "SubnetId": subnet["SubnetId"],
        "VpcId": VPC,
        "PrivateIpAddress": str(address),
        "PrivateIpAddresses": [{"PrivateIpAddress": str(address), "Primary": True}],
        "Attachment": {
            "DeviceIndex": device,
            "NetworkCardIndex": 0,
            "InstanceId": f"i-{instance + 1:017x}",
            "Status": "attached",
        },
        "SourceDestCheck": not (device == 2 and instance % 10 == 0),
        "InterfaceType": "interface",
        "Status": "in-use",
        "Description": "",
        "TagSet": [],
    }


def shapes(instances: int) -> dict[str, list[Any]]:
    pairs = -(-instances // PER_PAIR)
    subnets = _subnets(pairs)
    reservations: list[dict[str, Any]] = []
    enis: list[dict[str, Any]] = []
    for i in range(instances):
        pair, slot = divmod(i, PER_PAIR)
        first, second = subnets[2 * pair], subnets[2 * pair + 1]
        base_a = IPv4Network(first["CidrBlock"]).network_address + 10
        base_b = IPv4Network(second["CidrBlock"]).network_address + 10
        own = [
            _eni(i, 0, first, base_a + 2 * slot),
            _eni(i, 1, first, base_a + 2 * slot + 1),
            _eni(i, 2, second, base_b + slot),
        ]
        enis.extend(own)
        image = AL2023 if i % 4 == 1 else DEBIAN
        item = {
            "InstanceId": f"i-{i + 1:017x}",
            "ImageId": image[0],
            "InstanceType": "c6i.large",
            "State": {"Name": "running"},
            "Placement": {"AvailabilityZone": ZONE},
            "VpcId": VPC,
            "SourceDestCheck": True,
            "PlatformDetails": "Linux/UNIX",
            "Tags": [{"Key": "Name", "Value": f"node-{i}"}],
            "NetworkInterfaces": own,
        }
        if i % 100 == 0:
            reservations.append(
                {"ReservationId": f"r-{i:017x}", "OwnerId": ACCOUNT, "Instances": []}
            )
        reservations[-1]["Instances"].append(item)
    # every 20th disabled check is legitimate: a route targets that ENI
    routes = [
        {
            "DestinationCidrBlock": f"192.168.{n % 256}.0/24",
            "NetworkInterfaceId": f"eni-{3 * i + 3:017x}",
        }
        for n, i in enumerate(range(0, instances, 20))
    ]
    return {
        "Reservations": reservations,
        "NetworkInterfaces": enis,
        "Subnets": subnets,
        "Images": [
            {"ImageId": ami, "Name": name, "PlatformDetails": "Linux/UNIX", "OwnerId": ACCOUNT}
            for ami, name in (DEBIAN, AL2023)
        ],
        "RouteTables": [
            {
                "RouteTableId": "rtb-0c0c0c0c0c0c0c0c1",
                "VpcId": VPC,
                "OwnerId": ACCOUNT,
                "Routes": routes,
                "Associations": [{"Main": True}],
            }
        ],
    }


def add_user_data(lists: dict[str, list[Any]]) -> Counter[str]:
    """eniplan user data for half the Debian instances (one in two of them drifted); returns
    the findings the audit must report."""
    collection = Collection([Shapes("bench", ACCOUNT, REGION, lists)])
    inventory = build_inventory(collection)
    template: str | None = None
    entries = []
    expected: Counter[str] = Counter()
    for number, instance in enumerate(sorted(inventory.instances, key=lambda i: i.instance_id)):
        kind = number % 4
        disabled = number % 10 == 0
        routed = number % 20 == 0
        if disabled and not routed:
            expected["ENI003"] += 1
        if kind == 0:
            expected["ENI001"] += 1
            expected["ENI002"] += 1
        if kind not in (2, 3):
            continue
        plan = plan_instance(instance, inventory)
        if template is None:
            (file,) = cloudinit.render(plan, RenderOptions(persist="script")).files
            content = file.content
            text = gzip.decompress(content).decode() if isinstance(content, bytes) else content
            template = text.split("\n", 2)[2]  # the body after the marker line
        # the marker eniplan writes (options included: the audit re-plans with them);
        # a drifted instance's records another plan's digest
        line = marker(plan, persist="script")
        if kind == 3:
            expected["ENI004"] += 1
            line = line.replace(plan.digest(), "0" * 64)
        header = f"#cloud-config\n{line}\n"
        raw = gzip.compress((header + template).encode(), compresslevel=6, mtime=0)
        entries.append(
            {
                "InstanceId": instance.instance_id,
                "UserData": {"Value": base64.b64encode(raw).decode()},
            }
        )
    with_user_data = {e["InstanceId"] for e in entries}
    entries += [
        {"InstanceId": i.instance_id, "UserData": {}}
        for i in inventory.instances
        if i.instance_id not in with_user_data
    ]
    lists["InstanceUserData"] = entries
    return expected


TARGET = 1.5
DUMPS = ("Reservations", "NetworkInterfaces", "Subnets", "Images", "RouteTables")


def timed(run: Callable[[], T]) -> tuple[float, T]:
    """CPU seconds of this process (other processes on a shared machine inflate wall
    time, and do not change this much) and the value."""
    start = time.process_time()
    value = run()
    return time.process_time() - start, value


def write_files(lists: dict[str, list[Any]], folder: Path) -> dict[str, list[Path]]:
    """The snapshot, and the AWS CLI dumps (one file per describe-* call)."""
    snapshot = folder / "snapshot.json"
    write_snapshot(Collection([Shapes("bench", ACCOUNT, REGION, lists)]), snapshot)
    dumps = folder / "dumps"
    dumps.mkdir()
    files = []
    for key in (*DUMPS, "InstanceUserData"):
        path = dumps / f"{key}.json"
        path.write_text(json.dumps({key: lists[key]}))
        files.append(path)
    return {"snapshot": [snapshot], "AWS CLI dumps": files}


def json_load(paths: list[Path]) -> None:
    for path in paths:
        with path.open("rb") as file:
            json.load(file)


def process(argv: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in (0, 1):  # 1: findings at or above --fail-on
        raise SystemExit(f"{argv[:3]}...: exit {result.returncode}: {result.stderr.decode()}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


def whole_process(
    paths: list[Path], out: Path, repeat: int
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(eniplan audit, bare json.load) (wall, CPU) times of fresh processes, alternating."""
    eniplan = [sys.executable, "-m", "eniplan", "audit", "--format", "json", "-o", str(out)]
    for path in paths:
        eniplan += ["--inventory", str(path)]
    bare = [
        sys.executable,
        "-c",
        "import json, sys\nfor p in sys.argv[1:]:\n    with open(p, 'rb') as f: json.load(f)",
        *map(str, paths),
    ]
    audits, loads = [], []
    for _ in range(repeat):
        audits.append(process(eniplan))
        loads.append(process(bare))
    return audits, loads


def in_process(paths: list[Path], repeat: int) -> tuple[dict[str, list[float]], Any]:
    times: dict[str, list[float]] = {"json.load": [], "decode": [], "audit": [], "report": []}
    report = None
    for _ in range(repeat):
        times["json.load"].append(timed(functools.partial(json_load, paths))[0])
        with collector_paused():  # as the command reads, audits and reports
            load_time, inventory = timed(
                lambda: build_inventory(read_inventory_paths([str(p) for p in paths]))
            )
            audit_time, report = timed(functools.partial(audit, inventory))
            assert report is not None
            report_time, _ = timed(functools.partial(format_report, "json", report))
        del inventory
        gc.unfreeze()  # (the command freezes what it made: the next round's would be walked)
        times["decode"].append(load_time)
        times["audit"].append(audit_time)
        times["report"].append(report_time)
    return times, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, help="timed runs (default 5, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="1,000 instances")
    args = parser.parse_args(argv)
    if args.quick:
        args.instances = 1000
    repeat = args.repeat or (3 if args.quick else 5)

    started = time.perf_counter()
    lists = shapes(args.instances)
    expected = add_user_data(lists)
    with tempfile.TemporaryDirectory(prefix="eniplan-bench-audit-") as temp:
        sets = write_files(lists, Path(temp))
        generation = time.perf_counter() - started
        results = {}
        for name, paths in sets.items():
            times, report = in_process(paths, repeat)
            assert report is not None
            found = Counter(f.rule_id for f in report.active)
            if found != expected:
                print(
                    f"error: the audit of the {name} found {dict(found)}, expected {dict(expected)}"
                )
                return 1
            audits, loads = whole_process(paths, Path(temp) / "report.json", repeat)
            size = sum(path.stat().st_size for path in paths)
            results[name] = (times, audits, loads, size)
        for name, (_, audits, loads, _) in results.items():
            for index, kind in ((0, "time"), (1, "CPU time")):
                ratio = statistics.median(a[index] for a in audits) / statistics.median(
                    b[index] for b in loads
                )
                print(
                    f"{kind} ratio (eniplan audit / json.load, whole process, {name}): "
                    f"{ratio:.2f} (target <= {TARGET:g})"
                )
        print()
        for name, (times, audits, loads, size) in results.items():
            load = statistics.median(times["json.load"])
            print(f"  {name}: {len(sets[name])} file(s), {size / 1e6:.1f} MB")
            for index, kind in ((0, "wall"), (1, "CPU")):
                print(
                    f"    whole process ({kind}): eniplan audit median "
                    f"{statistics.median(a[index] for a in audits):.2f} s, json.load "
                    f"{statistics.median(b[index] for b in loads):.2f} s"
                )
            for label in ("decode", "audit", "report"):
                median = statistics.median(times[label])
                print(f"    in process: {label} / json.load {median / load:.2f} ({median:.2f} s)")
        counts = ", ".join(f"{rule} {n}" for rule, n in sorted(found.items()))
        print(
            f"  {args.instances} instances, {3 * args.instances} ENIs (generated in "
            f"{generation:.1f} s); findings: {counts}; excluded {len(report.excluded)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
