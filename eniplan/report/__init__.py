"""One module per output format, behind one interface (pip-audit's `_format/` shape).

Each module in FORMATS exposes `format_report(report: Report) -> str`: pure, the report
in, the text out. Writing it (stdout or `-o FILE`, atomically) is the CLI's job.
"""

from __future__ import annotations

import importlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from eniplan.errors import InputError

if TYPE_CHECKING:  # the command line reads FORMATS at start-up
    from eniplan.baseline import BaselineOutput
    from eniplan.findings import Report

FORMATS: dict[str, str] = {
    "table": "eniplan.report.table",
    "json": "eniplan.report.json_format",
    "sarif": "eniplan.report.sarif",
    "junit": "eniplan.report.junit",
    "github": "eniplan.report.github",
    "markdown": "eniplan.report.markdown",
    "asff": "eniplan.report.asff",
}
# Formats that need an account and region on every finding (the audit's, not check-plan's).
AUDIT_ONLY = frozenset({"asff"})


@dataclass(frozen=True)
class Outputs:
    """Where a command's report goes (--format with -o, paired) and when it fails
    (--fail-on)."""

    pairs: tuple[tuple[str, str | None], ...] = (("table", None),)  # (format, file or None)
    fail_on: str = "high"


@dataclass(frozen=True)
class Checked:
    """What a command that reports findings found (audit, check-plan), with what to say on
    stderr before the report (warnings) and the baseline to write with it."""

    report: Report
    warnings: tuple[str, ...] = ()
    baseline: BaselineOutput | None = None  # --write-baseline's, to write with the reports


class Formatter(Protocol):
    def __call__(self, report: Report) -> str: ...


def format_report(name: str, report: Report) -> str:
    module = importlib.import_module(FORMATS[name])
    formatter: Formatter = module.format_report
    return formatter(report)


def pair_outputs(
    formats: tuple[str, ...], outputs: tuple[str, ...]
) -> list[tuple[str, str | None]]:
    """`--format F1 -o FILE1 --format F2 -o FILE2 ...`: the n-th -o takes the n-th format;
    a format left without an -o goes to stdout (one at most); no --format means table."""
    formats = formats or ("table",)
    if len(outputs) > len(formats):
        raise InputError(
            f"{len(outputs)} -o files for {len(formats)} --format(s): pair each -o with a --format"
        )
    pairs: list[tuple[str, str | None]] = [
        # `-o -` is stdout, as no -o is
        (name, outputs[index] if index < len(outputs) and outputs[index] != "-" else None)
        for index, name in enumerate(formats)
    ]
    refuse_shared_files(outputs_of(pairs))
    to_stdout = [name for name, output in pairs if output is None]
    if len(to_stdout) > 1:
        raise InputError(
            f"--format {' and --format '.join(to_stdout)} would all go to stdout: "
            "give each but one an -o FILE"
        )
    return pairs


def outputs_of(pairs: Iterable[tuple[str, str | None]]) -> list[tuple[str, str, str | None]]:
    """The -o files of paired outputs for refuse_shared_files: (option, writer, path)."""
    return [("-o", f"--format {name}", output) for name, output in pairs]


def refuse_shared_files(files: Iterable[tuple[str, str, str | None]]) -> None:
    """Each file a run writes (or reads, then writes over) is one option's own: (option,
    what writes it, path) triples, in order; a path given twice (`x` and `./x`, a link and
    its file) is refused, naming the second option and the first writer, before anything
    runs. None and `-` (stdout) are no file; a device such as /dev/null may take several."""
    seen: dict[str, str] = {}
    for option, writer, path in files:
        if path is None or path == "-" or _device(path):  # /dev/null twice: each in turn
            continue
        same = os.path.realpath(path)
        if same in seen:
            raise InputError(
                f"{option} {path}: also written by {seen[same]} (give each its own file)"
            )
        seen[same] = writer


def _device(path: str) -> bool:
    """True for a path that exists and is neither a regular file nor a directory (a device,
    a FIFO): written in place, never replaced."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)
