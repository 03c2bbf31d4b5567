"""The test tiers, by directory (markers are set here, never by hand):

- tests/unit: pure (no subprocess, no network, no root): `make test-fast`;
- tests/tools: the real tools: validators (cloud-init schema, netplan generate, nmcli
  --offline, shellcheck), terraform, a moto server, local HTTP servers, eniplan as a process;
- tests/kernel: the real kernel in network namespaces, the lab and the boot lab (root; a
  test that boots the lab's Debian image is also marked `boot`).

Shared helpers are the package tests.helpers; data files are in tests/fixtures."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from eniplan import ssm
from eniplan.inventory import InventoryRequest, load_inventory
from eniplan.model import Inventory
from eniplan.plan import InstancePlan, plan_inventory
from eniplan.render import cloudinit
from eniplan.sources import sandbox
from eniplan.sources.aws import AwsOptions
from eniplan.sources.collection import Collection
from tests.helpers import ENIPLAN_VARIABLES, FIXTURES
from tests.helpers.builders import largest_instance_plan

TESTS = Path(__file__).resolve().parent
TIERS = {
    "unit": "pure: no subprocess, no network, no root",
    "tools": "real validators, terraform, a moto server, eniplan as a subprocess",
    "kernel": "network namespaces, the lab, the boot lab (root)",
}


def tier_of(path: Path) -> str | None:
    """The tier of a test file under tests/ (None: outside every tier)."""
    parts = path.resolve().relative_to(TESTS).parts
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


class MisplacedTestFile(pytest.File):
    """A test file outside the tier directories: collection fails, saying where it goes."""

    def collect(self) -> Iterator[pytest.Item]:
        where = "; ".join(f"tests/{tier}/ ({what})" for tier, what in TIERS.items())
        raise self.CollectError(
            f"{self.path.relative_to(TESTS.parent)}: a test file belongs in a tier directory: "
            f"{where}. Move it there (git mv) and import shared helpers from tests.helpers."
        )


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.File | None:
    if module_path.name.startswith("test_") and tier_of(module_path) is None:
        return MisplacedTestFile.from_parent(parent, path=module_path)
    return None


@functools.cache
def _netns_skip() -> pytest.MarkDecorator:
    from tests.helpers.netns import NETNS_REASON, netns_available

    return pytest.mark.skipif(not netns_available(), reason=NETNS_REASON)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item.path)
        if tier is None:
            continue
        item.add_marker(tier)
        if tier == "kernel":
            item.add_marker("netns")
            item.add_marker(_netns_skip())
            if "boot_image" in getattr(item, "fixturenames", ()):
                item.add_marker("boot")


@pytest.fixture(scope="session", autouse=True)
def _no_host_configuration(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No `.eniplan.yaml` of the host (in a parent of the checkout) and none of the
    ENIPLAN_* variables eniplan reads reach a test: an empty config file stands in. The
    routing scripts the tests run take a lock of the run's own, not the host's
    /run/eniplan-routing.lock (which a run on the host may hold, and a test would leave)."""
    empty = tmp_path_factory.mktemp("config") / "empty.yaml"
    empty.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        for name in ENIPLAN_VARIABLES:
            patch.delenv(name, raising=False)
        patch.setenv("ENIPLAN_CONFIG", str(empty))
        patch.setenv("ENIPLAN_LOCK", str(empty.parent / "eniplan-routing.lock"))
        yield


@pytest.fixture(scope="session", autouse=True)
def _botocore_data_parsed_once() -> Iterator[None]:
    """Each boto3 session parses botocore's data files again (endpoints, the EC2 model:
    megabytes of JSON); tests make hundreds of sessions (moto, assumed roles). The files
    are the installed package's, never written: one parse per run, shared like a session's
    own loader shares it between its clients."""
    from botocore.loaders import JSONFileLoader

    parse = JSONFileLoader.load_file
    parsed: dict[str, Any] = {}

    def load_file(self: JSONFileLoader, file_path: str) -> Any:
        if file_path not in parsed:
            parsed[file_path] = parse(self, file_path)
        return parsed[file_path]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JSONFileLoader, "load_file", load_file)
        yield


_SEEDED_EACH_TIME = sandbox.sandbox_collection


def _collected_once(real: Callable[[str], Collection]) -> Callable[[str], Collection]:
    """`real`, seeding each bundled scenario's moto account once per test run (seconds
    each time) and giving every caller its own copy; a scenario file is seeded each time."""
    seeded: dict[str, Collection] = {}

    def collection(name_or_path: str = sandbox.DEFAULT_SCENARIO) -> Collection:
        if name_or_path not in sandbox.bundled_scenarios():
            return real(name_or_path)
        if name_or_path not in seeded:
            seeded[name_or_path] = real(name_or_path)
        return copy.deepcopy(seeded[name_or_path])

    return collection


@pytest.fixture(scope="session", autouse=True)
def _sandbox_seeded_once() -> Iterator[None]:
    """`--sandbox` in-process collects a bundled scenario once per run: the seeding
    through moto is what the sandbox tests check (`uncached_sandbox`), not every command
    that reads it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sandbox, "sandbox_collection", _collected_once(sandbox.sandbox_collection))
        yield


@pytest.fixture
def uncached_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--sandbox` seeds a fresh moto account in this test, as it does for users."""
    monkeypatch.setattr(sandbox, "sandbox_collection", _SEEDED_EACH_TIME)


@pytest.fixture(scope="session")
def sandbox_inventory() -> Inventory:
    """The default sandbox scenario, collected once per test run."""
    return load_inventory(InventoryRequest(aws=AwsOptions(), sandbox="default"))


@pytest.fixture(scope="session")
def sandbox_plans(sandbox_inventory: Inventory) -> dict[str, InstancePlan]:
    """Plans of the default sandbox scenario by instance name (centos7-same-24,
    rhel-same-20, web-balanced, app-check-disabled, multi-subnet are managed)."""
    return {plan.name: plan for plan in plan_inventory(sandbox_inventory)}


@pytest.fixture(scope="session")
def ssm_targets() -> list[ssm.Target]:
    """What `eniplan apply` would send of the AWS CLI dumps: app-two-subnets (Ubuntu 22.04);
    the others are skipped with a reason."""
    dumps = str(FIXTURES / "awscli" / "by-region")
    request = InventoryRequest(aws=AwsOptions(), inventory_paths=(dumps,))
    chosen, _ = ssm.targets(plan_inventory(load_inventory(request)))
    assert chosen
    return chosen


@pytest.fixture(scope="session")
def own() -> str:
    """eniplan's own user data of a small instance (networkd: a few KB; the script
    persistence alone is close to 16 KB), for composing with the user's."""
    plan = replace(largest_instance_plan(enis=2, addresses=2), user_data=None)
    text, _ = cloudinit.user_data(plan, "networkd")
    return text
