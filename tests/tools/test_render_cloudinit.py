"""The cloud-init target's user data against cloud-init's own schema, for every persistence and
when gzipped."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from eniplan.plan import InstancePlan
from eniplan.render import cloudinit
from eniplan.render.base import PERSIST_CHOICES, RenderOptions
from tests.helpers.builders import largest_instance_plan
from tests.helpers.cloudinit import requires_cloud_init, user_data

MANAGED = ["centos7-same-24", "rhel-same-20", "web-balanced", "app-check-disabled", "multi-subnet"]


def schema_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "user-data"
    path.write_text(text)
    return subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@requires_cloud_init
@pytest.mark.parametrize("persist", [p for p in PERSIST_CHOICES])
@pytest.mark.parametrize("name", MANAGED)
def test_every_persistence_passes_cloud_init_schema(
    sandbox_plans: dict[str, InstancePlan], name: str, persist: str, tmp_path: Path
) -> None:
    text, _ = user_data(sandbox_plans[name], persist)
    result = schema_check(text, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


@requires_cloud_init
def test_big_user_data_is_gzipped_and_still_valid(tmp_path: Path) -> None:
    """The largest instance (15 ENIs x 50 addresses): over 16 KB, so gzip."""
    big_plan = largest_instance_plan()
    rendering = cloudinit.render(big_plan, RenderOptions(persist="script"))
    (file,) = rendering.files
    assert isinstance(file.content, bytes) and file.content[:2] == b"\x1f\x8b"
    assert len(file.content) <= cloudinit.USER_DATA_LIMIT
    assert any("gzip-compressed" in note for note in rendering.notes)
    text = gzip.decompress(file.content).decode()
    assert len(text.encode()) > cloudinit.USER_DATA_LIMIT
    result = schema_check(text, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
