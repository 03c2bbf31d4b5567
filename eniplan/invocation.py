"""How to run this eniplan again, for the commands that hints print.

After `make demo`, eniplan lives in .venv/bin and is not on PATH; `sudo` never looks in a
virtual environment (its secure_path), so a hint for root names the program's absolute path.
"""

from __future__ import annotations

import os
import shutil
import sys


def _script() -> str | None:
    """The path of the running `eniplan` script, or None (python -m, or embedded)."""
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 if os.path.basename(argv0) == "eniplan" and os.path.isfile(argv0) else None


def program() -> str:
    """`eniplan` when PATH finds this very program, else the path it was started by."""
    script = _script()
    if script is None:
        return "eniplan"
    found = shutil.which("eniplan")
    if found and os.path.realpath(found) == os.path.realpath(script):
        return "eniplan"
    return script


def program_as_root() -> str:
    """The same program under sudo: an absolute path unless it is a system-wide install."""
    script = _script()
    if script is None or os.path.dirname(os.path.realpath(script)) in ("/usr/bin", "/bin"):
        return "sudo eniplan"
    return f"sudo {os.path.abspath(script)}"
