"""`eniplan doctor` as one request: the captured `ip` text when given (all three of addr,
rule and route), else this host's live state and IMDSv2; the diagnosis and its report.
The command line only prints the result (cli.py)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace

from eniplan.doctor import host
from eniplan.doctor.output import diagnosis_json, print_diagnosis
from eniplan.doctor.verdicts import Diagnosis, diagnose
from eniplan.errors import InputError
from eniplan.findings import Report
from eniplan.terminal import plain_console


@dataclass(frozen=True)
class Captured:
    """The text of `ip addr show`, `ip rule show` (and -6), `ip route show table all` (and
    -6), `ip neigh show`, as files ('-': stdin)."""

    ip_addr: str | None = None
    ip_rules: tuple[str, ...] = ()
    ip_routes: tuple[str, ...] = ()
    ip_neigh: str | None = None

    @property
    def given(self) -> bool:
        return bool(self.ip_addr or self.ip_rules or self.ip_routes or self.ip_neigh)


@dataclass(frozen=True)
class DoctorRequest:
    captured: Captured = field(default_factory=Captured)
    imds: bool = True  # live: ask IMDSv2 which interface is which ENI
    fail_on: str = "high"


@dataclass(frozen=True)
class DoctorResult:
    diagnosis: Diagnosis
    report: Report

    def text(self, output_format: str) -> str:
        """The diagnosis as `json`, or as the `table` for a file (132 columns, no colour)."""
        if output_format == "json":
            return diagnosis_json(self.diagnosis, self.report)
        console = plain_console(record=True, width=132, file=io.StringIO())
        print_diagnosis(console, self.diagnosis, self.report)
        return console.export_text()


def run(request: DoctorRequest) -> DoctorResult:
    captured = request.captured
    if captured.given:
        if not (captured.ip_addr and captured.ip_rules and captured.ip_routes):
            raise InputError("captured input needs --ip-addr, --ip-rule and --ip-route together")
        state = host.load_captured(
            captured.ip_addr, captured.ip_rules, captured.ip_routes, captured.ip_neigh
        )
        info = None
    else:
        state = host.capture_live()
        fetch = host.imds_fetcher() if request.imds else None
        info = host.read_imds(fetch) if fetch else None
        if request.imds and info is None:
            state = replace(state, notes=(*state.notes, "IMDS did not answer: ENIs told by name"))
    diagnosis = diagnose(state, info)
    report = Report(
        command="doctor",
        findings=diagnosis.findings,
        scanned=len(diagnosis.addresses),
        fail_on=request.fail_on,
    )
    return DoctorResult(diagnosis, report)
