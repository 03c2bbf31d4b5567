"""`--format github`: GitHub Actions workflow commands, one annotation per finding.

`::error title=T::MESSAGE` for high, `::warning` for medium and low, `::notice` for info;
a finding with a file location (check-plan) also gets `file=` and `line=`. Suppressed
findings are not annotated. Escaping follows the runner's rules (actions/toolkit
`command.ts`): in the message `%`, `\\r`, `\\n` become `%25`, `%0D`, `%0A`; in property
values `:` and `,` also become `%3A` and `%2C`, so a value cannot end its property or the
command early.
"""

from __future__ import annotations

from eniplan.findings import Finding, Report
from eniplan.terminal import visible

LEVEL = {"high": "error", "medium": "warning", "low": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    """The runner's escaping; other control characters (ESC: terminal colours in the log)
    and bidi marks are written as visible escapes first."""
    escaped = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return visible(escaped)


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    properties = {"title": f"{finding.rule_id} {finding.subject}"}
    if finding.location is not None:
        properties["file"] = finding.location.path
        if finding.location.line is not None:
            properties["line"] = str(finding.location.line)
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    message = f"{finding.message}\nFix: {finding.remediation}"
    return f"::{LEVEL[finding.severity]} {props}::{escape_data(message)}"


def format_report(report: Report) -> str:
    lines = [
        f"::error title=eniplan {report.command} is partial::{escape_data('not read: ' + problem)}"
        for problem in report.problems
    ]
    lines += [annotation(finding) for finding in report.active]
    summary = report.summary()
    lines.append(
        f"eniplan {report.command}: {summary['findings']} finding(s), "
        f"{summary['suppressed']} suppressed, {summary['failing']} at or above "
        f"{report.fail_on}"
    )
    return "\n".join(lines) + "\n"
