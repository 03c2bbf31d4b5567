"""A demanding user's bad-input sweep: each case here was a traceback, an internal error
(exit 3), a misleading message or a damaged file before it was fixed. Bad input must give
exactly one `eniplan: error:` line naming the place and what was expected, and exit 2."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from eniplan import values
from eniplan.cli import main
from eniplan.errors import InputError
from eniplan.fileio import write_atomic
from eniplan.sources.sandbox import load_scenario
from tests.helpers import FIXTURES, REPO
from tests.helpers.cli_runner import assert_one_line_error, run

DOCTOR = FIXTURES / "doctor"
TFPLAN = FIXTURES / "plans" / "cases.json"  # a real plan (tests/helpers/realplan.py)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sandbox scenario as a snapshot file (collected once)."""
    path = tmp_path_factory.mktemp("sweep") / "snap.json"
    try:
        main(["collect", "--sandbox", "-o", str(path)])
    except SystemExit as exit_:
        assert not exit_.code
    return path


# --- outputs: write_atomic must never replace what is not a regular file ----------------


def test_write_atomic_writes_into_a_fifo_instead_of_replacing_it(tmp_path: Path) -> None:
    # Before: the temporary file was renamed over the target, so `-o /dev/null` (or
    # /dev/stdout, /dev/full) replaced the device node itself with a regular file.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_atomic(fifo, "through the pipe\n")
    reader.join(timeout=10)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_write_atomic_follows_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_write_atomic_to_a_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        write_atomic(tmp_path, "x")


def test_audit_output_to_dev_full_is_one_line(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = Path("/dev/full")
    if not full.exists() or not stat.S_ISCHR(full.stat().st_mode):
        pytest.skip("no /dev/full character device")
    code, _, err = run(["audit", "--inventory", str(snapshot), "-o", str(full)], capsys)
    assert_one_line_error(code, err, "/dev/full", "cannot write")
    assert stat.S_ISCHR(full.stat().st_mode), "/dev/full was replaced"


# --- check-plan -------------------------------------------------------------------------


@pytest.mark.parametrize("bad_type", [[], {}, ["aws_instance"], {"x": None}, 7])
@pytest.mark.parametrize("where", ["resource_changes", "configuration"])
def test_check_plan_resource_type_not_a_string(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad_type: Any, where: str
) -> None:
    document = json.loads(TFPLAN.read_text())
    if where == "resource_changes":
        document["resource_changes"][0]["type"] = bad_type
        expected = "resource_changes[0].type: expected a string"
    else:
        module = document["configuration"]["root_module"]["module_calls"]["web"]["module"]
        module["resources"][0]["type"] = bad_type
        expected = ".type: expected a string"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    code, _, err = run(["check-plan", str(path), "--format", "json"], capsys)
    assert_one_line_error(code, err, str(path), expected, type(bad_type).__name__)


# --- doctor -----------------------------------------------------------------------------


def _doctor_args(addr: str, rule: str, route: str) -> list[str]:
    return ["doctor", "--ip-addr", addr, "--ip-rule", rule, "--ip-route", route]


@pytest.mark.parametrize("which", ["addr", "rule", "route"])
def test_doctor_reads_one_capture_from_stdin(
    which: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "addr": DOCTOR / "seed002-addr.txt",
        "rule": DOCTOR / "seed002-rule.txt",
        "route": DOCTOR / "seed002-route.txt",
    }
    expected_code, expected_out, _ = run(
        [*_doctor_args(*(str(files[k]) for k in ("addr", "rule", "route"))), "--format", "json"],
        capsys,
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(files[which].read_bytes())))
    paths = {k: ("-" if k == which else str(v)) for k, v in files.items()}
    code, out, err = run(
        [*_doctor_args(paths["addr"], paths["rule"], paths["route"]), "--format", "json"], capsys
    )
    assert "error" not in err
    assert code == expected_code
    # the same diagnosis, only the source named differently
    assert json.loads(out)["findings"] == json.loads(expected_out)["findings"]


def test_doctor_stdin_twice_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(_doctor_args("-", "-", str(DOCTOR / "seed002-route.txt")), capsys)
    assert_one_line_error(code, err, "only one of them can be '-'")


def test_doctor_stdin_garbage_names_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # (not b"\xff\xfe": that is a UTF-16 byte order mark, read as an empty capture)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\x80\xff\x81")))
    code, _, err = run(
        _doctor_args("-", str(DOCTOR / "seed002-rule.txt"), str(DOCTOR / "seed002-route.txt")),
        capsys,
    )
    assert_one_line_error(code, err, "<stdin>: not text")


def test_doctor_error_quoting_an_overlong_word_stays_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    route = tmp_path / "route.txt"
    route.write_text('[{"dst":"default","gateway":"10.0.0.1","dev":"eth0"' + ",0" * 500 + "}]\n")
    code, _, err = run(
        _doctor_args(
            str(DOCTOR / "seed002-addr.txt"), str(DOCTOR / "seed002-rule.txt"), str(route)
        ),
        capsys,
    )
    line = assert_one_line_error(code, err, str(route), "line 1")
    assert len(line) < 400, line


# --- AWS source options and environment -------------------------------------------------


@pytest.mark.parametrize(
    "url", ["", "http://", "http://[::1", "http://x:99999", "http:// x", "https://exa mple.com"]
)
def test_endpoint_url_is_checked_before_botocore(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: botocore's ValueError ("Invalid endpoint") surfaced as an internal error.
    with pytest.raises(ValueError, match="not a valid endpoint URL"):
        values.endpoint_url(url)
    code, _, err = run(["inspect", "--region", "eu-west-1", "--endpoint-url", url], capsys)
    assert_one_line_error(code, err, "--endpoint-url", repr(url))


@pytest.mark.parametrize(
    "url", ["http://localhost:5000", "https://ec2.eu-west-1.amazonaws.com", "http://[::1]:5000/"]
)
def test_endpoint_url_accepts_real_urls(url: str) -> None:
    assert values.endpoint_url(url) == url


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Fake credentials, no profile, no config files, no endpoint: nothing reaches AWS."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("AWS_ENDPOINT_URL", "garbage", "AWS_ENDPOINT_URL: 'garbage'"),
        ("AWS_ENDPOINT_URL_EC2", "http://[::1", "AWS_ENDPOINT_URL_EC2:"),
        ("AWS_RETRY_MODE", "fast", "AWS_RETRY_MODE: 'fast' is not one of"),
        ("AWS_MAX_ATTEMPTS", "x", "AWS_MAX_ATTEMPTS: 'x'"),
        ("AWS_MAX_ATTEMPTS", "0", "AWS_MAX_ATTEMPTS: '0'"),
        ("AWS_DEFAULT_REGION", "mars", "'mars' is not an AWS region name"),
        ("AWS_CONFIG_FILE", "GARBAGE", "AWS configuration: Unable to parse config file"),
    ],
)
def test_bad_aws_environment_is_one_line(
    aws_env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    fragment: str,
) -> None:
    if value == "GARBAGE":
        garbage = tmp_path / "config"
        garbage.write_bytes(bytes(range(32, 127)) + b"\n[profile\n= =\n")
        value = str(garbage)
    aws_env.setenv(name, value)
    argv = ["inspect"] if name == "AWS_DEFAULT_REGION" else ["inspect", "--region", "eu-west-1"]
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, fragment)


# --- render -----------------------------------------------------------------------------


def test_render_usage_error_is_the_only_line(
    snapshot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: one "skipped" line per unmanaged instance came first, then the error.
    code, out, err = run(["render", "--inventory", str(snapshot), "--target", "iproute2"], capsys)
    assert_one_line_error(code, err, "pass -o DIR")
    assert out == ""


def test_render_skipped_instances_are_still_listed_on_success(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["render", "--inventory", str(snapshot), "--target", "iproute2", "-o", str(tmp_path)],
        capsys,
    )
    assert code == 0, err
    assert ": skipped, " in err
    assert "wrote " in err


def test_render_nothing_to_do_names_the_reason(
    snapshot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(snapshot.read_text())
    instances = [
        instance
        for account in document["accounts"]
        for region in account["regions"]
        for reservation in region["Reservations"]
        for instance in reservation["Instances"]
    ]
    single = next(i for i in instances if len(i["NetworkInterfaces"]) == 1)
    argv = ["render", "--inventory", str(snapshot), "--target", "netplan"]
    code, _, err = run([*argv, "--instance-id", single["InstanceId"]], capsys)
    assert_one_line_error(code, err, "nothing to render", single["InstanceId"], "nothing-to-do")
    # the iproute2 target has something to say to a one-ENI instance: its teardown script
    teardown = ["render", "--inventory", str(snapshot), "--target", "iproute2"]
    code, out, err = run([*teardown, "--instance-id", single["InstanceId"]], capsys)
    assert code == 0, err
    assert out.startswith("#!/bin/sh") and "removes what an earlier eniplan script" in err
    code, _, err = run([*argv, "--tag", "no-such-tag=x"], capsys)
    assert_one_line_error(code, err, "nothing to render", "no instance selected")


@pytest.mark.parametrize("under", ["file", "dangling-link"])
def test_render_output_dir_under_a_file(
    under: str, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: the error named a deep path (DIR/i-.../usr/local/sbin: cannot create directory)
    blocker = tmp_path / "blocker"
    if under == "file":
        blocker.write_text("")
    else:
        blocker.symlink_to(tmp_path / "nowhere")
    target = blocker / "out"
    code, _, err = run(
        ["render", "--inventory", str(snapshot), "--target", "iproute2", "-o", str(target)],
        capsys,
    )
    assert_one_line_error(code, err, f"-o {target}: {blocker} is not a directory")


# --- sandbox scenario files -------------------------------------------------------------


def _scenario(path: str, value: Any) -> dict[str, Any]:
    """The bundled scenario with the value at a dotted path replaced (None: deleted)."""
    document: dict[str, Any] = yaml.safe_load(SCENARIO.read_text())
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = document
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return document


DELETE = object()
SCENARIO = REPO / "eniplan" / "scenarios" / "default.yaml"


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        # each was an internal error (KeyError, TypeError, IndexError or moto's ClientError)
        ("seed", "x", "seed: expected a whole number"),
        ("seed", None, "seed: expected a whole number"),
        ("vpcs.lab.cidr", "x", "vpcs.lab.cidr: 'x' is not an IPv4 CIDR block"),
        ("vpcs.lab.cidr", DELETE, "vpcs.lab.cidr: None is not an IPv4 CIDR block"),
        ("vpcs.lab.ipv6", DELETE, "subnets.lab-b.ipv6: VPC lab has no IPv6"),
        ("vpcs.default.default", DELETE, "vpcs.default.cidr"),
        ("subnets.lab-a.vpc", [], "subnets.lab-a.vpc: [] is not one of the vpcs"),
        ("subnets.lab-a.cidr", DELETE, "subnets.lab-a.cidr: None is not an IPv4 CIDR"),
        ("subnets.lab-a.zone", "x", "subnets.lab-a.zone: 'x' is not an availability zone"),
        ("subnets.lab-a.zone", "us-east-1a", "'us-east-1a' is not a zone of region eu-west-1"),
        ("subnets.lab-b.ipv6", None, "ipv6_count: subnet lab-b has no IPv6"),
        ("subnets.lab-b.ipv6", "yes", "subnets.lab-b.ipv6: expected true or false"),
        ("images.centos7.id", "ami-zz", "images.centos7.id: 'ami-zz' is not a valid ami- ID"),
        ("images.centos7.name", 5, "images.centos7.name: expected the image name"),
        ("route_tables.private-via-nat.subnets", ["nope"], "is not one of the subnets"),
        ("instances.0.enis.0.ip", "10.0.0.999", "instances[0].enis[0].ip: '10.0.0.999'"),
        ("instances.0.enis.1.ip", "192.168.1.5", "192.168.1.5 is not in subnet lab-a"),
        ("instances.0.enis.0.secondary_ips", "10.0.0.5", "secondary_ips: expected a list"),
        ("instances.0.enis.0.ipv6_count", "2", "ipv6_count: expected a number"),
        ("instances.0.enis.0.source_dest_check", "no", "source_dest_check: expected true"),
        ("instances.0.tags", ["a"], "instances[0].tags: expected a mapping"),
        ("instances.0.image", ["x"], "instances[0].image: ['x'] is neither"),
        ("instances", {"a": 1}, "instances: expected a list"),
        ("instances.0.enis.0.subnet", [], "instances[0].enis[0].subnet: expected a subnet"),
        ("route_tables.private-via-nat.subnets", {}, "subnets: expected a list"),
    ],
)
def test_bad_scenario_is_one_line(
    path: str, value: Any, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(_scenario(path, value)))
    with pytest.raises(InputError, match=re.escape(fragment)):
        load_scenario(str(scenario))
    # the CLI, for the first few (each CLI run seeds moto: keep the file fast)
    if path.startswith(("seed", "vpcs.lab.cidr", "subnets.lab-b.ipv6")):
        code, _, err = run(["demo", str(scenario)], capsys)
        assert_one_line_error(code, err, str(scenario), fragment)


def test_scenario_address_given_twice_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same IP on two instances' ENIs. Before: moto's "IP already in use" exception
    # was an internal error.
    document = _scenario("instances.1.enis.0", {"subnet": "lab-a", "ip": "10.0.0.124"})
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(document))
    code, _, err = run(["inspect", "--sandbox", str(scenario)], capsys)
    assert_one_line_error(
        code, err, "instances[1].enis[0]: 10.0.0.124 is already given at instances[0].enis[0]"
    )


# --- inventory semantics and selection --------------------------------------------------


def _enis_of_first_multi_eni_instance(document: dict[str, Any]) -> tuple[str, list[Any]]:
    region = document["accounts"][0]["regions"][0]
    instance = next(
        i for r in region["Reservations"] for i in r["Instances"] if len(i["NetworkInterfaces"]) > 1
    )
    ids = [e["NetworkInterfaceId"] for e in instance["NetworkInterfaces"][:2]]
    enis = {e["NetworkInterfaceId"]: e for e in region["NetworkInterfaces"]}
    return instance["InstanceId"], [enis[i] for i in ids]


def test_one_address_on_two_enis_of_an_instance(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(snapshot.read_text())
    _, (first, second) = _enis_of_first_multi_eni_instance(document)
    address = first["PrivateIpAddress"]
    second["PrivateIpAddress"] = address
    second["PrivateIpAddresses"][0]["PrivateIpAddress"] = address
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(document))
    code, _, err = run(["plan", "--inventory", str(path)], capsys)
    # that instance is left out, named with the reason; the others are planned: exit 4
    assert code == 4, err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"eniplan: warning: left out {path}: "), line
    assert f"address {address} is on ENI {first['NetworkInterfaceId']}" in line


def test_instance_id_not_in_the_inventory(
    snapshot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: an empty plan and exit 0, as if the instance had nothing to do.
    document = json.loads(snapshot.read_text())
    known, _ = _enis_of_first_multi_eni_instance(document)
    absent = "i-" + "0" * 17
    assert absent != known
    for command in (["plan"], ["audit"], ["inspect"], ["render", "--target", "iproute2"]):
        code, _, err = run(
            [
                *command,
                "--inventory",
                str(snapshot),
                "--instance-id",
                known,
                "--instance-id",
                absent,
            ],
            capsys,
        )
        assert_one_line_error(code, err, f"--instance-id: {absent} not found")


# --- empty and oversized paths ----------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["check-plan", str(TFPLAN), "-o", ""], "-o: the output path is empty"),
        (
            ["render", "--target", "cloud-init", "--mode", "dynamic", "-o", ""],
            "-o: the output directory is empty",
        ),
    ],
)
def test_empty_output_path(
    argv: list[str],
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Before: '' meant the current directory (render wrote ./dynamic/user-data) or gave
    # ": is a directory".
    monkeypatch.chdir(tmp_path)
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, fragment)
    assert list(tmp_path.iterdir()) == []


def test_check_plan_user_data_file_too_large(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: a named file over 1 MiB was dropped without a word.
    big = tmp_path / "user-data.txt"
    big.write_bytes(b"#cloud-config\n" + b"x" * (1024 * 1024))
    code, _, err = run(["check-plan", str(TFPLAN), "--user-data", str(big)], capsys)
    assert_one_line_error(code, err, f"--user-data: {big}: larger than")
    # in a directory, such a file is one of the others and is skipped
    code, _, err = run(["check-plan", str(TFPLAN), "--user-data", str(tmp_path)], capsys)
    assert code in (0, 1), err
    assert "error" not in err


# --- inventory text encodings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("encode", "accepted"),
    [
        (lambda text: b"\xef\xbb\xbf" + text.encode(), True),  # UTF-8 with a BOM
        (lambda text: text.encode("utf-16"), True),  # Windows PowerShell 5's `>`
        (lambda text: text.encode("utf-32"), True),
        (lambda text: text.replace("{", '{"x": "caf\xe9", ', 1).encode("latin-1"), False),
    ],
    ids=["utf8-bom", "utf16-bom", "utf32-bom", "latin1"],
)
def test_inventory_encodings(
    encode: Any, accepted: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: a BOM gave "Unexpected UTF-8 BOM (decode using utf-8-sig)" and UTF-16 a
    # codec traceback text ("'utf-8' codec can't decode byte 0xff in position 0").
    text = (FIXTURES / "awscli" / "flat" / "us-east-1.describe-subnets.json").read_text()
    path = tmp_path / "subnets.json"
    path.write_bytes(encode(text))
    code, _, err = run(["inspect", "--inventory", str(path)], capsys)
    if accepted:
        assert "error" not in err
        assert code == 0
    else:
        assert_one_line_error(code, err, str(path), "not text (expected UTF-8 JSON")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        # Before: "format_version 1.2 is not supported (expected 0.1 to 1.x ...)"
        ('{"format_version": 1.2, "resource_changes": []}', 'expected a string like "1.2"'),
        ('{"format_version": ["1.2"]}', 'expected a string like "1.2", got list'),
        # Before: "truncated JSON: it ends early" for a file that never was JSON
        ("\x00", "not JSON"),
        ("x", "not JSON"),
        ('{"format_version": "1.2", "resource_changes": [', "truncated JSON"),
    ],
)
def test_check_plan_format_messages(
    content: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    code, _, err = run(["check-plan", str(path)], capsys)
    assert_one_line_error(code, err, str(path), fragment)
