"""`--format table`: for people. Findings grouped by account and region, each with its
fix and the commands that make it (`$ ...`, one per line), then what was left alone and
why, and one summary line.

Every text that comes from AWS (names, tags) goes into rich `Text` objects, never into
markup, so a tag value cannot restyle or hide output.
"""

from __future__ import annotations

import io
import shlex
from itertools import groupby

from rich.console import Console
from rich.table import Table
from rich.text import Text

from eniplan.findings import Finding, Report
from eniplan.terminal import plain_console, visible

SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
WIDTH = 132  # for -o FILE and pipes: wide enough for the messages


def summary_line(report: Report) -> str:
    summary = report.summary()
    counts = ", ".join(
        f"{summary['by_severity'][severity]} {severity}"
        for severity in ("high", "medium", "low", "info")
        if summary["by_severity"][severity]
    )
    noun = "instances" if report.command == "audit" else "resources"
    parts = [
        f"{report.command}: {summary['scanned']} {noun} checked",
        f"{summary['findings']} finding(s)" + (f" ({counts})" if counts else ""),
        f"{summary['suppressed']} suppressed",
        f"{summary['excluded']} left alone",
    ]
    verdict = (
        "never fails (--fail-on never)"
        if report.fail_on == "never"
        else f"{summary['failing']} at or above {report.fail_on}"
    )
    parts.append(verdict)
    if report.partial:
        parts.append("PARTIAL: some accounts, regions or instances could not be read")
    return "; ".join(parts)


def _print_finding(console: Console, finding: Finding) -> None:
    """One finding: severity, rule and message (wrapped beside them), then its fix on one
    logical line: soft-wrapped by the terminal, never broken inside a command."""
    style = "dim" if finding.suppressed else SEVERITY_STYLE.get(finding.severity, "")
    row = Table.grid(padding=(0, 1))
    row.add_column(no_wrap=True, min_width=6)
    row.add_column(no_wrap=True)
    row.add_column(overflow="fold")
    message = Text(visible(finding.message), style="dim" if finding.suppressed else "")
    row.add_row(Text(finding.severity, style=style), Text(finding.rule_id), message)
    console.print(row)
    if finding.suppressed:
        line = Text(f"  suppressed: {visible(finding.suppression_reason)}", style="dim italic")
        console.print(line, soft_wrap=True)
        return
    console.print(Text(f"  fix: {visible(finding.remediation)}", style="green"), soft_wrap=True)
    for argv in finding.details.get("commands") or ():  # each, ready to copy
        console.print(Text(f"    $ {visible(shlex.join(argv))}", style="green"), soft_wrap=True)


def print_report(console: Console, report: Report) -> None:
    def place(finding: Finding) -> str:
        """Audit findings group by account and region; check-plan's, which have neither,
        by the plan file they come from."""
        if finding.account_id or finding.region:
            return f"account {finding.account_id or '-'}  region {finding.region or '-'}"
        if finding.location is not None:
            return f"plan {finding.location.path}"
        return report.command

    ordered = sorted(report.findings, key=place)
    for title, group in groupby(ordered, key=place):
        console.rule(Text(visible(title), style="bold"))
        for finding in group:
            _print_finding(console, finding)
    if not report.findings:
        console.print(Text("No findings.", style="bold green"))
    if report.excluded:
        labels = {subject.name: subject.label for subject in report.subjects}
        console.print(Text("Left alone (handled by someone else):", style="bold"))
        for subject, reason in report.excluded:
            line = Text("  ")
            line.append(visible(subject))
            if labels.get(subject):
                line.append(f" ({visible(labels[subject])})")
            line.append(f": {visible(reason)}", style="dim")
            console.print(line)
    for problem in report.problems:
        console.print(Text(f"not read: {visible(problem)}", style="yellow"), soft_wrap=True)
    style = "bold red" if report.failing else "bold green"
    console.print(Text(summary_line(report), style=style))


def format_report(report: Report) -> str:
    buffer = io.StringIO()
    console = plain_console(file=buffer, width=WIDTH, color_system=None)
    print_report(console, report)
    return buffer.getvalue()
