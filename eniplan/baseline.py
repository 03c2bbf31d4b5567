"""Baselines: accept the findings a team knows about, without tagging the resources.

`--write-baseline FILE` records every finding of a run that is not already waived, by its
stable fingerprint (findings.fingerprint: rule, account, region, resource, ENIs; never the
wording); `--baseline FILE` waives those findings in later runs through the one waiver
path (findings.suppress). Each entry carries a reason and an optional expiry date
(`expires: YYYY-MM-DD`), both meant to be edited by people; an expired entry waives
nothing and says so. Rewriting a baseline keeps the reasons and dates of the findings it
already held.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from eniplan.errors import InputError
from eniplan.fileio import beyond_decoder, decode_json_text, where_json_breaks
from eniplan.findings import Report, fingerprint, suppress

BASELINE_FORMAT = "eniplan-baseline"
BASELINE_VERSION = 1
DEFAULT_REASON = "accepted when the baseline was written"


@dataclass(frozen=True)
class Entry:
    fingerprint: str
    rule_id: str
    subject: str
    account_id: str = ""
    region: str = ""
    reason: str = DEFAULT_REASON
    expires: _dt.date | None = None


@dataclass(frozen=True)
class Baseline:
    path: str
    entries: dict[str, Entry]  # by fingerprint


def _field(item: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InputError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def read_baseline(path: str) -> Baseline:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None
    # UTF-8, or with a byte order mark (UTF-16: a baseline edited and saved on Windows)
    return parse_baseline(decode_json_text(data, path, "an eniplan baseline in UTF-8"), path)


def parse_baseline(text: str, path: str) -> Baseline:
    """The baseline in `text`, read from `path` (or to be written there)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON: {where_json_breaks(error)}") from None
    except (RecursionError, ValueError) as error:
        raise InputError(f"{path}: the JSON {beyond_decoder(error)}") from None
    if not isinstance(document, dict) or document.get("format") != BASELINE_FORMAT:
        raise InputError(
            f'{path}: not an eniplan baseline (expected "format": "{BASELINE_FORMAT}")'
        )
    if document.get("version") != BASELINE_VERSION:
        raise InputError(
            f"{path}: version: expected {BASELINE_VERSION}, got {document.get('version')!r}"
        )
    items = document.get("findings")
    if not isinstance(items, list):
        raise InputError(f"{path}: findings: expected a list")
    entries: dict[str, Entry] = {}
    for index, item in enumerate(items):
        where = f"{path}: findings[{index}]"
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected an object")
        expires_text = item.get("expires")
        expires = None
        if expires_text is not None:
            try:
                expires = _dt.date.fromisoformat(str(expires_text))
            except ValueError:
                raise InputError(
                    f"{where}.expires: {expires_text!r} is not a date (expected YYYY-MM-DD or null)"
                ) from None
        entry = Entry(
            fingerprint=_field(item, "fingerprint", where),
            rule_id=_field(item, "rule_id", where),
            subject=_field(item, "subject", where),
            account_id=_field(item, "account_id", where, required=False),
            region=_field(item, "region", where, required=False),
            reason=_field(item, "reason", where, required=False) or DEFAULT_REASON,
            expires=expires,
        )
        entries[entry.fingerprint] = entry
    return Baseline(path, entries)


def apply_baseline(report: Report, baseline: Baseline, today: _dt.date) -> Report:
    """The report with the baseline's findings waived; expired entries are warnings."""
    findings = []
    warnings = list(report.warnings)
    for finding in report.findings:
        entry = baseline.entries.get(fingerprint(finding))
        if entry is not None and not finding.suppressed:
            if entry.expires is not None and entry.expires < today:
                warnings.append(
                    f"{baseline.path}: the entry for {finding.rule_id} {finding.subject} "
                    f"expired on {entry.expires.isoformat()}: it waives nothing"
                )
            else:
                until = f" (until {entry.expires.isoformat()})" if entry.expires else ""
                finding = suppress(finding, f"baseline {baseline.path}: {entry.reason}{until}")
        findings.append(finding)
    return replace(report, findings=tuple(findings), warnings=tuple(warnings))


def baseline_document(
    report: Report, previous: Baseline | None, now: _dt.datetime
) -> dict[str, Any]:
    """Every finding not waived otherwise (a tag), keeping the reasons and dates of entries
    `previous` already had."""
    kept = previous.entries if previous is not None else {}
    items = []
    seen: set[str] = set()
    for finding in report.findings:
        if finding.suppressed and not finding.suppression_reason.startswith("baseline "):
            continue  # waived by a tag: the tag is the record
        key = fingerprint(finding)
        if key in seen:
            continue
        seen.add(key)
        old = kept.get(key)
        items.append(
            {
                "fingerprint": key,
                "rule_id": finding.rule_id,
                "subject": finding.subject,
                "account_id": finding.account_id,
                "region": finding.region,
                "reason": old.reason if old else DEFAULT_REASON,
                "expires": old.expires.isoformat() if old and old.expires else None,
            }
        )
    return {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "command": report.command,
        "created_at": now.astimezone(_dt.timezone.utc).isoformat(timespec="seconds"),
        "findings": items,
    }


@dataclass(frozen=True)
class BaselineOutput:
    """A baseline to write (--write-baseline): written with the reports, all or none."""

    path: str
    text: str
    count: int  # findings in it


def baseline_output(path: str, report: Report, previous: Baseline | None) -> BaselineOutput:
    document = baseline_document(report, previous, _dt.datetime.now(_dt.timezone.utc))
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return BaselineOutput(path, text, len(document["findings"]))


@dataclass(frozen=True)
class BaselineFiles:
    """--baseline FILE (read) and --write-baseline FILE (write)."""

    read: str | None = None
    write: str | None = None


def with_baseline(
    report: Report, files: BaselineFiles, today: _dt.date
) -> tuple[Report, BaselineOutput | None]:
    """The report with the findings of `files.read` waived; with `files.write`, every
    finding recorded for it (keeping the reasons of `files.read`) and waived too, and the
    baseline to write there (the command line writes it with the reports), or None."""
    previous = read_baseline(files.read) if files.read else None
    if previous is not None:
        report = apply_baseline(report, previous, today)
    if not files.write:
        return report, None
    output = baseline_output(files.write, report, previous)
    return apply_baseline(report, parse_baseline(output.text, files.write), today), output
