"""What a command asks of the AWS source, apart from the source itself.

Kept out of sources/aws.py so that the command line can build a request (and every
command that reads files or prints its version can run) without importing boto3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line reads this module at start-up, the model it need not
    from eniplan.model import FetchProblem

DEFAULT_WORKERS = 16
# Seconds one account or region may take (--timeout): past it, no further request or
# retry starts and the region is reported as not read. Each request also has its own
# connect and read timeouts (CONNECT_TIMEOUT, READ_TIMEOUT, at most the deadline).
DEFAULT_TIMEOUT = 60.0
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0

ProgressCallback = Callable[[int, int, str], None]  # (done, total, what is running)
ProblemCallback = Callable[["FetchProblem"], None]  # an account or region lost, as it happens


@dataclass(frozen=True)
class AwsOptions:
    profile: str | None = None
    regions: tuple[str, ...] = ()
    all_regions: bool = False
    role_arns: tuple[str, ...] = ()
    # --org-role: every ACTIVE account of the organization (sources/organization.py), less
    # --exclude-account, only those under --org-ou when given
    org_role: str | None = None
    org_ous: tuple[str, ...] = ()
    exclude_accounts: tuple[str, ...] = ()
    endpoint_url: str | None = None
    instance_ids: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    workers: int = DEFAULT_WORKERS
    timeout: float = DEFAULT_TIMEOUT
