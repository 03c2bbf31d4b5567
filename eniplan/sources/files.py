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

from eniplan import __version__, values
from eniplan.errors import InputError
from eniplan.fileio import decode_json_text, write_atomic
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


def write_snapshot(collection: Collection, path: str | Path) -> None:
    # Compact: json's indenting encoder is pure Python and several times slower on big
    # accounts; `jq .` pretty-prints a snapshot when a person wants to read one.
    text = json.dumps(snapshot_document(collection), separators=(",", ":"), default=_json_default)
    write_atomic(path, text + "\n")


# --- reading ---------------------------------------------------------------------------


def read_inventory_paths(paths: Iterable[str]) -> Collection:
    """Read every file given, or every *.json under every directory given."""
    collection = Collection()
    seen: set[Path] = set()
    for path in paths:
        for file in _files(path):
            if file != STDIN:
                resolved = Path(file).resolve()
                if resolved in seen:
                    continue
                seen.add(resolved)
            collection.extend(_read_file(file))
    return collection


_INSTANCE_ID = re.compile(r'"InstanceId"\s*:\s*"(i-[0-9a-f]{8,17})"')


def instance_locations(paths: Iterable[str]) -> dict[str, Location]:
    """Where each inventory file first names each instance (file, line), for reports that
    point at a file (SARIF). Read again after the inventory was: stdin is skipped."""
    found: dict[str, Location] = {}
    for path in paths:
        for file in _files(path):
            if file == STDIN:
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
        files = sorted(str(p) for p in target.rglob("*.json") if p.is_file())
        if not files:
            raise InputError(f"{path}: directory holds no *.json file")
        return files
    if not target.exists():
        raise InputError(f"{path}: no such file or directory")
    return [path]


def _load(file: str) -> Any:
    name = "<stdin>" if file == STDIN else file
    try:
        text = (
            sys.stdin.read() if file == STDIN else decode_json_text(Path(file).read_bytes(), name)
        )
    except OSError as error:
        raise InputError(f"{name}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{name}: not text (expected UTF-8 JSON; byte {error.start})") from None
    text = text.removeprefix("\ufeff")  # a byte order mark (PowerShell's redirections)
    if not text.strip():
        raise InputError(f"{name}: file is empty (expected JSON)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{name}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except (ValueError, RecursionError) as error:  # an integer too long, nesting too deep
        raise InputError(f"{name}: not valid JSON: {error}") from None


def _read_file(file: str) -> Collection:
    name = "<stdin>" if file == STDIN else file
    document = _load(file)
    if not isinstance(document, dict):
        raise InputError(f"{name}: expected a JSON object, got {type(document).__name__}")
    if "format" in document:
        return _read_snapshot(document, name)
    if "InstanceId" in document and "UserData" in document:
        # `aws ec2 describe-instance-attribute --attribute userData`: one instance a file
        return Collection(shapes=[Shapes(origin=name, lists={"InstanceUserData": [document]})])
    found = [key for key in SHAPE_KEYS if key in document]
    if not found:
        raise InputError(
            f"{name}: neither an eniplan snapshot nor AWS CLI output (expected a key "
            f"'format' or one of {', '.join(SHAPE_KEYS)}, or 'InstanceId' and 'UserData')"
        )
    lists = {}
    for key in found:
        if not isinstance(document[key], list):
            raise InputError(f"{name}: {key}: expected a list, got {type(document[key]).__name__}")
        lists[key] = document[key]
    return Collection(shapes=[Shapes(origin=name, lists=lists)])


def _read_snapshot(document: dict[str, Any], name: str) -> Collection:
    if document.get("format") != SNAPSHOT_FORMAT:
        raise InputError(f"{name}: format: {document.get('format')!r} is not {SNAPSHOT_FORMAT!r}")
    version = document.get("version")
    if version != SNAPSHOT_VERSION:
        raise InputError(
            f"{name}: version: snapshot version {version!r} is not supported "
            f"(this eniplan {__version__} reads version {SNAPSHOT_VERSION})"
        )
    collection = Collection()
    accounts = _list(document, "accounts", name)
    for a_index, account in enumerate(accounts):
        where = f"accounts[{a_index}]"
        account = _dict(account, name, where)
        account_id = _optional_value(account, "account_id", name, where, values.account_id)
        for r_index, region in enumerate(_list(account, "regions", name, where)):
            r_where = f"{where}.regions[{r_index}]"
            region = _dict(region, name, r_where)
            region_name = _optional_value(region, "region", name, r_where, values.region_name)
            lists = {key: _list(region, key, name, r_where) for key in SHAPE_KEYS if key in region}
            collection.shapes.append(Shapes(f"{name}: {r_where}", account_id, region_name, lists))
    problems = document.get("problems") or []
    if not isinstance(problems, list):
        raise InputError(f"{name}: problems: expected a list, got {type(problems).__name__}")
    for p_index, problem in enumerate(problems):
        where = f"problems[{p_index}]"
        problem = _dict(problem, name, where)
        # Problems are printed as warnings: they pass the same text check as AWS values.
        fields = [
            _optional_value({key: problem.get(key)}, key, name, where, values.text) or ""
            for key in ("account", "region", "code", "message")
        ]
        collection.problems.append(FetchProblem(*fields))
    return collection


def _dict(value: Any, name: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{name}: {where}: expected an object, got {type(value).__name__}")
    return value


def _list(obj: dict[str, Any], key: str, name: str, where: str = "") -> list[Any]:
    place = f"{where}.{key}" if where else key
    if key not in obj:
        raise InputError(f"{name}: {place}: missing required key")
    value = obj[key]
    if not isinstance(value, list):
        raise InputError(f"{name}: {place}: expected a list, got {type(value).__name__}")
    return value


def _optional_value(obj: dict[str, Any], key: str, name: str, where: str, check: Any) -> str | None:
    """The checked value, or None when the key holds null (AWS CLI shapes: from each item)."""
    if key not in obj:
        raise InputError(f"{name}: {where}.{key}: missing required key")
    if obj[key] is None:
        return None
    try:
        return str(check(obj[key]))
    except ValueError as error:
        raise InputError(f"{name}: {where}.{key}: {error}") from None
