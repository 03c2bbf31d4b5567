"""check-plan on a large plan: time against `json.load` of the same file, memory against
its size.

A generated `terraform show -json` plan with RESOURCES resources (default 20,000): fleets
of instances in `count` and `for_each` modules, each with a secondary ENI attached by an
`aws_network_interface_attachment`, subnets, routes, and resources check-plan ignores.
Every value has the shape and the size of the AWS provider's (dozens of attributes per
instance, unknowns where Terraform has them), with `planned_values`, `resource_changes`
and `configuration` as Terraform writes them.

Printed from one run:
  time ratio   = check-plan (read + parse + check + JSON report) / json.load   (target <= 2)
  memory ratio = peak traced memory of check-plan / file size                  (target <= 4)

    python benchmarks/bench_checkplan.py            # 20,000 resources
    python benchmarks/bench_checkplan.py --quick    # 2,000 resources (the test suite)
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eniplan.checkplan import check_plan
from eniplan.checkplan.tfplan import read_plan
from eniplan.report import format_report

TIME_TARGET, MEMORY_TARGET = 2.0, 4.0  # #11 tightened the time target from 3 to 2
PROVIDER = "registry.terraform.io/hashicorp/aws"


def _instance_values(n: int, subnet: str) -> dict[str, Any]:
    return {
        "ami": "ami-0123456789abcdef0",
        "associate_public_ip_address": False,
        "availability_zone": "eu-west-1a",
        "capacity_reservation_specification": [],
        "cpu_options": [],
        "credit_specification": [],
        "disable_api_stop": False,
        "disable_api_termination": False,
        "ebs_block_device": [],
        "ebs_optimized": True,
        "enclave_options": [],
        "ephemeral_block_device": [],
        "get_password_data": False,
        "hibernation": None,
        "host_resource_group_arn": None,
        "iam_instance_profile": "app-node",
        "instance_initiated_shutdown_behavior": "stop",
        "instance_type": "c6i.large",
        "launch_template": [],
        "maintenance_options": [],
        "metadata_options": [{"http_endpoint": "enabled", "http_tokens": "required"}],
        "monitoring": True,
        "placement_partition_number": None,
        "root_block_device": [
            {"delete_on_termination": True, "volume_size": 40, "volume_type": "gp3"}
        ],
        "source_dest_check": True,
        "subnet_id": subnet,
        "tags": {"Name": f"node-{n}", "team": "payments", "env": "prod"},
        "tags_all": {"Name": f"node-{n}", "team": "payments", "env": "prod"},
        "timeouts": None,
        "user_data": hashlib.sha1(f"#!/bin/sh\necho {n}\n".encode()).hexdigest(),
        "user_data_replace_on_change": False,
        "volume_tags": None,
        "vpc_security_group_ids": ["sg-0123456789abcdef0"],
    }


_INSTANCE_UNKNOWN = {
    key: True
    for key in (
        "arn",
        "id",
        "instance_state",
        "ipv6_addresses",
        "outpost_arn",
        "password_data",
        "primary_network_interface_id",
        "private_dns",
        "private_ip",
        "public_dns",
        "public_ip",
        "secondary_private_ips",
        "security_groups",
        "tenancy",
    )
}


def _resource(
    module: str, type_: str, name: str, index: Any, values: dict[str, Any], unknown: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    key = "" if index is None else f"[{json.dumps(index)}]"
    address = f"{module + '.' if module else ''}{type_}.{name}{key}"
    common = {
        "address": address,
        "mode": "managed",
        "type": type_,
        "name": name,
        **({"index": index} if index is not None else {}),
        "provider_name": PROVIDER,
    }
    planned = {**common, "schema_version": 1, "values": values, "sensitive_values": {}}
    change = {
        **common,
        **({"module_address": module} if module else {}),
        "change": {
            "actions": ["create"],
            "before": None,
            "after": values,
            "after_unknown": unknown,
            "before_sensitive": False,
            "after_sensitive": {"tags": {}, "tags_all": {}},
        },
    }
    return planned, change


def _module_config(fleet_size: int) -> dict[str, Any]:
    def config(type_: str, name: str, expressions: dict[str, Any]) -> dict[str, Any]:
        return {
            "address": f"{type_}.{name}",
            "mode": "managed",
            "type": type_,
            "name": name,
            "provider_config_key": "aws",
            "expressions": expressions,
            "schema_version": 1,
            "count_expression": {"constant_value": fleet_size},
        }

    return {
        "resources": [
            config(
                "aws_instance",
                "node",
                {
                    "ami": {"constant_value": "ami-0123456789abcdef0"},
                    "subnet_id": {"references": ["var.subnet_a"]},
                    "user_data": {"references": ["count.index"]},
                    "tags": {"references": ["count.index"]},
                },
            ),
            config(
                "aws_network_interface",
                "side",
                {"subnet_id": {"references": ["var.subnet_b"]}},
            ),
            config(
                "aws_network_interface_attachment",
                "side",
                {
                    "device_index": {"constant_value": 1},
                    "instance_id": {"references": ["aws_instance.node", "count.index"]},
                    "network_interface_id": {
                        "references": ["aws_network_interface.side", "count.index"]
                    },
                },
            ),
            config(
                "aws_cloudwatch_metric_alarm",
                "cpu",
                {"threshold": {"constant_value": 90}},
            ),
        ]
    }


def generate(resources: int) -> dict[str, Any]:
    """A plan of `resources` resources: fleets of 50 nodes, 4 resources per node."""
    fleet_size = 50
    fleets = max(1, resources // (4 * fleet_size))
    child_modules = []
    changes = []
    for fleet in range(fleets):
        module = f'module.fleet["f{fleet}"]'
        subnet_a = f"subnet-{2 * fleet:017x}"
        subnet_b = f"subnet-{2 * fleet + 1:017x}"
        planned_resources = []
        for n in range(fleet_size):
            node = fleet * fleet_size + n
            items = [
                _resource(
                    module,
                    "aws_instance",
                    "node",
                    n,
                    _instance_values(node, subnet_a),
                    _INSTANCE_UNKNOWN,
                ),
                _resource(
                    module,
                    "aws_network_interface",
                    "side",
                    n,
                    {
                        "description": f"node-{node} side",
                        "source_dest_check": True,
                        "subnet_id": subnet_b,
                        "tags": {"Name": f"node-{node}-side"},
                        "tags_all": {"Name": f"node-{node}-side"},
                    },
                    {"id": True, "mac_address": True, "private_ips": True, "attachment": True},
                ),
                _resource(
                    module,
                    "aws_network_interface_attachment",
                    "side",
                    n,
                    {"device_index": 1, "network_card_index": 0},
                    {"id": True, "instance_id": True, "network_interface_id": True},
                ),
                _resource(
                    module,
                    "aws_cloudwatch_metric_alarm",
                    "cpu",
                    n,
                    {"alarm_name": f"node-{node}-cpu", "threshold": 90, "period": 60},
                    {"arn": True, "id": True},
                ),
            ]
            for planned, change in items:
                planned_resources.append(planned)
                changes.append(change)
        child_modules.append({"address": module, "resources": planned_resources})
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "planned_values": {"root_module": {"child_modules": child_modules}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {"aws": {"name": "aws", "full_name": PROVIDER}},
            "root_module": {
                "module_calls": {
                    "fleet": {
                        "source": "./modules/fleet",
                        "for_each_expression": {"references": ["local.fleets"]},
                        "module": _module_config(fleet_size),
                    }
                }
            },
        },
    }


def run_check(path: Path) -> int:
    result = check_plan(read_plan(str(path)), "high")
    format_report("json", result.report)
    return len(result.report.findings)


def timed(function: Any, *args: Any) -> float:
    gc.collect()
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def json_load(path: Path) -> Any:
    with path.open() as stream:
        return json.load(stream)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 resources")
    parser.add_argument("--resources", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None, help="timed runs of each (median)")
    args = parser.parse_args()
    resources = args.resources or (2_000 if args.quick else 20_000)
    repeat = args.repeat or (3 if args.quick else 5)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.json"
        document = generate(resources)
        count = len(document["resource_changes"])
        path.write_text(json.dumps(document, separators=(",", ":")))
        del document
        size = path.stat().st_size

        findings = run_check(path)  # warm-up (imports, caches) and a sanity check
        baseline_times, check_times = [], []
        for _ in range(repeat):  # alternate, so that drift affects both alike
            baseline_times.append(timed(json_load, path))
            check_times.append(timed(run_check, path))
        baseline = statistics.median(baseline_times)
        checked = statistics.median(check_times)

        gc.collect()
        tracemalloc.start()
        run_check(path)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tracemalloc.start()
        json_load(path)
        _, load_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    time_ratio = checked / baseline
    memory_ratio = peak / size
    print(f"plan: {count} resources, {size / 1e6:.1f} MB, {findings} findings")
    print(
        f"json.load: {baseline * 1000:.0f} ms; check-plan: {checked * 1000:.0f} ms "
        f"(medians of {repeat})"
    )
    print(f"time ratio (check-plan / json.load): {time_ratio:.2f} (target <= {TIME_TARGET:g})")
    print(f"peak memory: check-plan {peak / 1e6:.1f} MB, json.load alone {load_peak / 1e6:.1f} MB")
    print(
        f"memory ratio (check-plan peak / file size): {memory_ratio:.2f} "
        f"(target <= {MEMORY_TARGET:g})"
    )
    ok = time_ratio <= TIME_TARGET and memory_ratio <= MEMORY_TARGET
    print("within targets" if ok else "OUTSIDE TARGETS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
