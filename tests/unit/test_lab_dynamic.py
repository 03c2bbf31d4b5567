"""The lab's dynamic target without a lab: how udev's rule is matched, and user data in base64
decoded or refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from eniplan.lab import install
from eniplan.lab.shell import LabError
from eniplan.render import dynamic


@pytest.mark.parametrize(
    ("action", "ifname", "matches"),
    [("add", "ens7", True), ("remove", "eth1", True), ("add", "docker0", False),
     ("change", "ens6", False), ("add", "veth1a2b", False)],
)  # fmt: skip
def test_udev_rule_matching(action: str, ifname: str, matches: bool) -> None:
    (line,) = [line for line in dynamic._UDEV.splitlines() if "RUN+=" in line]
    assert install._udev_matches(line, action, ifname) is matches
    assert install._udev_matches('SUBSYSTEM=="block", RUN+="x"', action, ifname) is False


def test_user_data_in_base64_is_decoded_or_refused(tmp_path: Path) -> None:
    head = "#cloud-config\nwrite_files:\n- path: /opt/x\n  permissions: '0644'\n"
    with pytest.raises(LabError, match="/opt/x: not base64"):
        install.run_cloud_init(head + "  encoding: b64\n  content: '%%'\n", tmp_path)
    with pytest.raises(LabError, match="enables no systemd unit"):
        install.run_cloud_init(head + "  encoding: b64\n  content: aGk=\n", tmp_path)
    assert (tmp_path / "opt/x").read_bytes() == b"hi"
