"""Snapshots in S3: `collect -o s3://bucket/key.json[.gz]` and `--inventory s3://bucket/key`
or `s3://bucket/prefix/` (every *.json and *.json.gz under it), so per-account collects on
other machines merge in one audit. Objects are fetched into a temporary directory and read
as files (gzip is recognised by its magic bytes). Credentials: the standard boto3 chain
(AWS_PROFILE, AWS_ENDPOINT_URL, ...).
"""

from __future__ import annotations

import gzip
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eniplan.errors import InputError
from eniplan.model import FetchProblem

PREFIX = "s3://"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SUFFIXES = (".json", ".json.gz")


def is_s3(path: str) -> bool:
    return path.startswith(PREFIX)


def split_url(url: str) -> tuple[str, str]:
    bucket, _, key = url[len(PREFIX) :].partition("/")
    if not _BUCKET.match(bucket):
        raise InputError(f"{url}: not an S3 URL (expected s3://BUCKET/KEY or s3://BUCKET/PREFIX/)")
    return bucket, key


def _client() -> Any:
    import boto3

    return boto3.client("s3")


def _fail(url: str, error: Exception) -> InputError:
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return InputError(
            f"{url}: {detail.get('Code', 'error')}: {detail.get('Message', '')}".rstrip(": ")
        )
    return InputError(f"{url}: {error}")


def _keys(client: Any, url: str) -> list[str]:
    bucket, key = split_url(url)
    if key and not key.endswith("/"):
        return [key]
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        keys += [item["Key"] for item in page.get("Contents", []) if item["Key"].endswith(SUFFIXES)]
    if not keys:
        raise InputError(f"{url}: no *.json or *.json.gz object under this prefix")
    return sorted(keys)


@contextmanager
def fetched(urls: Sequence[str]) -> Iterator[tuple[list[str], list[FetchProblem]]]:
    """Local copies of every object the URLs name (removed afterwards), and the objects
    listed under a prefix that could not be read then (deleted meanwhile, access denied):
    those make the run partial. A URL that names one object must be readable."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = _client()
    with tempfile.TemporaryDirectory(prefix="eniplan-s3-") as directory:
        paths: list[str] = []
        lost: list[FetchProblem] = []
        for url in urls:
            bucket, prefix = split_url(url)
            try:
                keys = _keys(client, url)
            except (ClientError, BotoCoreError) as error:
                raise _fail(url, error) from None
            for key in keys:
                local = Path(directory) / f"{len(paths):05d}-{key.rsplit('/', 1)[-1]}"
                try:
                    client.download_file(bucket, key, str(local))
                except (ClientError, BotoCoreError) as error:
                    if prefix == key:  # the object the user named: not partial, wrong
                        raise _fail(url, error) from None
                    code, message = _error_parts(error)
                    lost.append(FetchProblem(f"{PREFIX}{bucket}/{key}", "", code, message))
                    continue
                paths.append(str(local))
        yield paths, lost


def _error_parts(error: Exception) -> tuple[str, str]:
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        code = str(detail.get("Code") or "error")
        message = str(detail.get("Message") or "")
        if code == "404":
            message = message or "listed, then gone"
        return code, " ".join((message or str(error)).split())
    return type(error).__name__, " ".join(str(error).split())


def upload(text: str, url: str) -> None:
    """Write `text` to the object `url` (gzip-compressed when the key ends in .gz)."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_url(url)
    if not key or key.endswith("/"):
        raise InputError(f"{url}: expected s3://BUCKET/KEY.json (or .json.gz), not a prefix")
    data = text.encode()
    extra = {"ContentType": "application/json"}
    if key.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
        extra = {"ContentType": "application/gzip"}
    try:
        _client().put_object(Bucket=bucket, Key=key, Body=data, **extra)
    except (ClientError, BotoCoreError) as error:
        raise _fail(url, error) from None
