"""A lab report as a table a person reads at a glance, and as JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from eniplan.lab.proofs import LabReport, Outcome
from eniplan.terminal import visible

NOT_RUN = "-"


def _cell(outcome: Outcome | None) -> Text:
    if outcome is None:
        return Text(NOT_RUN)
    failed = min(len(outcome.failures), outcome.checks)  # a check may fail in several lines
    count = f"{outcome.checks - failed}/{outcome.checks}"
    if outcome.passed:
        return Text.assemble(("PASS", "green"), f" {count}")
    return Text.assemble(("FAIL", "red"), f" {count}")


def print_report(
    console: Console, report: LabReport, *, verbose: bool = False, details: int = 4
) -> None:
    enis = ", ".join(f"{eni.ifname} {' '.join(map(str, eni.addresses))}" for eni in report.enis)
    console.print(
        Text.assemble(
            ("eniplan lab", "bold"),
            visible(f"  {report.name or 'no name'} {report.instance_id}  target {report.target}"),
        )
    )
    console.print(Text(f"ENIs: {visible(enis)}"))
    console.print(
        f"before: as booted (DHCP on each ENI, rp_filter=1); after: {report.target} applied",
        style="dim",
    )
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("proof")
    table.add_column("before", no_wrap=True)
    table.add_column("after", no_wrap=True)
    for row in report.rows:
        table.add_row(
            str(row.number), Text(visible(row.title)), _cell(row.before), _cell(row.after)
        )
    console.print(table)
    for row in report.rows:
        for column, outcome in (("before", row.before), ("after", row.after)):
            if outcome is None or not outcome.failures:
                continue
            if column == "before" and not verbose:
                shown = outcome.failures[:2]
            else:
                shown = outcome.failures if verbose else outcome.failures[:details]
            for line in shown:
                console.print(Text(f"  {row.number} {column}: {visible(line)}"))
            hidden = len(outcome.failures) - len(shown)
            if hidden:
                console.print(f"  {row.number} {column}: ... {hidden} more (--verbose)")
    verdict = (
        ("all proofs hold after applying", "green")
        if report.passed
        else ("some proofs fail after applying", "red")
    )
    total = dict(report.timings).get("total", 0.0)
    console.print(Text.assemble(verdict, f"  ({total:.1f} s)"))
    if report.leftovers:
        console.print(
            Text.assemble(("namespaces not removed:", "red"), f" {' '.join(report.leftovers)}")
        )
    if verbose:
        console.print(
            "timings: " + ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in report.timings)
        )


def _outcome_json(outcome: Outcome | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    return {
        "passed": outcome.passed,
        "checks": outcome.checks,
        "failed": len(outcome.failures),
        "failures": list(outcome.failures),
    }


def report_json(report: LabReport) -> dict[str, Any]:
    return {
        "instance_id": report.instance_id,
        "name": report.name,
        "target": report.target,
        "boot": report.booted_os is not None,
        **({"os": report.booted_os} if report.booted_os else {}),
        "passed": report.passed,
        "enis": [
            {
                "eni_id": eni.eni_id,
                "mac": eni.mac,
                "interface": eni.ifname,
                "addresses": [str(a) for a in eni.addresses],
                "table": eni.table,
            }
            for eni in report.enis
        ],
        "proofs": [
            {
                "number": row.number,
                "proof": row.key,
                "title": row.title,
                "before": _outcome_json(row.before),
                "after": _outcome_json(row.after),
            }
            for row in report.rows
        ],
        "timings": dict(report.timings),
        "apply_output": report.apply_output.splitlines(),
        "namespaces_left": list(report.leftovers),
    }
