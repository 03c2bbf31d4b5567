"""File sources: eniplan snapshots, and the JSON the AWS CLI prints.

A snapshot is versioned JSON holding the AWS API shapes per account and region, exactly as
the AWS source collected them, so `eniplan collect` once and every command offline later.
AWS CLI output (`aws ec2 describe-instances`, `describe-network-interfaces`,
`describe-subnets`, and optionally `describe-images`, `describe-route-tables` and
`describe-instance-attribute --attribute userData`) is read as it is, from files or a
directory of them: account and region come from each item.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType

from eniplan import __version__, values
from eniplan.errors import InputError
from eniplan.fileio import (
    STDIN_NAME,
    beyond_decoder,
    blank,
    decode_json_text,
    json_text_or_bytes,
    where_json_breaks,
    write_output,
)
from eniplan.findings import Location
from eniplan.model import FetchProblem
from eniplan.sources.collection import SHAPE_KEYS, Collection, Shapes

SNAPSHOT_FORMAT = "eniplan-snapshot"
SNAPSHOT_VERSION = 1
STDIN = "-"


# --- writing ---------------------------------------------------------------------------


def snapshot_document(
    collection: Collection, created: _dt.datetime | None = None
) -> dict[str, Any]:
    # Shapes read from AWS CLI output have no account or region of their own (each item has
    # them): they are written with null, which reading takes as "from each item" again.
    accounts: dict[str | None, list[dict[str, Any]]] = {}
    for shapes in collection.shapes:
        region_entry: dict[str, Any] = {"region": shapes.region}
        region_entry.update({key: shapes.items(key) for key in SHAPE_KEYS})
        accounts.setdefault(shapes.account_id, []).append(region_entry)
    created = created or _dt.datetime.now(_dt.timezone.utc)
    return {
        "format": SNAPSHOT_FORMAT,
        "version": SNAPSHOT_VERSION,
        "eniplan_version": __version__,
        "created_at": created.isoformat(timespec="seconds"),
        "partial": bool(collection.problems),
        "problems": [
            {"account": p.account, "region": p.region, "code": p.code, "message": p.message}
            for p in collection.problems
        ],
        "accounts": [
            {"account_id": account, "regions": regions} for account, regions in accounts.items()
        ],
    }


def _json_default(value: object) -> str:
    # boto3 gives datetimes (LaunchTime, AttachTime); the AWS CLI prints them as ISO 8601.
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to a snapshot")


_ENCODER = msgspec.json.Encoder(enc_hook=_json_default)


def snapshot_text(collection: Collection) -> str:
    # Compact (`jq .` pretty-prints a snapshot when a person wants to read one). Records
    # read from files are still their JSON text (msgspec.Raw) and are written as they are.
    try:
        return _ENCODER.encode(snapshot_document(collection)).decode() + "\n"
    except TypeError as error:  # msgspec names the type it cannot write
        raise TypeError(f"cannot write to a snapshot: {error}") from None


def write_snapshot(collection: Collection, path: str | Path) -> None:
    """To a file, atomically, or to S3 (`s3://BUCKET/KEY.json`); `.json.gz` compressed in
    both."""
    from eniplan.sources import s3

    if s3.is_s3(str(path)):
        s3.upload(snapshot_text(collection), str(path))
    elif str(path).endswith(".gz"):  # as s3.upload compresses a key ending in .gz
        import gzip

        write_output(str(path), gzip.compress(snapshot_text(collection).encode(), mtime=0))
    else:
        write_output(str(path), snapshot_text(collection))


# --- reading ---------------------------------------------------------------------------


def read_inventory_paths(paths: Iterable[str]) -> Collection:
    """Read every file given, or every *.json under every directory given; each once
    (stdin too: `-` given twice is read once)."""
    collection = Collection()
    seen: set[Path | str] = set()
    for path in paths:
        for file in _files(path):
            resolved = STDIN if file == STDIN else Path(file).resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            collection.extend(_read_file(file))
    return collection


_INSTANCE_ID = re.compile(r'"InstanceId"\s*:\s*"(i-[0-9a-f]{8,17})"')


def instance_locations(paths: Iterable[str]) -> dict[str, Location]:
    """Where each inventory file first names each instance (file, line), for reports that
    point at a file (SARIF). Read again after the inventory was: stdin is skipped, and so is
    what is not a regular file (a named pipe, read once, would wait for a second writer)."""
    found: dict[str, Location] = {}
    for path in paths:
        for file in _files(path):
            if file == STDIN or not Path(file).is_file():
                continue
            try:
                text = decode_json_text(Path(file).read_bytes(), file)
            except (OSError, InputError):
                continue  # it was read a moment ago; a location is a nicety, never an error
            for number, line in enumerate(text.splitlines(), start=1):
                for match in _INSTANCE_ID.finditer(line):
                    found.setdefault(match.group(1), Location(file, number))
    return found


def _files(path: str) -> list[str]:
    if path == STDIN:
        return [STDIN]
    target = Path(path)
    if target.is_dir():
        files = sorted(
            str(p)
            for pattern in ("*.json", "*.json.gz")
            for p in target.rglob(pattern)
            if p.is_file()
        )
        if not files:
            raise InputError(f"{path}: directory holds no *.json file")
        return files
    if not target.exists():
        raise InputError(f"{path}: no such file or directory")
    return [path]


class _Lists(Struct):
    """The lists of records a snapshot's region entry or an AWS CLI dump holds (SHAPE_KEYS):
    each stays JSON (an array: `_records` checks it) until sources/shapes.py decodes it (a
    bad record is left out, not the whole file)."""

    Reservations: Raw | UnsetType = UNSET
    NetworkInterfaces: Raw | UnsetType = UNSET
    Subnets: Raw | UnsetType = UNSET
    Images: Raw | UnsetType = UNSET
    RouteTables: Raw | UnsetType = UNSET
    InstanceUserData: Raw | UnsetType = UNSET


class _Region(_Lists):
    """A snapshot's region entry."""

    region: Any = UNSET


class _Account(Struct):
    account_id: Any = UNSET
    regions: list[_Region] | UnsetType = UNSET


class _Document(_Lists):
    """An inventory file: a snapshot, AWS CLI describe-* output, or one instance's
    describe-instance-attribute --attribute userData."""

    format: Any = UNSET
    version: Any = None
    accounts: list[_Account] | UnsetType = UNSET
    problems: Any = None
    InstanceId: Any = UNSET
    UserData: Any = UNSET


_DOCUMENT = msgspec.json.Decoder(_Document)
_JSON_TYPES = {"object": "dict", "array": "list", "null": "NoneType"}
_WRONG_TYPE = re.compile(r"^Expected `(array|object)[^`]*`, got `(\w+)`(?: - at `\$\.?([^`]*)`)?$")


def _gunzip(data: bytes, name: str) -> bytes:
    import gzip
    import zlib

    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{name}: gzip data is damaged ({error})") from None


def _text(file: str, name: str) -> str | bytes:
    try:
        # stdin as the bytes a file holds: gzip'd or UTF-16 JSON piped in is read as a file is
        data = sys.stdin.buffer.read() if file == STDIN else Path(file).read_bytes()
    except OSError as error:
        raise InputError(f"{name}: cannot read: {error.strerror or error}") from None
    if data[:2] == b"\x1f\x8b":  # gzip (a .json.gz snapshot)
        data = _gunzip(data, name)
    text = json_text_or_bytes(data, name)  # without its byte order mark
    if blank(text):
        raise InputError(f"{name}: file is empty (expected JSON)")
    return text


def _document(text: str | bytes, name: str) -> _Document:
    try:
        return _DOCUMENT.decode(text)
    except msgspec.ValidationError as error:
        wrong = _WRONG_TYPE.match(str(error))
        if wrong is None:
            raise InputError(f"{name}: {error}") from None
        wanted = "a list" if wrong.group(1) == "array" else "an object"
        got = _JSON_TYPES.get(wrong.group(2), wrong.group(2))
        if not wrong.group(3):
            raise InputError(f"{name}: expected a JSON object, got {got}") from None
        raise InputError(f"{name}: {wrong.group(3)}: expected {wanted}, got {got}") from None
    except (msgspec.DecodeError, RecursionError) as error:  # RecursionError: nesting too deep
        raise InputError(f"{name}: not valid JSON: {_json_error(text, error)}") from None


def _json_error(text: str | bytes, error: Exception) -> str:
    """Where the JSON breaks, as the json module says it (line and column)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as found:
        return where_json_breaks(found)
    except (ValueError, RecursionError) as found:  # an integer too long, nesting too deep
        return f"it {beyond_decoder(found)}"
    return str(error)


def _read_file(file: str) -> Collection:
    name = STDIN_NAME if file == STDIN else file
    document = _document(_text(file, name), name)
    if document.format is not UNSET:
        return _read_snapshot(document, name)
    if document.InstanceId is not UNSET and document.UserData is not UNSET:
        # `aws ec2 describe-instance-attribute --attribute userData`: one instance a file
        item = {"InstanceId": document.InstanceId, "UserData": document.UserData}
        return Collection(shapes=[Shapes(origin=name, lists={"InstanceUserData": [item]})])
    lists: dict[str, list[Any] | Raw] = {}
    for key in SHAPE_KEYS:
        found = getattr(document, key)
        if found is not UNSET:
            lists[key] = _records(found, name, key)
    if not lists:
        raise InputError(
            f"{name}: neither an eniplan snapshot nor AWS CLI output (expected a key "
            f"'format' or one of {', '.join(SHAPE_KEYS)}, or 'InstanceId' and 'UserData')"
        )
    return Collection(shapes=[Shapes(origin=name, lists=lists)])


def _read_snapshot(document: _Document, name: str) -> Collection:
    if document.format != SNAPSHOT_FORMAT:
        raise InputError(f"{name}: format: {document.format!r} is not {SNAPSHOT_FORMAT!r}")
    version = document.version
    if version != SNAPSHOT_VERSION or isinstance(version, bool):
        raise InputError(
            f"{name}: version: snapshot version {version!r} is not supported "
            f"(this eniplan {__version__} reads version {SNAPSHOT_VERSION})"
        )
    if isinstance(document.accounts, UnsetType):
        raise InputError(f"{name}: accounts: missing required key")
    collection = Collection()
    for a_index, account in enumerate(document.accounts):
        where = f"accounts[{a_index}]"
        account_id = _optional_value(
            account.account_id, name, f"{where}.account_id", values.account_id
        )
        if isinstance(account.regions, UnsetType):
            raise InputError(f"{name}: {where}.regions: missing required key")
        for r_index, region in enumerate(account.regions):
            r_where = f"{where}.regions[{r_index}]"
            region_name = _optional_value(
                region.region, name, f"{r_where}.region", values.region_name
            )
            lists: dict[str, list[Any] | Raw] = {}
            for key in SHAPE_KEYS:
                found = getattr(region, key)
                if found is not UNSET:
                    lists[key] = _records(found, name, f"{r_where}.{key}")
            collection.shapes.append(Shapes(f"{name}: {r_where}", account_id, region_name, lists))
    problems = document.problems or []
    if not isinstance(problems, list):
        raise InputError(f"{name}: problems: expected a list, got {type(problems).__name__}")
    for p_index, problem in enumerate(problems):
        where = f"problems[{p_index}]"
        problem = _dict(problem, name, where)
        # Problems are printed as warnings: they pass the same text check as AWS values.
        fields = [
            _optional_value(problem.get(key), name, f"{where}.{key}", values.text) or ""
            for key in ("account", "region", "code", "message")
        ]
        collection.problems.append(FetchProblem(*fields))
    return collection


def _records(found: Raw, name: str, where: str) -> Raw:
    """A list of records: a JSON array, left as it is."""
    if memoryview(found)[:1].tobytes() != b"[":  # (msgspec's Raw starts at the value's first byte)
        got = type(msgspec.json.decode(found)).__name__
        raise InputError(f"{name}: {where}: expected a list, got {got}")
    return found


def _dict(value: Any, name: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{name}: {where}: expected an object, got {type(value).__name__}")
    return value


def _optional_value(value: Any, name: str, place: str, check: Any) -> str | None:
    """The checked value, or None when it is null (AWS CLI shapes: from each item)."""
    if value is UNSET:
        raise InputError(f"{name}: {place}: missing required key")
    if value is None:
        return None
    try:
        return str(check(value))
    except ValueError as error:
        raise InputError(f"{name}: {place}: {error}") from None
