"""Real Terraform plans for tests: the Terraform CLI and the hashicorp/aws provider from a
local filesystem mirror, planning configurations of tests/fixtures/tfreal against a moto
server (a subprocess of its own, so no in-process `mock_aws` of another test resets it).

The plans are recorded: `scripts/record-plans` (this module's `main`) plans every
configuration in CONFIGURATIONS against a fresh moto server and writes the JSON,
normalised (`normalise`), to tests/fixtures/plans/NAME.json, which the fast tests read;
tests/tools/test_recorded_plans.py plans them again and fails when a recording differs
from what the CLI and the provider write now.

`real_plans` (a session fixture) returns a RealPlans: `plan(name) -> Path` copies
`fixtures/tfreal/NAME` beside `fixtures/tfreal/modules`, adds the provider block pointed
at moto, runs `terraform init`, `terraform plan -out` and `terraform show -json`, and
caches the JSON for the session; a configuration with a `before/` directory is first
planned and applied from those files (imports of the seeded resources, so that the plan
of the configuration itself deletes, forgets or replaces resources in the state). Tests
skip, with the reason, where the CLI or the provider mirror is missing.

The moto account is seeded deterministically (moto's random generator seeded first, then
the same calls in the same order): the AMIs the configurations look up with
`data.aws_ami`, and an existing VPC (WORLD) whose IDs the configurations get as
`var.world`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests import helpers

FIXTURES = helpers.FIXTURES / "tfreal"
PROVIDER_VERSION = "5.100.0"
MIRROR = Path(os.environ.get("ENIPLAN_TF_MIRROR", "/opt/tf-plugins"))
REGION = "eu-west-1"
# AMIs seeded into moto: (name, description); the first is var.ami's default
AMIS = (
    ("debian-12-amd64-20240717-1811", "Debian 12 (20240717-1811)"),
    ("al2023-ami-2023.5.20240708.0-kernel-6.1-x86_64", "Amazon Linux 2023 AMI"),
)
# the existing ENIs: (name, subnet, private IP, attached to (instance, device index))
WORLD_ENIS: tuple[tuple[str, str, str, tuple[str, int] | None], ...] = (
    ("eni_attached", "subnet_b", "10.1.2.10", ("instance", 1)),
    ("eni_routed_by_id", "subnet_a", "10.1.1.11", None),
    ("eni_routed_by_table", "subnet_a", "10.1.1.12", None),
    ("eni_deleted", "subnet_a", "10.1.1.21", ("instance_2", 1)),
    ("eni_forgotten", "subnet_a", "10.1.1.22", ("instance_2", 2)),
    ("eni_replaced", "subnet_a", "10.1.1.23", ("instance_2", 3)),
)
RECORDINGS = helpers.FIXTURES / "plans"
# the configurations recorded, in tests/fixtures/tfreal
CONFIGURATIONS = (
    "headline",
    "cases",
    "static",
    "shapes",
    "existing",
    "fleet",
    "platform",
    "lifecycle",
    "cards",
    "replace",
)
AMI_CREATION_DATE = "2024-07-17T18:11:00.000Z"  # what a recording says for an AMI's date
MOTO_ENDPOINT = "http://moto.invalid"  # what a recording says for the moto server's URL
# the user data of eniplan's module in the recordings (a stand-in: see RealPlans)
MODULE_USER_DATA = "#cloud-config\n# eniplan 1.0 mode=dynamic table-base=10000 guard=on\n"


def missing_tools() -> str:
    """Why real plans cannot be made here ("" when they can)."""
    if shutil.which("terraform") is None:
        return "the Terraform CLI is not on PATH"
    provider = MIRROR / "registry.terraform.io" / "hashicorp" / "aws" / PROVIDER_VERSION
    if not provider.is_dir():
        return f"hashicorp/aws {PROVIDER_VERSION} is not in the filesystem mirror {MIRROR}"
    return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("moto server did not start within 60 s")


def _seed_random(endpoint: str, seed: int) -> None:
    """Seed moto's random generator (the IDs it gives what is created next)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/seed?a={seed}", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def _seed(endpoint: str) -> dict[str, str]:
    """Seed moto's random generator, register AMIS and create the existing world: a VPC
    with subnets a and b, an instance in a, ENIs (private IPs pinned: moto draws unpinned
    ones from the whole subnet, its reserved addresses included). The IDs by name (AMIs
    by their names, the rest as `var.world` names them)."""
    import boto3

    _seed_random(endpoint, 11)
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ids = {}
    for name, description in AMIS:
        image = ec2.register_image(
            Name=name,
            Description=description,
            Architecture="x86_64",
            RootDeviceName="/dev/xvda",
            VirtualizationType="hvm",
        )
        ids[name] = image["ImageId"]
    ids["vpc"] = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    for subnet, cidr in (("subnet_a", "10.1.1.0/24"), ("subnet_b", "10.1.2.0/24")):
        created = ec2.create_subnet(VpcId=ids["vpc"], CidrBlock=cidr)["Subnet"]
        ids[subnet] = created["SubnetId"]
    for name, address in (("instance", "10.1.1.10"), ("instance_2", "10.1.1.20")):
        ids[name] = ec2.run_instances(
            ImageId=ids[AMIS[0][0]],
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            SubnetId=ids["subnet_a"],
            PrivateIpAddress=address,
        )["Instances"][0]["InstanceId"]
    for name, subnet, address, instance in WORLD_ENIS:
        ids[name] = ec2.create_network_interface(SubnetId=ids[subnet], PrivateIpAddress=address)[
            "NetworkInterface"
        ]["NetworkInterfaceId"]
        if instance:
            ec2.attach_network_interface(
                NetworkInterfaceId=ids[name], InstanceId=ids[instance[0]], DeviceIndex=instance[1]
            )
    return ids


def _undate_amis(node: Any) -> None:
    if isinstance(node, dict):
        values = node.get("values")
        if node.get("type") == "aws_ami" and isinstance(values, dict) and "creation_date" in values:
            values["creation_date"] = AMI_CREATION_DATE
        for child in node.values():
            _undate_amis(child)
    elif isinstance(node, list):
        for child in node:
            _undate_amis(child)


def normalise(text: str, endpoint: str) -> str:
    """A plan's JSON as recorded: without what differs from one run to the next (the
    time it was made, the moto server's port, the order of relevant_attributes, the date
    moto gives an AMI), indented, keys sorted."""
    document = json.loads(text.replace(endpoint, MOTO_ENDPOINT))
    document.pop("timestamp", None)
    # moto dates an AMI at its registration: a data.aws_ami that read one shows it
    _undate_amis(document)
    # Terraform lists the attributes the plan's data and checks depend on in no fixed order
    relevant = document.get("relevant_attributes", [])
    relevant.sort(key=lambda item: json.dumps(item, sort_keys=True))
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def _provider_tf(endpoint: str, ids: dict[str, str]) -> str:
    ami = ids[AMIS[0][0]]
    world = json.dumps({k: v for k, v in ids.items() if k not in dict(AMIS)})
    return f"""terraform {{
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = "{PROVIDER_VERSION}"
    }}
  }}
}}

provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {{
    ec2 = "{endpoint}"
    sts = "{endpoint}"
  }}
}}

variable "ami" {{
  type    = string
  default = "{ami}"
}}

variable "world" {{
  type    = map(string)
  default = {world}
}}
"""


def _cli_config(path: Path) -> None:
    path.write_text(
        f"""provider_installation {{
  filesystem_mirror {{
    path    = "{MIRROR}"
    include = ["registry.terraform.io/hashicorp/*"]
  }}
  direct {{
    exclude = ["registry.terraform.io/hashicorp/*"]
  }}
}}
"""
    )


class RealPlans:
    def __init__(self, root: Path, endpoint: str, ids: dict[str, str]) -> None:
        self.root = root
        self.endpoint = endpoint
        self.ids = ids
        config = root / "terraform.rc"
        _cli_config(config)
        cache = root / "plugin-cache"
        cache.mkdir()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))},
            "TF_CLI_CONFIG_FILE": str(config),
            "TF_PLUGIN_CACHE_DIR": str(cache),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        for shared in ("modules", "user_data"):
            shutil.copytree(FIXTURES / shared, root / shared)
        # eniplan's own module, where the configurations' modules call it for its user
        # data: its ENIs need provider 6.11 (network_card_index on attachments), which
        # 5.100.0 cannot even validate, so the copy keeps only its user data outputs; and
        # its user-data.yaml is a fixed stand-in (a dynamic marker line), so that the
        # recordings do not change with every change of the agent
        module = root / "modules" / "eni-policy-routing"
        module.mkdir()
        original = helpers.REPO / "terraform" / "modules" / "eni-policy-routing"
        (module / "user-data.yaml").write_text(MODULE_USER_DATA)
        outputs = (original / "outputs.tf").read_text().split("\n\n")
        (module / "outputs.tf").write_text(
            "\n\n".join(o for o in outputs if o.startswith('output "user_data'))
        )
        self.cache: dict[str, Path] = {}

    def _run(self, directory: Path, *args: str) -> str:
        result = subprocess.run(
            ["terraform", *args],
            cwd=directory,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"terraform {args[0]} in {directory.name} failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def validate(self, directory: Path) -> str:
        """`terraform validate` of a configuration directory with the provider pointed at
        moto (init first); its output. Raises AssertionError when it is not valid."""
        (directory / "eniplan_test_provider.tf").write_text(_provider_tf(self.endpoint, self.ids))
        self._run(directory, "init", "-input=false", "-no-color")
        return self._run(directory, "validate", "-no-color")

    def plan_directory(self, directory: Path) -> dict[str, Any]:
        """`terraform plan` of a configuration directory (its own files, the provider
        pointed at moto added): the plan JSON (`terraform show -json`)."""
        (directory / "eniplan_test_provider.tf").write_text(_provider_tf(self.endpoint, self.ids))
        self._run(directory, "init", "-input=false", "-no-color")
        self._run(directory, "plan", "-input=false", "-no-color", "-lock=false", "-out=p.tfplan")
        document: dict[str, Any] = json.loads(self._run(directory, "show", "-json", "p.tfplan"))
        return document

    def apply_plan(self, directory: Path) -> None:
        """`terraform apply` of the plan `plan_directory` saved (against moto)."""
        self._run(directory, "apply", "-input=false", "-no-color", "-lock=false", "p.tfplan")

    def __call__(self, name: str) -> Path:
        if name in self.cache:
            return self.cache[name]
        directory = self.root / name
        source = FIXTURES / name
        provider = _provider_tf(self.endpoint, self.ids)
        if (source / "before").is_dir():  # the state the plan starts from
            # what it creates gets the same IDs whichever configurations were planned
            # before it in this moto server (their reads draw from the generator too)
            _seed_random(self.endpoint, zlib.crc32(name.encode()))
            shutil.copytree(source / "before", directory)
            (directory / "eniplan_test_provider.tf").write_text(provider)
            self._run(directory, "init", "-input=false", "-no-color")
            self._run(directory, "apply", "-input=false", "-no-color", "-auto-approve")
            for old in directory.glob("*.tf"):
                old.unlink()
        shutil.copytree(
            source, directory, ignore=shutil.ignore_patterns("before"), dirs_exist_ok=True
        )
        (directory / "eniplan_test_provider.tf").write_text(provider)
        self._run(directory, "init", "-input=false", "-no-color")
        self._run(directory, "plan", "-input=false", "-no-color", "-lock=false", "-out=p.tfplan")
        output = self.root / f"{name}.json"
        output.write_text(self._run(directory, "show", "-json", "p.tfplan"))
        self.cache[name] = output
        return output


PlanFactory = RealPlans


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server of its own (a subprocess): its endpoint, while the block runs."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(endpoint, process)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def record(names: Iterable[str], root: Path) -> dict[str, str]:
    """Plan each configuration against a fresh moto server (seeded as always): the
    normalised JSON by name. `root`: an empty directory to work in."""
    with moto_server() as endpoint:
        plans = RealPlans(root, endpoint, _seed(endpoint))
        return {name: normalise(plans(name).read_text(), endpoint) for name in names}


def recorded(name: str) -> Path:
    """The recording of a configuration (tests/fixtures/plans/NAME.json)."""
    return RECORDINGS / f"{name}.json"


@pytest.fixture(scope="session")
def real_plans(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlanFactory]:
    why = missing_tools()
    if why:
        pytest.skip(f"real Terraform plans: {why}")
    with moto_server() as endpoint:
        yield RealPlans(tmp_path_factory.mktemp("tfreal"), endpoint, _seed(endpoint))


def main(argv: list[str]) -> int:
    """scripts/record-plans [NAME...]: record the configurations (all by default)."""
    why = missing_tools()
    if why:
        print(f"record-plans: cannot plan: {why}", file=sys.stderr)
        return 2
    names = argv or list(CONFIGURATIONS)
    unknown = sorted(set(names) - set(CONFIGURATIONS))
    if unknown:
        print(f"record-plans: unknown configuration {unknown}: {CONFIGURATIONS}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="eniplan-record-") as root:
        for name, text in record(names, Path(root)).items():
            recorded(name).write_text(text)
            print(f"wrote {recorded(name).relative_to(helpers.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
