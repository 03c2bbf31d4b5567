"""The unit tier is pure: a test here that starts a process fails, saying where it goes."""

from __future__ import annotations

import os
import subprocess
from typing import NoReturn

import pytest


def _refuse(command: object) -> NoReturn:
    raise AssertionError(
        f"tests/unit is pure and this test started a process ({command!r}): move it to "
        "tests/tools (real tools, eniplan as a subprocess) or tests/kernel (namespaces), "
        "or give the code under test a fake runner"
    )


def _popen(_self: subprocess.Popen[bytes], args: object, *rest: object, **kw: object) -> NoReturn:
    _refuse(args)


def _spawn(*args: object, **kwargs: object) -> NoReturn:
    _refuse(args[:2])


@pytest.fixture(autouse=True)
def _no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _popen)
    for name in ("system", "posix_spawn", "posix_spawnp", "fork", "forkpty"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _spawn)
