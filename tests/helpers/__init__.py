"""What the tests share: builders of synthetic inventories and plans, the CLI run in-process,
network namespaces, the fake IMDS, a moto server and its AWS-like paging, a fault proxy, real
Terraform plans. Imported as `tests.helpers.NAME`."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"

# Every environment variable eniplan reads (its CLI options, the error display, click's
# completion, the routing engine and scripts): none of the host's reaches a test.
# tests/unit/test_config.py finds them in eniplan/ and fails when one is missing here.
ENIPLAN_VARIABLES = (
    "ENIPLAN_BASELINE",
    "ENIPLAN_CONFIG",
    "ENIPLAN_DEBUG",
    "ENIPLAN_DRY_RUN",
    "ENIPLAN_EXCLUDE_ACCOUNT",
    "ENIPLAN_FAIL_ON",
    "ENIPLAN_LOCK",
    "ENIPLAN_ORG_OU",
    "ENIPLAN_ORG_ROLE",
    "ENIPLAN_QUIET",
    "ENIPLAN_RA_WAIT",
    "ENIPLAN_TABLE_BASE",
    "ENIPLAN_WORKERS",
    "_ENIPLAN_COMPLETE",
)
