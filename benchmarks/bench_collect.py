"""How many requests, and how much time, eniplan's AWS collection costs at scale.

Starts a moto server on 127.0.0.1 (with AWS-like paging, tests/helpers/moto_paging.py), seeds one
region with --instances instances and --enis ENIs (every instance has its primary ENI; the
rest are secondaries at device index 1), then measures:

  (a) EC2 requests eniplan makes, against the lower bound
      ceil(I/1000) + ceil(E/1000) + ceil(S/1000) + ceil(AMIs/200) + ceil(RT/100) + M,
      where M is the number of multi-ENI instances: the audit needs their user data, and
      describe_instance_attribute takes one instance a call;
  (b) wall time of eniplan's collect path (collect + snapshot + inventory), and of
      `eniplan collect` when the CLI is there, against a bare sequential boto3 fetch of the
      same APIs; median of --repeat runs, alternating.

    python benchmarks/bench_collect.py                 # 5,000 instances, 10,000 ENIs
    python benchmarks/bench_collect.py --quick         # 500 instances, 1,000 ENIs

Everything is local: fake credentials, no AWS account, no network beyond loopback.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # eniplan and tests.helpers.moto_paging from this checkout

REGION = "eu-west-1"
AMIS = 5
CUSTOM_SUBNETS = 8  # /20s in a /16: 4,091 usable addresses each
ROUTE_TABLES = 4
RUN_BATCH = 500  # at most this many instances per run_instances call while seeding


def _isolate_environment(config_dir: Path) -> None:
    """Fake credentials and no user AWS config: the benchmark can only reach the server."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    empty = config_dir / "empty-aws-config"
    empty.write_text("")
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
        # moto's ~1,000 bundled AMIs only slow the server down; we register our own.
        MOTO_EC2_LOAD_DEFAULT_AMIS="false",
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- seeding ---------------------------------------------------------------------------


def seed(url: str, instances: int, enis: int) -> None:
    """Instances in batches, each with its primary ENI and, while any remain, a secondary."""
    import boto3

    ec2: Any = boto3.Session().client("ec2", region_name=REGION, endpoint_url=url)
    images = [
        ec2.register_image(Name=f"bench-{index}", RootDeviceName="/dev/xvda")["ImageId"]
        for index in range(AMIS)
    ]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.0.{index * 16}.0/20", AvailabilityZone=f"{REGION}a"
        )["Subnet"]["SubnetId"]
        for index in range(CUSTOM_SUBNETS)
    ]
    for index in range(ROUTE_TABLES):
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        for subnet in subnets[index::ROUTE_TABLES]:
            ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)

    secondaries = enis - instances
    # At least ten batches, so that even --quick spreads instances over every AMI.
    batch = max(1, min(RUN_BATCH, math.ceil(instances / (2 * AMIS))))
    launched = 0
    batch_number = 0
    while launched < instances:
        count = min(batch, instances - launched)
        with_second = max(0, min(count, secondaries))
        # A batch is all one shape: split it where the secondaries run out.
        for size, nics in ((with_second, 2), (count - with_second, 1)):
            if not size:
                continue
            first = subnets[batch_number % CUSTOM_SUBNETS]
            second = subnets[(batch_number + 1) % CUSTOM_SUBNETS]
            ec2.run_instances(
                ImageId=images[batch_number % AMIS],
                MinCount=size,
                MaxCount=size,
                InstanceType="c6i.large",
                NetworkInterfaces=[
                    {"DeviceIndex": 0, "SubnetId": first},
                    {"DeviceIndex": 1, "SubnetId": second},
                ][:nics],
            )
            batch_number += 1
        secondaries -= with_second
        launched += count


# --- the two ways to fetch -------------------------------------------------------------


class RequestCounter:
    """Counts every HTTP attempt per (service, operation), from any thread."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def hook(self, client: Any) -> None:
        client.meta.events.register("before-send", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        _event, service, operation = event_name.split(".")
        with self._lock:
            self.counts[(service, operation)] += 1


def bare_fetch(url: str) -> dict[str, list[Any]]:
    """What a plain boto3 script would do: sequential paginators, then the AMIs in use, then
    the user data of each multi-ENI instance, one call each."""
    import boto3

    ec2: Any = boto3.Session().client("ec2", region_name=REGION, endpoint_url=url)
    lists: dict[str, list[Any]] = {}
    for operation, key, size in (
        ("describe_instances", "Reservations", 1000),
        ("describe_network_interfaces", "NetworkInterfaces", 1000),
        ("describe_subnets", "Subnets", 1000),
        ("describe_route_tables", "RouteTables", 100),
    ):
        items: list[Any] = []
        for page in ec2.get_paginator(operation).paginate(PaginationConfig={"PageSize": size}):
            items.extend(page[key])
        lists[key] = items
    image_ids = sorted(
        {i["ImageId"] for r in lists["Reservations"] for i in r["Instances"] if "ImageId" in i}
    )
    lists["Images"] = []
    for start in range(0, len(image_ids), 200):
        answer = ec2.describe_images(ImageIds=image_ids[start : start + 200])
        lists["Images"].extend(answer["Images"])
    lists["InstanceUserData"] = [
        ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        for instance_id in multi_eni_instances(lists)
    ]
    return lists


def multi_eni_instances(lists: dict[str, list[Any]]) -> list[str]:
    return [
        i["InstanceId"]
        for r in lists["Reservations"]
        for i in r["Instances"]
        if len(i.get("NetworkInterfaces", [])) >= 2
    ]


def eniplan_path(url: str, snapshot: Path, hook: Callable[[Any], None] | None = None) -> Any:
    """eniplan's full collect path: collect, write the snapshot, build the inventory."""
    from eniplan.sources.aws import AwsOptions, collect
    from eniplan.sources.files import write_snapshot
    from eniplan.sources.shapes import build_inventory

    collection = collect(AwsOptions(regions=(REGION,), endpoint_url=url), client_hook=hook)
    write_snapshot(collection, snapshot)
    return build_inventory(collection)


def cli_runner(url: str, snapshot: Path) -> Callable[[], None] | None:
    """`eniplan collect` in process, if the CLI has it; None when it does not (yet)."""
    try:
        from click.testing import CliRunner

        from eniplan.cli import cli
    except ImportError:
        return None
    if "collect" not in getattr(cli, "commands", {}):
        return None
    args = ["collect", "--endpoint-url", url, "--region", REGION, "-o", str(snapshot)]

    def run() -> None:
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        if result.exit_code != 0:
            raise RuntimeError(f"eniplan collect exited {result.exit_code}: {result.output}")

    return run


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


# --- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--enis", type=int, default=10000, help="in total, primaries included")
    parser.add_argument(
        "--repeat", type=int, help="timed runs of each, alternating (default 3, --quick 1)"
    )
    parser.add_argument("--quick", action="store_true", help="500 instances, 1,000 ENIs")
    args = parser.parse_args(argv)
    if args.quick:
        args.instances, args.enis = 500, 1000
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if not args.instances <= args.enis <= 2 * args.instances:
        parser.error("--enis must be between --instances and twice --instances")

    with tempfile.TemporaryDirectory(prefix="eniplan-bench-") as temp:
        workdir = Path(temp)
        _isolate_environment(workdir)
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request

        from tests.helpers.moto_paging import faithful_paging

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        try:
            with faithful_paging():
                return _measure(url, args.instances, args.enis, args.repeat, workdir)
        finally:
            server.stop()


def _measure(url: str, instances: int, enis: int, repeat: int, workdir: Path) -> int:
    started = time.perf_counter()
    seed(url, instances, enis)
    seeding = time.perf_counter() - started

    # Sizes as a bare client sees them: the lower bound comes from these, not from eniplan.
    lists = bare_fetch(url)
    sizes = {
        "DescribeInstances": (sum(len(r["Instances"]) for r in lists["Reservations"]), 1000),
        "DescribeNetworkInterfaces": (len(lists["NetworkInterfaces"]), 1000),
        "DescribeSubnets": (len(lists["Subnets"]), 1000),
        "DescribeImages": (len(lists["Images"]), 200),
        "DescribeRouteTables": (len(lists["RouteTables"]), 100),
        "DescribeInstanceAttribute": (len(multi_eni_instances(lists)), 1),
    }
    bound = {op: math.ceil(n / page) for op, (n, page) in sizes.items()}

    counter = RequestCounter()
    snapshot = workdir / "snapshot.json"
    inventory = eniplan_path(url, snapshot, counter.hook)
    found_enis = sum(len(instance.enis) for instance in inventory.instances)
    if (len(inventory.instances), found_enis) != (instances, enis):
        print(f"error: eniplan saw {len(inventory.instances)} instances, {found_enis} ENIs")
        return 1
    ec2 = {op: n for (service, op), n in counter.counts.items() if service == "ec2"}
    sts = {op: n for (service, op), n in counter.counts.items() if service == "sts"}

    runs: dict[str, Callable[[], Any]] = {
        "bare": lambda: bare_fetch(url),
        "eniplan": lambda: eniplan_path(url, snapshot),
    }
    cli = cli_runner(url, workdir / "cli-snapshot.json")
    if cli is not None:
        runs["cli"] = cli
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):  # alternating, so drift in the machine hits all alike
        for name, run in runs.items():
            times[name].append(timed(run))
    median = {name: statistics.median(values) for name, values in times.items()}

    total, lower = sum(ec2.values()), sum(bound.values())
    print(f"request ratio (eniplan EC2 requests / lower bound), {REGION}: {total / lower:.2f}")
    print(
        "time ratio (collect + snapshot + inventory / bare boto3): "
        f"{median['eniplan'] / median['bare']:.2f}"
    )
    if "cli" in median:
        cli_ratio = median["cli"] / median["bare"]
        print(f"time ratio (eniplan collect CLI / bare boto3): {cli_ratio:.2f}")
    else:
        print("time ratio (eniplan collect CLI / bare boto3): skipped (no CLI collect command)")
    print()
    print(
        f"  seeded {instances} instances, {enis} ENIs, {sizes['DescribeSubnets'][0]} subnets, "
        f"{sizes['DescribeImages'][0]} AMIs, {sizes['DescribeRouteTables'][0]} route tables "
        f"in {seeding:.1f} s"
    )
    for op in bound:
        print(f"  {op}: {ec2.get(op, 0)} requests (lower bound {bound[op]})")
    others = {op: n for op, n in ec2.items() if op not in bound}
    for op, n in sorted(others.items()):
        print(f"  {op}: {n} requests (not in the bound)")
    print(f"  EC2 total: {total} (lower bound {lower})")
    print(f"  STS per account: {', '.join(f'{op} {n}' for op, n in sorted(sts.items()))}")
    for name, label in (
        ("bare", "bare boto3"),
        ("eniplan", "eniplan collect+snapshot+inventory"),
        ("cli", "eniplan collect CLI"),
    ):
        if name in times:
            runs_text = ", ".join(f"{t:.2f}" for t in times[name])
            print(f"  {label}: median {median[name]:.2f} s (runs: {runs_text})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
