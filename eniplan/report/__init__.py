"""One module per output format, behind one interface (pip-audit's `_format/` shape).

Each module in FORMATS exposes `format_report(report: Report) -> str`: pure, the report
in, the text out. Writing it (stdout or `-o FILE`, atomically) is the CLI's job.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the command line reads FORMATS at start-up
    from eniplan.findings import Report

FORMATS: dict[str, str] = {
    "table": "eniplan.report.table",
    "json": "eniplan.report.json_format",
    "sarif": "eniplan.report.sarif",
    "junit": "eniplan.report.junit",
    "github": "eniplan.report.github",
}


class Formatter(Protocol):
    def __call__(self, report: Report) -> str: ...


def format_report(name: str, report: Report) -> str:
    module = importlib.import_module(FORMATS[name])
    formatter: Formatter = module.format_report
    return formatter(report)
