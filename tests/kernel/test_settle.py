"""render/settle.sh, which the units that link changes start run their command through,
in a private mount namespace whose /run is a fresh tmpfs (networkd's state directories
made there): it runs the command again while the network changed during a run or the
run failed, and stops once a run succeeded and nothing changed until half a second after
it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from eniplan.render import common

LINKS = "/run/systemd/netif/links"


def _settle(tmp_path: Path, command: str) -> tuple[int, int]:
    """(exit status, runs) of settle.sh running `command` (sh; RUN is its run number)."""
    settle = tmp_path / "settle.sh"
    settle.write_text(str(common.settle_file().content))
    counter = tmp_path / "runs"
    counter.write_text("0")
    body = f"n=$(($(cat {counter}) + 1)); echo $n > {counter}; RUN=$n; {command}"
    script = f'mount -t tmpfs eniplan-test /run && mkdir -p {LINKS} && exec sh "$@"'
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "settle",
         str(settle), "sh", "-c", body],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode, int(counter.read_text())


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("true", (0, 1)),  # nothing changed: one run
        # networkd replaced a link's state file during the first run: once more
        (f"[ $RUN -gt 1 ] || {{ echo x > {LINKS}/2.new && mv {LINKS}/2.new {LINKS}/2; }}", (0, 2)),
        # a file written in the first run, removed (a lease lost) in the second: a third
        (f"[ $RUN -ne 1 ] || echo x > {LINKS}/3; [ $RUN -ne 2 ] || rm {LINKS}/3", (0, 3)),
        ("[ $RUN -ge 3 ]", (0, 3)),  # failed twice (the address not back yet), then held
        # NetworkManager's dispatcher touched its event file during the first run
        (f"[ $RUN -gt 1 ] || touch {common.NM_EVENT}", (0, 2)),
    ],
)
def test_settle_runs_until_the_network_held_still(
    tmp_path: Path, command: str, expected: tuple[int, int]
) -> None:
    assert _settle(tmp_path, command) == expected
