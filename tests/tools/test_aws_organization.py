"""The AWS source reading a whole organization (`--org-role`) from moto: an organization,
its OUs and five accounts, each read by assuming the role in it. In the tools tier: each
test seeds and reads several moto accounts (seconds of CPU each); the single-account
source is tested in tests/unit/test_aws_source.py."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from eniplan.errors import InputError
from eniplan.sources.aws import AwsOptions, collect
from eniplan.sources.shapes import build_inventory
from tests.helpers.moto_aws import (
    ACCOUNT,
    REGION,
    Raw,
    Requests,
    assumed,
    ec2,
    ec2_error,
    paging_account,
    run,
    sts_error,
    without_aws_config,
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    without_aws_config(monkeypatch, tmp_path)
    with paging_account(monkeypatch):
        yield


ORG_ROLE = "eniplan-read"


def an_organization() -> tuple[dict[str, str], dict[str, str]]:
    """An organization whose management account is the caller's: accounts "a" under OU
    "apps", "b" under its child OU "web", "c" at the root and "gone", closed; one instance
    in every account, the management account included. ({name: account}, {OU name: ID})."""
    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    apps = org.create_organizational_unit(ParentId=root, Name="apps")["OrganizationalUnit"]["Id"]
    web = org.create_organizational_unit(ParentId=apps, Name="web")["OrganizationalUnit"]["Id"]
    accounts = {"management": ACCOUNT}
    for name, parent in (("a", apps), ("b", web), ("c", root), ("gone", root)):
        status = org.create_account(AccountName=name, Email=f"{name}@example.com")
        account = status["CreateAccountStatus"]["AccountId"]
        if parent != root:
            org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=parent)
        accounts[name] = account
    for account in accounts.values():
        run(ec2(session=assumed(f"arn:aws:iam::{account}:role/{ORG_ROLE}")), 1)
    org.close_account(AccountId=accounts["gone"])
    return accounts, {"root": root, "apps": apps, "web": web}


def accounts_read(collection: Any) -> set[str]:
    return {shapes.account_id for shapes in collection.shapes}


def test_org_role_reads_every_active_account(aws: None) -> None:
    accounts, _ = an_organization()
    requests = Requests()

    collection = collect(
        AwsOptions(regions=(REGION, "us-east-1"), org_role=ORG_ROLE), client_hook=requests.hook
    )

    expected = {accounts[name] for name in ("management", "a", "b", "c")}  # not "gone"
    assert accounts_read(collection) == expected
    assert len(collection.shapes) == 2 * len(expected)
    assert {i.account_id for i in build_inventory(collection).instances} == expected
    assert not collection.problems
    assert requests.counts[("sts", REGION, "AssumeRole")] == len(expected)
    org_calls = {
        op: n for (service, _, op), n in requests.counts.items() if service == "organizations"
    }
    assert org_calls == {"ListAccounts": 1}  # 5 accounts: one page


def test_org_ou_is_recursive_and_exclude_account_leaves_out(aws: None) -> None:
    accounts, ous = an_organization()

    under_apps = collect(AwsOptions(regions=(REGION,), org_role=ORG_ROLE, org_ous=(ous["apps"],)))
    assert accounts_read(under_apps) == {accounts["a"], accounts["b"]}  # "web" is under "apps"

    both = (ous["web"], ous["apps"])  # named twice (web is under apps): read once
    excluded = collect(
        AwsOptions(
            regions=(REGION,),
            org_role=ORG_ROLE,
            org_ous=both,
            exclude_accounts=(accounts["b"],),
        )
    )
    assert accounts_read(excluded) == {accounts["a"]}
    assert len(excluded.shapes) == 1

    everyone_but = collect(
        AwsOptions(regions=(REGION,), org_role=ORG_ROLE, exclude_accounts=(ACCOUNT,))
    )
    assert accounts_read(everyone_but) == {accounts[name] for name in ("a", "b", "c")}


def test_org_accounts_that_fail_make_a_partial_collection(aws: None) -> None:
    accounts, _ = an_organization()
    denied, closed = accounts["a"], accounts["c"]
    closed_keys: set[str] = set()

    def account_faults(client: Any) -> None:
        service = client.meta.service_model.service_name
        if service == "sts":

            def refuse(request: Any, **_: Any) -> AWSResponse | None:
                body = request.body.decode() if isinstance(request.body, bytes) else request.body
                [arn] = urllib.parse.parse_qs(body or "")["RoleArn"]
                return sts_error("AccessDenied", 403) if f"::{denied}:" in arn else None

            def remember(parsed: Any, **_: Any) -> None:  # the closed account's credentials
                if f"::{closed}:" in parsed.get("AssumedRoleUser", {}).get("Arn", ""):
                    closed_keys.add(parsed["Credentials"]["AccessKeyId"])

            client.meta.events.register_first("before-send.sts.AssumeRole", refuse)
            client.meta.events.register("after-call.sts.AssumeRole", remember)
        elif service == "ec2":

            def suspended(request: Any, **_: Any) -> AWSResponse | None:
                key = request.headers["Authorization"].decode().split("Credential=")[1]
                return ec2_error("AuthFailure", 401) if key.split("/")[0] in closed_keys else None

            client.meta.events.register_first("before-send.ec2", suspended)

    collection = collect(
        AwsOptions(regions=(REGION,), org_role=ORG_ROLE), client_hook=account_faults
    )

    assert accounts_read(collection) == {accounts[n] for n in ("management", "b")}
    problems = {(p.account, p.region, p.code) for p in collection.problems}
    assert problems == {
        (f"arn:aws:iam::{denied}:role/{ORG_ROLE}", "", "AccessDenied"),
        (closed, REGION, "AuthFailure"),
    }
    assert build_inventory(collection).partial


def test_an_org_account_listed_with_an_unusable_id_is_a_problem(aws: None) -> None:
    accounts, _ = an_organization()

    def garble_first(client: Any) -> None:
        def garble(parsed: Any, **_: Any) -> None:
            parsed["Accounts"][0]["Id"] = "1234; reboot"

        if client.meta.service_model.service_name == "organizations":
            client.meta.events.register("after-call.organizations.ListAccounts", garble)

    collection = collect(AwsOptions(regions=(REGION,), org_role=ORG_ROLE), client_hook=garble_first)

    [problem] = collection.problems
    assert problem.account == "organization" and "'1234; reboot'" in problem.message
    assert "is not an AWS account ID" in problem.message
    # ListAccounts lists by joining time: the management account first, garbled here
    assert accounts_read(collection) == {accounts[name] for name in ("a", "b", "c")}


def test_an_organization_that_cannot_be_listed_is_an_input_error(aws: None) -> None:
    def refuse(client: Any) -> None:
        if client.meta.service_model.service_name == "organizations":
            body = b'{"__type": "AccessDeniedException", "Message": "injected"}'
            answer = AWSResponse("https://organizations/", 400, HTTPHeaders(), Raw(body))
            client.meta.events.register_first("before-send", lambda **_: answer)

    with pytest.raises(InputError, match="management account or a delegated administrator"):
        collect(AwsOptions(regions=(REGION,), org_role=ORG_ROLE), client_hook=refuse)
    accounts, _ = an_organization()
    with pytest.raises(InputError, match="no ACTIVE account to read once --exclude-account"):
        collect(
            AwsOptions(
                regions=(REGION,), org_role=ORG_ROLE, exclude_accounts=tuple(accounts.values())
            )
        )
