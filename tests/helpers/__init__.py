"""What the tests share: builders of synthetic inventories and plans, the CLI run in-process,
network namespaces, the fake IMDS, a moto server and its AWS-like paging, a fault proxy, real
Terraform plans. Imported as `tests.helpers.NAME`."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
