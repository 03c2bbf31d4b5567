"""Shell completion through a real shell process: it is click's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_shell_completion_is_clicks(tmp_path: Path) -> None:
    """The documented `_ENIPLAN_COMPLETE=bash_source eniplan` and a completion request."""
    eniplan = [sys.executable, "-c", "import sys; from eniplan.cli import main; main()"]
    env = {**os.environ, "_ENIPLAN_COMPLETE": "bash_source"}
    source = subprocess.run(eniplan, env=env, capture_output=True, text=True, check=True)
    assert "complete " in source.stdout and "_ENIPLAN_COMPLETE" in source.stdout
    env.update(_ENIPLAN_COMPLETE="bash_complete", COMP_WORDS="eniplan audit --fail-on ",
               COMP_CWORD="3")  # fmt: skip
    answer = subprocess.run(eniplan, env=env, capture_output=True, text=True, check=True)
    offered = {line.split(",", 1)[1] for line in answer.stdout.splitlines()}
    assert {"info", "low", "medium", "high", "never"} <= offered
