"""Real Terraform plans for tests: the Terraform CLI and the hashicorp/aws provider from a
local filesystem mirror, planning configurations of tests/fixtures/tfreal against a moto
server (a subprocess of its own, so no in-process `mock_aws` of another test resets it).

`real_plans` (a session fixture) returns a function `plan(name, *targets) -> Path` that
copies `fixtures/tfreal/NAME` beside `fixtures/tfreal/modules`, adds the provider block
pointed at moto, runs `terraform init` (once per configuration, providers from one shared
plugin cache), `terraform plan -out` and `terraform show -json`, and caches the JSON for the
session. Tests skip, with the reason, where the CLI or the provider mirror is missing.

The moto account is seeded with the AMIs the configurations look up with `data.aws_ami`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
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


def _seed(endpoint: str) -> dict[str, str]:
    """Register AMIS in moto; their IDs by name."""
    import boto3

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
    return ids


def _provider_tf(endpoint: str, ami: str) -> str:
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
    def __init__(self, root: Path, endpoint: str, amis: dict[str, str]) -> None:
        self.root = root
        self.endpoint = endpoint
        self.amis = amis
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
        self.cache: dict[tuple[str, ...], Path] = {}

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
        (directory / "eniplan_test_provider.tf").write_text(
            _provider_tf(self.endpoint, self.amis[AMIS[0][0]])
        )
        self._run(directory, "init", "-input=false", "-no-color")
        return self._run(directory, "validate", "-no-color")

    def plan_directory(self, directory: Path) -> dict[str, Any]:
        """`terraform plan` of a configuration directory (its own files, the provider
        pointed at moto added): the plan JSON (`terraform show -json`)."""
        (directory / "eniplan_test_provider.tf").write_text(
            _provider_tf(self.endpoint, self.amis[AMIS[0][0]])
        )
        self._run(directory, "init", "-input=false", "-no-color")
        self._run(directory, "plan", "-input=false", "-no-color", "-lock=false", "-out=p.tfplan")
        document: dict[str, Any] = json.loads(self._run(directory, "show", "-json", "p.tfplan"))
        return document

    def apply_plan(self, directory: Path) -> None:
        """`terraform apply` of the plan `plan_directory` saved (against moto)."""
        self._run(directory, "apply", "-input=false", "-no-color", "-lock=false", "p.tfplan")

    def __call__(self, name: str, *targets: str) -> Path:
        key = (name, *targets)
        if key in self.cache:
            return self.cache[key]
        directory = self.root / name
        if not directory.exists():
            shutil.copytree(FIXTURES / name, directory)
            (directory / "eniplan_test_provider.tf").write_text(
                _provider_tf(self.endpoint, self.amis[AMIS[0][0]])
            )
            self._run(directory, "init", "-input=false", "-no-color")
        planfile = f"plan-{len(self.cache)}.tfplan"
        self._run(
            directory,
            "plan",
            "-input=false",
            "-no-color",
            "-lock=false",
            f"-out={planfile}",
            *(f"-target={target}" for target in targets),
        )
        output = self.root / f"{name}-{len(self.cache)}.json"
        output.write_text(self._run(directory, "show", "-json", planfile))
        self.cache[key] = output
        return output


PlanFactory = RealPlans


@pytest.fixture(scope="session")
def real_plans(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlanFactory]:
    why = missing_tools()
    if why:
        pytest.skip(f"real Terraform plans: {why}")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(endpoint, process)
        yield RealPlans(tmp_path_factory.mktemp("tfreal"), endpoint, _seed(endpoint))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
