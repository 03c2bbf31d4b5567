"""The SSM command that `eniplan apply` sends, run by a real shell: valid sh (shellcheck), and
the files land where it says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from eniplan import ssm
from eniplan.render import cloudinit


def test_the_command_is_valid_sh(ssm_targets: list[ssm.Target], tmp_path: Path) -> None:
    script = tmp_path / "command.sh"
    script.write_text("\n".join(ssm_targets[0].lines) + "\n")
    subprocess.run(["sh", "-n", str(script)], check=True)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", "-s", "sh", str(script)], check=True)


def test_the_command_writes_the_files_where_it_says(
    ssm_targets: list[ssm.Target], tmp_path: Path
) -> None:
    """Run the file-writing part for real, under a scratch root (systemctl left out)."""
    root = tmp_path / "root"
    lines = [
        line.replace("'/", f"'{root}/")
        for line in ssm_targets[0].lines
        if not line.startswith("systemctl")
    ]
    subprocess.run(["sh", "-c", "\n".join(lines)], check=True)
    files, _ = cloudinit.script_files(ssm_targets[0].plan)
    for file in files:
        written = root / file.path.lstrip("/")
        assert written.read_text() == file.content
        assert written.stat().st_mode & 0o777 == file.mode
    assert not list(root.rglob("*.eniplan-new"))
