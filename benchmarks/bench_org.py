"""What reading a whole AWS Organization (--org-role) costs: requests and wall time.

Starts a moto server (a subprocess of its own, so it does not share eniplan's interpreter),
makes an organization of --accounts member accounts (plus the management account, which
ListAccounts lists too and which is read like the others) and seeds each member account in
each of --regions regions with one single-ENI and one two-ENI instance, then measures:

  (a) requests eniplan makes, against the lower bound
        ceil(A/20) ListAccounts pages + A AssumeRole
        + per account and region: one page of each of the four lists (every list here is
          under its page size), one DescribeImages batch where an AMI is in use, and one
          DescribeInstanceAttribute(userData) per multi-ENI instance,
      computed from what was seeded, not from what eniplan read;
  (b) wall time of eniplan's collection (sources.aws, --org-role, every account and region)
      at --workers 1, 8 and 32, against a bare boto3 script doing the same calls one after
      the other (ListAccounts, then per account AssumeRole and per region the four lists,
      the images and the user data); medians of --repeat runs, alternating.

    python benchmarks/bench_org.py                # 300 accounts x 4 regions
    python benchmarks/bench_org.py --quick        # 10 accounts x 4 regions

Everything is local: fake credentials, no AWS account, no network beyond loopback.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # eniplan from this checkout

REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2", "sa-east-1")
ROLE = "eniplan-read"
WORKERS = (1, 8, 32)
MANAGEMENT = "123456789012"  # moto's account for the default credentials


def _isolate_environment(config_dir: Path) -> dict[str, str]:
    """Fake credentials and no user AWS config: the benchmark can only reach the server."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    empty = config_dir / "empty-aws-config"
    empty.write_text("")
    settings = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGIONS[0],
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",  # moto's ~1,000 bundled AMIs: not needed
    }
    os.environ.update(settings)
    return settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("moto server did not start within 60 s")


# --- seeding ---------------------------------------------------------------------------


def _assumed(sts: Any, account: str) -> dict[str, Any]:
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="eniplan-bench-seed"
    )["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def seed(url: str, accounts: int, regions: tuple[str, ...]) -> list[str]:
    """The organization's member accounts, each region with one single-ENI and one two-ENI
    instance (one AMI); the member account IDs."""
    import boto3

    org: Any = boto3.client("organizations", region_name=regions[0], endpoint_url=url)
    org.create_organization(FeatureSet="ALL")
    members = [
        org.create_account(AccountName=f"member-{index}", Email=f"m{index}@example.com")[
            "CreateAccountStatus"
        ]["AccountId"]
        for index in range(accounts)
    ]
    session = boto3.Session()
    lock = threading.Lock()  # a session is not thread-safe while it creates clients

    def client(service: Any, region: str, **credentials: Any) -> Any:
        with lock:
            return session.client(service, region_name=region, endpoint_url=url, **credentials)

    def fill(account: str) -> None:
        credentials = _assumed(client("sts", regions[0]), account)
        for region in regions:
            ec2 = client("ec2", region, **credentials)
            image = ec2.register_image(Name="bench", RootDeviceName="/dev/xvda")["ImageId"]
            [subnet, *_] = ec2.describe_subnets()["Subnets"]
            ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")
            ec2.run_instances(
                ImageId=image,
                MinCount=1,
                MaxCount=1,
                InstanceType="c6i.large",
                NetworkInterfaces=[
                    {"DeviceIndex": index, "SubnetId": subnet["SubnetId"]} for index in (0, 1)
                ],
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(fill, members))  # raises the first seeding error, if any
    return members


def lower_bound(members: int, regions: int) -> dict[str, int]:
    """The fewest requests that read it all, from what was seeded (management account:
    no instances, so no images and no user data)."""
    accounts = members + 1
    return {
        "ListAccounts": math.ceil(accounts / 20),
        "AssumeRole": accounts,
        "DescribeInstances": accounts * regions,
        "DescribeNetworkInterfaces": accounts * regions,
        "DescribeSubnets": accounts * regions,
        "DescribeRouteTables": accounts * regions,
        "DescribeImages": members * regions,
        "DescribeInstanceAttribute": members * regions,  # one two-ENI instance each
    }


# --- the two ways to fetch -------------------------------------------------------------


class RequestCounter:
    """Counts every HTTP attempt per operation, from any thread."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hook(self, client: Any) -> None:
        client.meta.events.register("before-send", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        with self._lock:
            self.counts[event_name.split(".")[2]] += 1


def bare_fetch(url: str, regions: tuple[str, ...]) -> int:
    """What a plain boto3 script would do, one call after the other; the instances read."""
    import boto3

    org: Any = boto3.client("organizations", region_name=regions[0], endpoint_url=url)
    sts: Any = boto3.client("sts", region_name=regions[0], endpoint_url=url)
    accounts = [
        account["Id"]
        for page in org.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": 20})
        for account in page["Accounts"]
        if account["Status"] == "ACTIVE"
    ]
    found = 0
    for account in accounts:
        credentials = _assumed(sts, account)
        for region in regions:
            ec2: Any = boto3.client("ec2", region_name=region, endpoint_url=url, **credentials)
            reservations = ec2.describe_instances(MaxResults=1000)["Reservations"]
            ec2.describe_network_interfaces(MaxResults=1000)
            ec2.describe_subnets(MaxResults=1000)
            ec2.describe_route_tables(MaxResults=100)
            instances = [i for r in reservations for i in r["Instances"]]
            images = sorted({i["ImageId"] for i in instances})
            if images:
                ec2.describe_images(Filters=[{"Name": "image-id", "Values": images}])
            for instance in instances:
                if len(instance["NetworkInterfaces"]) >= 2:
                    ec2.describe_instance_attribute(
                        InstanceId=instance["InstanceId"], Attribute="userData"
                    )
            found += len(instances)
    return found


def eniplan_fetch(
    url: str, regions: tuple[str, ...], workers: int, hook: Callable[[Any], None] | None = None
) -> Any:
    from eniplan.sources.aws import AwsCollector, AwsOptions

    options = AwsOptions(regions=regions, org_role=ROLE, endpoint_url=url, workers=workers)
    return AwsCollector(options, client_hook=hook).collect()


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


# --- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300, help="member accounts")
    parser.add_argument("--repeat", type=int, help="timed runs of each (default 3, --quick 1)")
    parser.add_argument("--quick", action="store_true", help="10 accounts")
    args = parser.parse_args(argv)
    if args.quick:
        args.accounts = 10
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3

    with tempfile.TemporaryDirectory(prefix="eniplan-bench-org-") as temp:
        _isolate_environment(Path(temp))
        process, url = start_server()
        try:
            return _measure(url, args.accounts, args.repeat)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _check(collection: Any, members: list[str], counter: RequestCounter) -> str:
    """What is wrong with one eniplan run ("" if nothing)."""
    read = {shapes.account_id for shapes in collection.shapes}
    instances = sum(
        len(reservation["Instances"])
        for shapes in collection.shapes
        for reservation in shapes.items("Reservations")
    )
    if collection.problems or read != {*members, MANAGEMENT}:
        first = collection.problems[0].describe() if collection.problems else ""
        return f"read {len(read)} accounts, {len(collection.problems)} problems {first}"
    if instances != 2 * len(members) * len(REGIONS):
        return f"read {instances} instances"
    if dict(counter.counts) != lower_bound(len(members), len(REGIONS)):
        return f"requests {dict(counter.counts)}"
    return ""


def _measure(url: str, accounts: int, repeat: int) -> int:
    started = time.perf_counter()
    members = seed(url, accounts, REGIONS)
    seeding = time.perf_counter() - started
    bound = lower_bound(len(members), len(REGIONS))

    counters: list[RequestCounter] = []
    problems: list[str] = []

    def eniplan_run(workers: int) -> None:
        counter = RequestCounter()
        counters.append(counter)
        problem = _check(eniplan_fetch(url, REGIONS, workers, counter.hook), members, counter)
        if problem:
            problems.append(f"--workers {workers}: {problem}")

    runs: dict[str, Callable[[], Any]] = {"bare": lambda: bare_fetch(url, REGIONS)}
    for workers in WORKERS:
        runs[f"workers {workers}"] = lambda w=workers: eniplan_run(w)  # type: ignore[misc]
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):  # alternating, so drift in the machine hits all alike
        for name, run in runs.items():
            times[name].append(timed(run))
    median = {name: statistics.median(values) for name, values in times.items()}
    if problems:
        print("error: " + "; ".join(problems[:3]))
        return 1

    counts = counters[0].counts  # every run made the same requests (checked above)
    total, lower = sum(counts.values()), sum(bound.values())
    print(
        f"request ratio (eniplan requests / lower bound), {len(members) + 1} accounts x "
        f"{len(REGIONS)} regions: {total / lower:.2f}"
    )
    for workers in WORKERS:
        name = f"workers {workers}"
        print(
            f"time ratio (eniplan --workers {workers} / bare sequential boto3): "
            f"{median[name] / median['bare']:.2f}"
        )
    print()
    print(
        f"  seeded {len(members)} member accounts x {len(REGIONS)} regions, "
        f"{2 * len(members) * len(REGIONS)} instances, in {seeding:.1f} s"
    )
    for op, n in bound.items():
        print(f"  {op}: {counts.get(op, 0)} requests (lower bound {n})")
    print(f"  total: {total} (lower bound {lower})")
    for name in runs:
        label = "bare sequential boto3" if name == "bare" else f"eniplan --{name}"
        runs_text = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"  {label}: median {median[name]:.2f} s (runs: {runs_text})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
