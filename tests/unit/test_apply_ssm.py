"""`eniplan apply --ssm`: the AWS-RunShellScript command of each instance (what the static
cloud-init target installs), sent through moto's SSM, with --max-concurrency/--max-errors,
per-instance results and exit codes; nothing sent without --yes."""

from __future__ import annotations

import base64
import gzip
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eniplan import ssm
from eniplan.inventory import InventoryRequest, load_inventory
from eniplan.plan import plan_inventory
from eniplan.render import cloudinit
from eniplan.sources.aws import AwsOptions
from tests.helpers import FIXTURES
from tests.helpers.cli_runner import assert_one_line_error, run

DUMPS = str(FIXTURES / "awscli" / "by-region")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def test_the_command_installs_exactly_the_cloud_init_files(ssm_targets: list[ssm.Target]) -> None:
    for target in ssm_targets:
        files, _ = cloudinit.script_files(target.plan)
        text = "\n".join(target.lines)
        payloads = re.findall(r"printf '%s' '([A-Za-z0-9+/=]+)' \| base64 -d \| gunzip", text)
        assert [gzip.decompress(base64.b64decode(p)).decode() for p in payloads] == [
            file.content for file in files
        ]
        for file in files:
            assert f"mv -f '{file.path}.eniplan-new' '{file.path}'" in text
        assert text.rstrip().endswith(f"systemctl start {cloudinit.REAPPLY_UNIT}")
        assert f"systemctl restart {cloudinit.UNIT_NAME}" in text


def test_without_yes_nothing_is_sent(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["apply", "--ssm", "--inventory", DUMPS], capsys)
    assert code == 0, err
    assert out.count("# --- i-") == 1 and "AWS-RunShellScript" in out
    assert "nothing sent: pass --yes" in err
    client = boto3.client("ssm", region_name="us-east-1")
    assert client.list_commands()["Commands"] == []


def test_yes_sends_one_command_per_instance(
    aws: None, capsys: pytest.CaptureFixture[str], ssm_targets: list[ssm.Target]
) -> None:
    code, out, err = run(["apply", "--ssm", "--inventory", DUMPS, "--yes"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == len(ssm_targets)
    assert all(re.match(r"i-[0-9a-f]+  Success exit 0  \S+", line) for line in lines), lines
    sent: list[dict[str, Any]] = []
    for region in {target.plan.region for target in ssm_targets}:
        sent += boto3.client("ssm", region_name=region).list_commands()["Commands"]
    by_instance = {command["InstanceIds"][0]: command for command in sent}
    assert set(by_instance) == {target.plan.instance_id for target in ssm_targets}
    for target in ssm_targets:
        command = by_instance[target.plan.instance_id]
        assert command["DocumentName"] == "AWS-RunShellScript"
        assert command["Parameters"]["commands"] == list(target.lines)


class FlakyClient:
    """An SSM client whose commands fail on some instances (moto's always succeed)."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.sent: list[str] = []

    def send_command(self, **kwargs: Any) -> dict[str, Any]:
        (instance,) = kwargs["InstanceIds"]
        self.sent.append(instance)
        return {"Command": {"CommandId": f"c-{instance}"}}

    def get_command_invocation(self, CommandId: str, InstanceId: str) -> dict[str, Any]:
        if InstanceId in self.failing:
            return {"Status": "Failed", "ResponseCode": 2, "StandardErrorContent": "boom\n"}
        return {"Status": "Success", "ResponseCode": 0}


def test_max_errors_stops_sending_and_each_result_is_named(ssm_targets: list[ssm.Target]) -> None:
    many = [
        ssm.Target(
            replace(ssm_targets[0].plan, instance_id=f"i-{index:017x}"), ssm_targets[0].lines
        )
        for index in range(6)
    ]
    ids = [target.plan.instance_id for target in many]
    client = FlakyClient({ids[0]})
    outcomes = ssm.send_all(
        many, lambda _a, _r: client, max_concurrency=2, max_errors=0, timeout=5, poll=0
    )
    assert [o.status for o in outcomes] == ["Failed", "Success", "NotSent", "NotSent", "NotSent",
                                            "NotSent"]  # fmt: skip
    assert outcomes[0].response_code == 2 and outcomes[0].detail == "boom"
    assert len(client.sent) == 2
    client = FlakyClient({ids[0]})
    outcomes = ssm.send_all(
        many, lambda _a, _r: client, max_concurrency=2, max_errors=1, timeout=5, poll=0
    )
    assert len(client.sent) == 6 and [o.ok for o in outcomes].count(False) == 1
    client = FlakyClient({ids[0], ids[1]})
    outcomes = ssm.send_all(
        many, lambda _a, _r: client, max_concurrency=2, max_errors=1, timeout=5, poll=0
    )
    assert [o.status for o in outcomes].count("NotSent") == 4  # 2 failed, more than 1
    client = FlakyClient({ids[0], ids[3]})
    outcomes = ssm.send_all(
        many, lambda _a, _r: client, max_concurrency=3, max_errors=2, timeout=5, poll=0
    )
    assert len(client.sent) == 6 and [o.ok for o in outcomes].count(False) == 2


def test_apply_needs_ssm_and_refuses_to_send_to_the_sandbox(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["apply", "--inventory", DUMPS], capsys)
    assert_one_line_error(code, err, "apply needs --ssm")
    code, _, err = run(["apply", "--ssm", "--sandbox", "--yes"], capsys)
    assert_one_line_error(code, err, "--sandbox instances do not exist")


def test_some_instances_failing_is_partial_each_named(
    aws: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    snapshot = tmp_path / "sandbox.json"
    assert run(["collect", "--sandbox", "-o", str(snapshot)], capsys)[0] == 0
    chosen, _ = ssm.targets(plan_inventory(load_inventory(InventoryRequest(
        aws=AwsOptions(), inventory_paths=(str(snapshot),)))))  # fmt: skip
    assert len(chosen) >= 2
    ids = [target.plan.instance_id for target in chosen]
    client = FlakyClient({ids[0]})
    monkeypatch.setattr(ssm, "client_factory", lambda *_: lambda _a, _r: client)
    argv = ["apply", "--ssm", "--inventory", str(snapshot), "--yes", "--max-errors", "9"]
    code, out, err = run(argv, capsys)
    assert code == 4, err
    assert f"{ids[0]}  Failed exit 2" in out and f"{ids[1]}  Success exit 0" in out
    assert f"eniplan: warning: {ids[0]}: not applied (Failed)" in err
    client.failing = set(ids)
    code, _, err = run(argv, capsys)
    assert code == 1, err  # none applied
