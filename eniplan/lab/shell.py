"""Commands inside the lab's network namespaces, and nowhere else.

Every function here takes a namespace name and runs its command inside it (`ip -n NS` or
`ip netns exec NS`): there is no way to run a command in the root namespace through this
module. The only root-namespace operations are `ip netns add` and `ip netns delete` of the
lab's own, uniquely named namespaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eniplan.errors import InputError

NAME_PREFIX = "eniplan-lab"
COMMAND_TIMEOUT = 60  # seconds: every lab command is short; a hang is a bug


class LabError(InputError):
    """The lab cannot run here, or a command that builds it failed: one line, exit 2."""


def _short(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return "; ".join(lines[:3])[:300]


def _run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env=None if env is None else {**os.environ, **env},
        )
    except FileNotFoundError as error:
        raise LabError(f"{argv[0]}: not found ({error.strerror})") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv[:6])}: no answer in {timeout:g} s") from None
    if check and result.returncode != 0:
        raise LabError(
            f"{' '.join(argv[:8])} failed ({result.returncode}): "
            f"{_short(result.stderr or result.stdout)}"
        )
    return result


def unique_run_id() -> str:
    return uuid.uuid4().hex[:8]


def add_namespaces(names: Iterable[str]) -> None:
    lines = "".join(f"netns add {name}\n" for name in names)
    _run(["ip", "-batch", "-"], input=lines)


def delete_namespaces(names: Iterable[str]) -> list[str]:
    """Deletes the namespaces that exist; returns those that could not be deleted."""
    wanted = [name for name in names if os.path.exists(f"/run/netns/{name}")]
    if wanted:
        lines = "".join(f"netns delete {name}\n" for name in wanted)
        _run(["ip", "-force", "-batch", "-"], input=lines, check=False)
    return [name for name in wanted if os.path.exists(f"/run/netns/{name}")]


def kill_namespace_processes(names: Iterable[str]) -> None:
    """SIGKILL every process inside the namespaces (`ip netns pids`): what a lab started
    there and what those started (a booted OS included: its PID 1 takes its PID
    namespace with it)."""
    for name in names:
        if not os.path.exists(f"/run/netns/{name}"):
            continue
        listed = _run(["ip", "netns", "pids", name], check=False).stdout.split()
        for pid in listed:
            if pid.isdigit() and int(pid) != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)


def run(
    ns: str,
    argv: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """`argv` inside namespace `ns`."""
    return _run(
        ["ip", "netns", "exec", ns, *argv], input=input, env=env, check=check, timeout=timeout
    )


def local(
    argv: Sequence[str], *, check: bool = True, timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """`argv` here (no network namespace): for what touches the lab's files only."""
    return _run(argv, check=check, timeout=timeout)


def short(text: str) -> str:
    """The first lines of a command's output, for a one-line error."""
    return _short(text)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the lab's thread that started it dies, even
    by SIGKILL (kept across exec; `ip netns exec`, `unshare` and `sh -c 'exec ...'` keep
    the process, so the server itself gets it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def popen(ns: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[str]:
    """A long-running command inside `ns` (a server); the caller stops it, and it dies
    with the lab if the lab is killed."""
    return popen_local(["ip", "netns", "exec", ns, *argv], **kwargs)


def popen_local(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[str]:
    """A long-running command here (the booted OS's nspawn); dies with the lab."""
    return subprocess.Popen(list(argv), text=True, preexec_fn=_die_with_parent, **kwargs)


def ip(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["ip", "-n", ns, *args], check=check)


def ip_batch(ns: str, lines: Iterable[str], *, force: bool = False) -> None:
    text = "".join(f"{line}\n" for line in lines)
    if text:
        _run(["ip", "-n", ns, *(["-force"] if force else []), "-batch", "-"], input=text)


def ip_json(ns: str, *args: str) -> Any:
    output = ip(ns, "-j", *args).stdout
    return json.loads(output) if output.strip() else []


def sysctl(ns: str, settings: Mapping[str, str | int]) -> None:
    """Namespace-local sysctls (net.*), through `ip netns exec NS sysctl`."""
    for key in settings:
        if not key.startswith("net."):
            raise ValueError(f"{key}: only net.* sysctls are namespace-local")
    run(ns, ["sysctl", "-q", "-w", *(f"{key}={value}" for key, value in settings.items())])


def nft(ns: str, ruleset: str) -> None:
    run(ns, ["nft", "-f", "-"], input=ruleset)


def nft_json(ns: str, *args: str) -> Any:
    return json.loads(run(ns, ["nft", "-j", *args]).stdout or "{}")


def check_environment() -> None:
    """Raises LabError (one line, exit 2) unless namespaces, ip, nft and ping are usable."""
    if os.geteuid() != 0:
        raise LabError("eniplan lab needs root (it builds network namespaces): run it with sudo")
    for tool in ("ip", "nft", "ping", "sysctl"):
        if shutil.which(tool) is None:
            raise LabError(f"eniplan lab needs {tool!r} (iproute2, nftables, iputils-ping, procps)")
    probe = f"{NAME_PREFIX}-probe-{unique_run_id()}"
    try:
        _run(["ip", "netns", "add", probe])
    except LabError as error:
        raise LabError(f"network namespaces are not available here: {error}") from None
    finally:
        delete_namespaces([probe])
