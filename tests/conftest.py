from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ helpers (netns.py, moto_paging.py) import as top-level modules
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eniplan.inventory import InventoryRequest, load_inventory
from eniplan.model import Inventory
from eniplan.plan import InstancePlan, plan_inventory
from eniplan.sources.aws import AwsOptions


@pytest.fixture(scope="session", autouse=True)
def _no_host_configuration(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No `.eniplan.yaml` of the host (in a parent of the checkout) and no ENIPLAN_*
    option variables reach a test: an empty config file stands in for it."""
    empty = tmp_path_factory.mktemp("config") / "empty.yaml"
    empty.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        for name in (
            "ENIPLAN_FAIL_ON",
            "ENIPLAN_WORKERS",
            "ENIPLAN_TABLE_BASE",
            "ENIPLAN_QUIET",
            "ENIPLAN_ORG_ROLE",
            "ENIPLAN_ORG_OU",
            "ENIPLAN_EXCLUDE_ACCOUNT",
        ):
            patch.delenv(name, raising=False)
        patch.setenv("ENIPLAN_CONFIG", str(empty))
        yield


@pytest.fixture(scope="session")
def sandbox_inventory() -> Inventory:
    """The default sandbox scenario, collected once per test run."""
    return load_inventory(InventoryRequest(aws=AwsOptions(), sandbox="default"))


@pytest.fixture(scope="session")
def sandbox_plans(sandbox_inventory: Inventory) -> dict[str, InstancePlan]:
    """Plans of the default sandbox scenario by instance name (centos7-same-24,
    rhel-same-20, web-balanced, app-check-disabled, multi-subnet are managed)."""
    return {plan.name: plan for plan in plan_inventory(sandbox_inventory)}
