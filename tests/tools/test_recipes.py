"""The organization recipes (docs/recipes/): the Step Functions state machine and the
GitHub Actions workflow run the same per-account collect and audit commands as the README,
their states and jobs hold together, and the commands themselves, run as written against
moto (an organization, STS, EC2 and S3 in process), collect each account to S3 and audit
the merged pieces. In the tools tier: the run seeds and reads three moto accounts (seconds
of CPU)."""

from __future__ import annotations

import json
import shlex
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from tests.helpers import REPO
from tests.helpers.cli_runner import run

ROOT = REPO
RECIPES = ROOT / "docs" / "recipes"
STATE_MACHINE = RECIPES / "org-audit.asl.json"
WORKFLOW = RECIPES / "org-audit.github-workflow.yml"
REGION = "eu-west-1"


def asl() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(STATE_MACHINE.read_text())
    return document


def workflow() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return document


def container(state: dict[str, Any]) -> tuple[str, set[str]]:
    """The shell command of an ECS task state and the variables its environment sets."""
    [override] = state["Parameters"]["Overrides"]["ContainerOverrides"]
    shell, flag, command = override["Command"]
    assert (shell, flag) == ("sh", "-c")
    return command, {item["Name"] for item in override["Environment"]}


def state_machine_commands() -> tuple[str, str]:
    states = asl()["States"]
    collect, collect_env = container(
        states["CollectEachAccount"]["ItemProcessor"]["States"]["Collect"]
    )
    audit, audit_env = container(states["Audit"])
    assert collect_env == {"ACCOUNT_ID", "BUCKET", "RUN_ID"} and audit_env == {"BUCKET", "RUN_ID"}
    return collect, audit


def workflow_commands() -> tuple[str, str]:
    jobs = workflow()["jobs"]
    [collect] = [
        s["run"] for s in jobs["collect"]["steps"] if s.get("run", "").startswith("eniplan")
    ]
    [audit] = [s["run"] for s in jobs["audit"]["steps"] if s.get("run", "").startswith("eniplan")]
    return collect, audit


def variables(command: str) -> set[str]:
    return {
        match.group("braced")
        for match in string.Template.pattern.finditer(command)
        if match.group("braced")
    }


def test_the_recipes_run_the_readmes_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    (sfn_collect, sfn_audit), (ci_collect, ci_audit) = state_machine_commands(), workflow_commands()
    assert sfn_collect == ci_collect
    for command in (sfn_collect, sfn_audit, ci_audit):
        assert command in readme, command
        assert variables(command) <= {"ACCOUNT_ID", "BUCKET", "RUN_ID"}
    jobs = workflow()["jobs"]
    assert set(workflow()["env"]) == {"BUCKET", "RUN_ID"}
    assert set(jobs["collect"]["env"]) == {"ACCOUNT_ID"}
    assert jobs["collect"]["strategy"]["fail-fast"] is False
    assert jobs["collect"]["needs"] == "accounts" and jobs["audit"]["needs"] == "collect"


def _targets(states: dict[str, Any]) -> Iterator[str]:
    for state in states.values():
        for choice in state.get("Choices", []):
            yield choice["Next"]
        for key in ("Next", "Default"):
            if key in state:
                yield state[key]


def test_the_state_machine_holds_together() -> None:
    document = asl()
    states = document["States"]
    assert document["StartAt"] in states
    assert set(_targets(states)) <= set(states)
    processor = states["CollectEachAccount"]["ItemProcessor"]
    assert processor["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert processor["StartAt"] in processor["States"]
    assert set(_targets(processor["States"])) <= set(processor["States"])
    # every page of ListAccounts goes through the map before the audit
    assert states["ListMoreAccounts"]["Next"] == "CollectEachAccount"
    assert states["MorePages"]["Default"] == "Audit"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
        ("MOTO_EC2_LOAD_DEFAULT_AMIS", "false"),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    with mock_aws():
        yield


def test_moto_accepts_the_state_machine(aws: None) -> None:
    definition = STATE_MACHINE.read_text()
    for name, value in (
        ("EcsCluster", "eniplan"),
        ("TaskDefinition", "eniplan:1"),
        ("Subnet", "subnet-12345678"),
        ("SecurityGroup", "sg-12345678"),
    ):
        definition = definition.replace(f"${{{name}}}", value)
    arn = "arn:aws:iam::123456789012:role/eniplan-states"
    answer = boto3.client("stepfunctions").create_state_machine(
        name="eniplan-org-audit", definition=definition, roleArn=arn
    )
    assert answer["stateMachineArn"].endswith(":eniplan-org-audit")


def test_the_commands_collect_each_account_to_s3_and_audit_the_pieces(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    members = [
        org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
        for name in ("one", "two")
    ]
    sts = boto3.client("sts")
    for account in members:
        keys = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/eniplan-read", RoleSessionName="seed"
        )["Credentials"]
        ec2 = boto3.client(
            "ec2",
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys["SessionToken"],
        )
        image = ec2.register_image(Name="recipe", RootDeviceName="/dev/xvda")["ImageId"]
        first, second, *_ = ec2.describe_subnets()["Subnets"]
        ec2.run_instances(  # ENIs in two subnets, no policy routing: ENI002
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="c6i.large",
            NetworkInterfaces=[
                {"DeviceIndex": 0, "SubnetId": first["SubnetId"]},
                {"DeviceIndex": 1, "SubnetId": second["SubnetId"]},
            ],
        )
    boto3.client("s3").create_bucket(
        Bucket="eniplan-recipe", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    environment = {"BUCKET": "eniplan-recipe", "RUN_ID": "run-1"}
    collect, audit = workflow_commands()

    # the accounts job: the ACTIVE accounts, as `aws organizations list-accounts --query`
    active = [a["Id"] for a in org.list_accounts()["Accounts"] if a["Status"] == "ACTIVE"]
    assert set(members) < set(active)  # the management account too: it has no such role
    for account in members:
        line = string.Template(collect).substitute(environment, ACCOUNT_ID=account)
        argv = shlex.split(line)
        assert argv[:2] == ["eniplan", "collect"]
        code, _, err = run(argv[1:], capsys)
        assert code == 0, err

    line = string.Template(audit).substitute(environment)
    code, out, err = run(shlex.split(line)[1:], capsys)
    assert code == 1, err  # the two ENI002 findings
    assert "ENI002" in out  # and the table on stdout
    sarif = json.loads(Path("eniplan.sarif").read_text())
    results = sarif["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results) == ["ENI002", "ENI002"]
    where = {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in results}
    assert {name.split("/")[0] for name in where} == set(members)  # one in each account
