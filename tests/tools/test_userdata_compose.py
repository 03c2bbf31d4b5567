"""The user's user data is kept: eniplan's cloud-config joins it as MIME multipart, read back
by the real cloud-init (its user-data processor and cloud-config merger, from the Debian
package) and checked by `cloud-init schema`."""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from eniplan.cli import main
from eniplan.userdata_compose import compose
from tests.helpers.cli_runner import assert_one_line_error, run
from tests.helpers.cloudinit import SCRIPT

CLOUD_CONFIG = b"#cloud-config\nruncmd:\n  - [touch, /var/tmp/users-own]\npackages: [htop]\n"
SYSTEM_PYTHON = "/usr/bin/python3"

# What cloud-init makes of user data: its parts (type, payload) and the merged
# cloud-config, through cloudinit.user_data and the cloud-config part handler.
_CLOUD_INIT = """
import json, sys, tempfile
from cloudinit import util
from cloudinit.handlers.cloud_config import CloudConfigPartHandler
from cloudinit.helpers import Paths
from cloudinit.user_data import UserDataProcessor
tmp = tempfile.mkdtemp()
paths = Paths({"cloud_dir": tmp, "run_dir": tmp})
message = UserDataProcessor(paths).process(open(sys.argv[1], "rb").read())
handler = CloudConfigPartHandler(paths)
handler.handle_part(None, "__begin__", None, None, None, None)
parts = []
for part in message.walk():
    if part.get_content_maintype() == "multipart":
        continue
    ctype, payload = part.get_content_type(), util.fully_decoded_payload(part)
    parts.append([ctype, payload])
    if ctype == "text/cloud-config":
        handler.handle_part(None, ctype, part.get_filename(), payload, None, dict(part.items()))
print(json.dumps({"parts": parts, "merged": handler.cloud_buf}))
"""

requires_cloud_init = pytest.mark.skipif(
    shutil.which("cloud-init") is None or not os.path.exists(SYSTEM_PYTHON),
    reason="cloud-init (Debian package) is not installed",
)


def cloud_init_reads(content: str | bytes, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "user-data"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    result = subprocess.run(
        [SYSTEM_PYTHON, "-c", _CLOUD_INIT, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def schema_valid(text: str, tmp_path: Path) -> None:
    path = tmp_path / "eniplan.cfg"
    path.write_text(text)
    result = subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@requires_cloud_init
@pytest.mark.parametrize("theirs", [SCRIPT, CLOUD_CONFIG, gzip.compress(SCRIPT, mtime=0)])
def test_the_users_part_comes_first_unchanged(own: str, theirs: bytes, tmp_path: Path) -> None:
    composed = compose(own, theirs, "i-0123456789abcdef0", replace=False)
    assert isinstance(composed.content, str)
    assert composed.content.startswith("Content-Type: multipart/mixed")
    assert any("kept" in note for note in composed.notes)
    read = cloud_init_reads(composed.content, tmp_path)
    (users_type, users_payload), (eniplans_type, eniplans_payload) = read["parts"]
    assert (
        users_payload == gzip.decompress(theirs).decode()
        if theirs[:2] == b"\x1f\x8b"
        else (users_payload == theirs.decode())
    )
    expected_type = "text/cloud-config" if theirs == CLOUD_CONFIG else "text/x-shellscript"
    assert users_type == expected_type
    assert (eniplans_type, eniplans_payload) == ("text/cloud-config", own)
    schema_valid(eniplans_payload, tmp_path)
    merged = read["merged"]
    if theirs == CLOUD_CONFIG:  # both runcmds and the user's packages survive the merge
        assert merged["runcmd"][0] == ["touch", "/var/tmp/users-own"]
        assert len(merged["runcmd"]) == 1 + len(yaml.safe_load(own)["runcmd"])
        assert merged["packages"] == ["htop"]
    assert merged["write_files"] == yaml.safe_load(own)["write_files"]


@requires_cloud_init
def test_eniplans_own_user_data_is_replaced_not_nested(own: str, tmp_path: Path) -> None:
    again = compose(own, own.encode(), "i-0123456789abcdef0", replace=False)
    assert again.content == own
    assert any("eniplan's (marker): replaced" in note for note in again.notes)
    # An archive eniplan made before: its user part is kept once, its eniplan part replaced.
    first = compose(own.replace("table-base", "table-base"), SCRIPT, "i-0", replace=False)
    assert isinstance(first.content, str)
    second = compose(own, first.content.encode(), "i-0123456789abcdef0", replace=False)
    assert isinstance(second.content, str)
    parts = cloud_init_reads(second.content, tmp_path)["parts"]
    assert [kind for kind, _ in parts] == ["text/x-shellscript", "text/cloud-config"]
    assert parts[0][1] == SCRIPT.decode() and parts[1][1] == own


# --- through the command line -----------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot_with_user_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("keep") / "snap.json"
    try:
        main(["collect", "--sandbox", "-o", str(path)])
    except SystemExit as exit_:
        assert not exit_.code
    document = json.loads(path.read_text())
    region = document["accounts"][0]["regions"][0]
    instance_id = next(
        i["InstanceId"]
        for r in region["Reservations"]
        for i in r["Instances"]
        if {"Key": "Name", "Value": "web-balanced"} in i.get("Tags", [])
    )
    for record in region["InstanceUserData"]:
        if record["InstanceId"] == instance_id:
            record["UserData"] = {"Value": base64.b64encode(SCRIPT).decode()}
    path.write_text(json.dumps(document))
    return path, instance_id


def _user_data(raw: bytes, err: str) -> str:
    """The combined user data as text: gzip-compressed exactly when the notes say so (when
    it would not fit EC2's 16 KB otherwise)."""
    assert len(raw) <= 16384  # EC2's limit
    compressed = raw[:2] == b"\x1f\x8b"
    assert ("gzip-compressed" in err) == compressed, err
    return (gzip.decompress(raw) if compressed else raw).decode()


@requires_cloud_init
def test_render_keeps_the_instances_user_data(
    snapshot_with_user_data: tuple[Path, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, instance_id = snapshot_with_user_data
    select = ["--inventory", str(path), "--instance-id", instance_id]
    code, out, err = run(["render", *select, "--target", "cloud-init", "-o", str(tmp_path)], capsys)
    assert code == 0, err
    out = _user_data((tmp_path / instance_id / "user-data").read_bytes(), err)
    assert "the instance's user data is kept" in err
    kinds = [kind for kind, _ in cloud_init_reads(out, tmp_path)["parts"]]
    assert kinds == ["text/x-shellscript", "text/cloud-config"]

    argv = ["render", *select, "--target", "cloud-init", "--replace-user-data"]
    code, out, err = run([*argv, "--persist", "networkd"], capsys)
    assert code == 0, err
    assert out.startswith("#cloud-config") and "dropped" in err

    tf = tmp_path / "tf"
    code, _, err = run(["render", *select, "--target", "terraform", "-o", str(tf)], capsys)
    assert code == 0, err
    (shipped,) = (tf / instance_id).glob("*.cloud-config.*")
    parts = cloud_init_reads(_user_data(shipped.read_bytes(), err).encode(), tmp_path)["parts"]
    assert parts[0] == ["text/x-shellscript", SCRIPT.decode()]

    code, _, err = run(["render", *select, "--target", "netplan", "--replace-user-data"], capsys)
    assert_one_line_error(code, err, "--replace-user-data applies to --target cloud-init")
