"""The member role template for --org-role (cloudformation/eniplan-member-role.yaml): it
grants exactly the README's read-only policy, trusts the caller's account, and creates a
role that moto's CloudFormation makes and that the README's caller policy may assume."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from tests.helpers import REPO

ROOT = REPO
TEMPLATE = ROOT / "cloudformation" / "eniplan-member-role.yaml"
CALLER = "111111111111"


def readme_policies() -> dict[str, dict[str, Any]]:
    """The README's JSON policy statements, by Sid."""
    text = (ROOT / "README.md").read_text()
    statements: dict[str, dict[str, Any]] = {}
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        document = json.loads(block)
        if isinstance(document, dict) and "Statement" in document:
            for statement in document["Statement"]:
                statements[statement["Sid"]] = statement
    return statements


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def test_the_template_grants_the_readmes_read_only_policy() -> None:
    template = yaml.safe_load(TEMPLATE.read_text())  # long-form intrinsics: plain YAML
    role = template["Resources"]["EniplanReadRole"]["Properties"]
    [policy] = role["Policies"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement == readme_policies()["EniplanReadOnly"]
    assert template["Parameters"]["RoleName"]["Default"] == "eniplan-read"
    # the README's caller policy may assume the role by its default name
    caller = readme_policies()["EniplanAssumeMemberRole"]
    assert caller["Action"] == "sts:AssumeRole"
    assert caller["Resource"] == "arn:aws:iam::*:role/eniplan-read"
    assert set(readme_policies()["EniplanListOrganization"]["Action"]) == {
        "organizations:ListAccounts",
        "organizations:ListAccountsForParent",
        "organizations:ListOrganizationalUnitsForParent",
    }


def test_cloudformation_creates_the_role(aws: None) -> None:
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(
        StackName="eniplan-member-role",
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": "TrustedAccountId", "ParameterValue": CALLER}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    [stack] = cloudformation.describe_stacks(StackName="eniplan-member-role")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    [output] = stack["Outputs"]
    assert output["OutputValue"].endswith(":role/eniplan-read")

    iam = boto3.client("iam")
    role = iam.get_role(RoleName="eniplan-read")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(trust)
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{CALLER}:root"}
    assert statement["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{CALLER}:role/*"}
    }
    [name] = iam.list_role_policies(RoleName="eniplan-read")["PolicyNames"]
    document = iam.get_role_policy(RoleName="eniplan-read", PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):  # moto keeps CloudFormation's inline policy as a repr:
        document = yaml.safe_load(document)  # a YAML flow mapping
    assert document["Statement"] == [readme_policies()["EniplanReadOnly"]]
