"""What a command asks of the AWS source, apart from the source itself.

Kept out of sources/aws.py so that the command line can build a request (and every
command that reads files or prints its version can run) without importing boto3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_WORKERS = 16

ProgressCallback = Callable[[int, int, str], None]  # (done, total, what just finished)


@dataclass(frozen=True)
class AwsOptions:
    profile: str | None = None
    regions: tuple[str, ...] = ()
    all_regions: bool = False
    role_arns: tuple[str, ...] = ()
    endpoint_url: str | None = None
    instance_ids: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    workers: int = DEFAULT_WORKERS
