"""`--org-role`: the accounts of an AWS Organization, and the role to assume in each.

Asked of the management account or a delegated administrator: organizations:ListAccounts
for the whole organization, or, with `--org-ou`, ListAccountsForParent and
ListOrganizationalUnitsForParent down through every child OU. Pages are the largest the
API allows (20). Only ACTIVE accounts are kept (`State`, or the older `Status`), less
`--exclude-account`. The listing is the one step that stops a run when it fails: without
it there is nothing to read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eniplan import values
from eniplan.errors import InputError
from eniplan.sources.awsoptions import AwsOptions

PAGE_SIZE = 20  # MaxResults of the three listing calls
ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class Member:
    account_id: str
    role_arn: str


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    paginator = client.get_paginator(operation)
    items: list[dict[str, Any]] = []
    for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE}, **kwargs):
        items.extend(page.get(key, []))
    return items


def _listed(client: Any, ous: Sequence[str]) -> list[dict[str, Any]]:
    """Every account of the organization, or those under `ous` and their child OUs."""
    if not ous:
        return _pages(client, "list_accounts", "Accounts")
    found: dict[str, dict[str, Any]] = {}
    pending, seen = list(ous), set()
    while pending:
        parent = pending.pop(0)
        if parent in seen:  # an OU named twice, or under another one named
            continue
        seen.add(parent)
        for account in _pages(client, "list_accounts_for_parent", "Accounts", ParentId=parent):
            found.setdefault(str(account.get("Id")), account)
        children = _pages(
            client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent
        )
        pending += [str(child.get("Id")) for child in children]
    return list(found.values())


def members(client: Any, options: AwsOptions) -> tuple[list[Member], list[str]]:
    """The ACTIVE member accounts to read, by account ID, and what was skipped (an account
    AWS listed with an ID or ARN eniplan cannot use, said as "where: why")."""
    import botocore.exceptions

    try:
        listed = _listed(client, options.org_ous)
    except botocore.exceptions.ClientError as error:
        raise InputError(_refusal(error, options)) from None
    except botocore.exceptions.NoCredentialsError:
        raise InputError(
            "no AWS credentials found to list the organization with (--org-role): configure "
            "them or use --profile"
        ) from None
    except botocore.exceptions.BotoCoreError as error:
        raise InputError(f"--org-role: cannot reach AWS Organizations: {error}") from None
    chosen: dict[str, Member] = {}
    skipped: list[str] = []
    for account in listed:
        if (account.get("State") or account.get("Status")) != ACTIVE:
            continue
        try:
            account_id = values.account_id(account.get("Id"))
            arn = values.member_role_arn(
                values.partition_of_arn(account.get("Arn")), account_id, str(options.org_role)
            )
        except ValueError as error:
            skipped.append(f"organization account {account.get('Id')!r}: {error}")
            continue
        if account_id not in options.exclude_accounts:
            chosen[account_id] = Member(account_id, arn)
    return sorted(chosen.values(), key=lambda member: member.account_id), skipped


def _refusal(error: Any, options: AwsOptions) -> str:
    details = error.response.get("Error", {})
    code = str(details.get("Code", "ClientError"))
    message = " ".join(str(details.get("Message", "")).split())
    if code == "AWSOrganizationsNotInUseException":
        return "--org-role: the caller's account is not in an AWS Organization"
    if code == "ParentNotFoundException":
        return f"--org-ou: no such organizational unit or root among {', '.join(options.org_ous)}"
    if code == "AccessDeniedException" or code == "AccessDenied":
        return (
            f"--org-role: AWS Organizations refused to list the accounts ({code}: {message}); "
            "run from the management account or a delegated administrator, with "
            "organizations:ListAccounts (and ListAccountsForParent, "
            "ListOrganizationalUnitsForParent for --org-ou)"
        )
    return f"--org-role: listing the organization's accounts failed: {code}: {message}"
