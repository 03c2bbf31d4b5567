"""`--format markdown`: a report for a pull-request comment or a ticket (GitHub-flavoured).

A summary line, a table of the findings (most severe first), then each finding's fix in a
fenced block. Every string that comes from the inventory (Name tags, Terraform addresses,
messages quoting them) is escaped: it can neither break the table nor become a link,
HTML, a mention or emphasis. Fix commands go in fenced blocks whose fence is longer than
any run of backticks inside them.
"""

from __future__ import annotations

import re
import shlex

from eniplan.findings import Finding, Report
from eniplan.terminal import visible

# Characters with a meaning in GitHub-flavoured Markdown, escaped with a backslash; `|`
# also inside code spans in tables, so code spans are not used for user text at all.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~@:&=\"'$])")
_BREAKS = re.compile(r"[\r\n\t\v\f\u2028\u2029\x85]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def escape(text: str) -> str:
    """`text` as literal Markdown inline text, on one line."""
    text = visible(_CONTROL.sub("", _BREAKS.sub(" ", text)))  # C1 and bidi: escapes
    return _SPECIAL.sub(r"\\\1", text)


def _fence(body: str) -> str:
    body = _CONTROL.sub("", body.replace("\r", ""))  # literal text; no terminal escapes
    body = "\n".join(visible(line) for line in body.split("\n"))  # nor C1 or bidi
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}sh\n{body}\n{fence}"


def _fixes(finding: Finding) -> str:
    commands = finding.details.get("commands") or []
    if commands:
        return "\n".join(shlex.join(argv) for argv in commands)
    return finding.remediation


def _where(finding: Finding) -> str:
    parts = [part for part in (finding.account_id, finding.region) if part]
    if finding.location is not None:
        line = f":{finding.location.line}" if finding.location.line else ""
        parts.append(f"{finding.location.path}{line}")
    return escape(" ".join(parts)) if parts else ""


def format_report(report: Report) -> str:
    summary = report.summary()
    labels = {subject.name: subject.label for subject in report.subjects}
    counts = ", ".join(
        f"{count} {severity}" for severity, count in summary["by_severity"].items() if count
    )
    head = (
        f"### eniplan {escape(report.command)}: {summary['findings']} finding(s)"
        + (f" ({counts})" if counts else "")
        + f", {summary['failing']} at or above {report.fail_on}"
    )
    lines = [head, ""]
    lines.append(
        f"{summary['scanned']} checked, {summary['suppressed']} suppressed, "
        f"{summary['excluded']} left alone."
    )
    if report.partial or report.problems:
        lines += ["", "**Partial result**: not everything could be read:"]
        lines += [f"- {escape(problem)}" for problem in report.problems]
    for warning in report.warnings:
        lines += ["", f"> {escape(warning)}"]
    if not report.findings:
        lines += ["", "No findings."]
        return "\n".join(lines) + "\n"
    lines += ["", "| rule | severity | resource | where | finding |", "|---|---|---|---|---|"]
    for finding in report.findings:
        label = labels.get(finding.subject, "")
        resource = escape(finding.subject) + (f" ({escape(label)})" if label else "")
        message = escape(finding.message)
        if finding.suppressed:
            message = f"~~{message}~~ suppressed: {escape(finding.suppression_reason)}"
        lines.append(
            f"| {finding.rule_id} | {finding.severity} "
            f"| {resource} | {_where(finding)} | {message} |"
        )
    active = report.active
    if active:
        lines += ["", "<details><summary>Fixes</summary>", ""]
        for finding in active:
            lines += [
                f"**{finding.rule_id}** {escape(finding.subject)}",
                "",
                _fence(_fixes(finding)),
                "",
            ]
        lines.append("</details>")
    return "\n".join(lines) + "\n"
