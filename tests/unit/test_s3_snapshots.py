"""Snapshots in S3 (moto): collect -o s3://..., --inventory s3://bucket/prefix/ merging the
pieces, gzip, and S3 errors as one line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.helpers import FIXTURES
from tests.helpers.cli_runner import assert_one_line_error, run

DUMPS = FIXTURES / "awscli" / "by-region"


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="eniplan-snapshots")
        yield "eniplan-snapshots"


def test_collect_to_s3_and_audit_the_merged_pieces(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = boto3.client("s3")
    # two pieces, as two per-region collects would leave them: one plain, one gzip
    for region, key in (("us-east-1", "org/a.json"), ("us-west-2", "org/b.json.gz")):
        for dump in sorted((DUMPS / region).glob("*.json")):
            body = dump.read_bytes()
            name = f"{key.rsplit('.json', 1)[0]}-{dump.stem}.json"
            if key.endswith(".gz"):
                body, name = gzip.compress(body), name + ".gz"
            s3.put_object(Bucket=bucket, Key=name, Body=body)
    s3.put_object(Bucket=bucket, Key="org/readme.txt", Body=b"not inventory")
    code, out, err = run(
        ["audit", "--inventory", f"s3://{bucket}/org/", "--format", "json"], capsys
    )
    from_s3 = json.loads(out)
    code_local, out_local, _ = run(["audit", "--inventory", str(DUMPS), "--format", "json"], capsys)
    local = json.loads(out_local)
    assert code == code_local == 1, err
    assert from_s3["summary"]["scanned"] == local["summary"]["scanned"]
    assert [f["instance_id"] for f in from_s3["findings"]] == [
        f["instance_id"] for f in local["findings"]
    ]
    # collect -o s3:// (gzip by the key's suffix), read back with --inventory s3://KEY
    code, _, err = run(
        ["collect", "--inventory", str(DUMPS), "-o", f"s3://{bucket}/snap/all.json.gz"], capsys
    )
    assert code == 2 and "collect reads AWS or the sandbox" in err  # files are offline already
    code, _, err = run(["collect", "--sandbox", "-o", f"s3://{bucket}/snap/all.json.gz"], capsys)
    assert code == 0, err
    body = s3.get_object(Bucket=bucket, Key="snap/all.json.gz")["Body"].read()
    assert json.loads(gzip.decompress(body))["format"] == "eniplan-snapshot"
    code, out, err = run(
        ["inspect", "--inventory", f"s3://{bucket}/snap/all.json.gz", "--format", "json"], capsys
    )
    assert code == 0, err
    assert json.loads(out)["instances"]


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        ("s3://eniplan-snapshots/none/", ("no *.json or *.json.gz object",)),
        ("s3://no-such-bucket-here/x.json", ("s3://no-such-bucket-here/x.json", "NoSuchBucket")),
        ("s3://eniplan-snapshots/missing.json", ("s3://eniplan-snapshots/missing.json", "404")),
        ("s3://Bad_Bucket/x.json", ("not an S3 URL",)),
    ],
)
def test_s3_problems_are_one_line(
    bucket: str, capsys: pytest.CaptureFixture[str], url: str, fragments: tuple[str, ...]
) -> None:
    code, _, err = run(["audit", "--inventory", url], capsys)
    assert_one_line_error(code, err, *fragments)


def test_an_object_listed_then_lost_makes_the_run_partial(
    bucket: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eniplan.sources import s3 as s3_source

    for dump in sorted((DUMPS / "us-east-1").glob("*.json")):
        boto3.client("s3").put_object(Bucket=bucket, Key=f"org/{dump.name}", Body=dump.read_bytes())
    listed = s3_source._keys

    def listed_then_deleted(client: object, url: str) -> list[str]:
        return [*listed(client, url), "org/zz-deleted-meanwhile.json"]

    monkeypatch.setattr(s3_source, "_keys", listed_then_deleted)
    argv = ["audit", "--inventory", f"s3://{bucket}/org/", "--format", "json"]
    code, out, err = run(argv, capsys)
    assert code == 4, err
    assert "s3://eniplan-snapshots/org/zz-deleted-meanwhile.json: 404" in err
    assert json.loads(out)["summary"]["scanned"] > 0  # the rest was audited
    code, _, err = run([*argv, "--allow-partial"], capsys)
    assert code == 1, err  # the findings of what was read
