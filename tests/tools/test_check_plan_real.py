"""Terraform snippets checked by the real provider (tests/helpers/realplan.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli_runner import run
from tests.helpers.realplan import PlanFactory, real_plans  # noqa: F401  (the session fixture)


def test_terraform_snippets_are_valid_for_aws_provider_5(
    real_plans: PlanFactory,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`render --target terraform` for ENIs on network card 0 writes no
    network_card_index (AWS provider 5.x has none on attachments): provider 5.100.0
    validates the snippet, and the snippet's README names the provider versions."""
    code, _, err = run(
        ["render", "--sandbox", "--target", "terraform", "-o", str(tmp_path / "out")], capsys
    )
    assert code == 0, err
    directory = next(p for p in sorted((tmp_path / "out").iterdir()) if p.is_dir())
    assert "network_card_index" not in "".join(p.read_text() for p in directory.glob("*.tf"))
    assert "AWS provider 5.x or 6.x." in (directory / "README.md").read_text()
    assert "Success" in real_plans.validate(directory)
