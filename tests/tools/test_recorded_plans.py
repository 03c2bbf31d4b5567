"""The recorded plans that the fast tests read (tests/fixtures/plans) are what the real
Terraform CLI and hashicorp/aws provider write: every configuration planned again against
a fresh moto server, normalised as recorded, and compared (tests/helpers/realplan.py)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from tests.helpers.realplan import (
    CONFIGURATIONS,
    PROVIDER_VERSION,
    RECORDINGS,
    missing_tools,
    record,
    recorded,
)


def test_every_recording_is_what_the_cli_and_the_provider_write_now(tmp_path: Path) -> None:
    why = missing_tools()
    if why:
        pytest.skip(f"real Terraform plans: {why}")
    assert sorted(path.stem for path in RECORDINGS.glob("*.json")) == sorted(CONFIGURATIONS)
    fresh = record(CONFIGURATIONS, tmp_path)
    stale = [name for name, text in fresh.items() if recorded(name).read_text() != text]
    diff = "".join(
        line
        for name in stale[:1]
        for line in list(
            difflib.unified_diff(
                recorded(name).read_text().splitlines(keepends=True),
                fresh[name].splitlines(keepends=True),
                f"recorded {name}.json",
                "planned now",
            )
        )[:60]
    )
    version = json.loads(next(iter(fresh.values())))["terraform_version"]
    assert not stale, (
        f"{', '.join(stale)}: not what Terraform {version} and hashicorp/aws "
        f"{PROVIDER_VERSION} plan now; record again with `scripts/record-plans "
        f"{' '.join(stale)}` and review the difference:\n{diff}"
    )
    # the plan format the CLI writes (the only one the recordings hold)
    assert {json.loads(text)["format_version"] for text in fresh.values()} == {"1.2"}
