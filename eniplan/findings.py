"""Findings: what `audit` and `check-plan` report, and the catalogue of rule IDs.

One model for every report format (eniplan/report/) and both commands. Rule IDs are a
contract (README: Rule catalogue): an ID keeps its meaning forever; new rules take new IDs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from eniplan.frozen import quick_init

SEVERITIES = ("info", "low", "medium", "high")  # ascending
FAIL_ON_CHOICES = (*SEVERITIES, "never")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def at_or_above(severity: str, threshold: str) -> bool:
    """True when a finding of `severity` makes `--fail-on threshold` fail."""
    if threshold == "never":
        return False
    return severity_rank(severity) >= severity_rank(threshold)


@dataclass(frozen=True)
class RuleInfo:
    """A rule of the catalogue: what SARIF lists as a `rule`, the docs list as a check."""

    rule_id: str
    severity: str
    title: str  # one line
    explanation: str  # why it matters, a short paragraph


RULES: dict[str, RuleInfo] = {
    rule.rule_id: rule
    for rule in (
        RuleInfo(
            "ENI001",
            "high",
            "Two or more ENIs in one subnet without policy routing",
            "Replies from a secondary ENI's address leave through the primary ENI: the EC2 "
            "source/destination check drops them and rp_filter may drop the requests, so the "
            "secondary address does not answer.",
        ),
        RuleInfo(
            "ENI002",
            "high",
            "ENIs in different subnets without policy routing",
            "Traffic from a secondary ENI's address leaves through the primary ENI's subnet: "
            "replies are dropped by the source/destination check or take an asymmetric path.",
        ),
        RuleInfo(
            "ENI003",
            "medium",
            "Source/destination check disabled on an ENI that no route targets",
            "No VPC route sends traffic to this ENI or instance, so it is not a NAT, router or "
            "firewall: disabling the check is most likely the wrong fix for asymmetric "
            "routing, and it lets the instance send traffic from addresses it does not own.",
        ),
        RuleInfo(
            "ENI004",
            "medium",
            "Installed eniplan configuration no longer matches the ENIs (drift)",
            "The static routing that eniplan rendered into the user data was computed for "
            "other ENIs, addresses or subnets than the instance has now.",
        ),
        RuleInfo(
            "ENI005",
            "medium",
            "Policy routing of a multi-ENI instance cannot be verified",
            "The instance's user data is not known before apply (a reference, a template or a "
            "file eniplan cannot read), so nothing shows that it installs per-ENI policy "
            "routing. Use eniplan's user data or Terraform module, or waive the check with an "
            "`eniplan:ignore` tag that says why.",
        ),
    )
}


# Host-level verdicts of `eniplan doctor` (run on the instance): ENI1xx.
RULES.update(
    {
        rule.rule_id: rule
        for rule in (
            RuleInfo(
                "ENI101",
                "high",
                "Replies toward off-subnet addresses leave through another interface",
                "Packets from this address to the internet or another subnet are routed out of "
                "an interface that does not own the address: the EC2 source/destination check "
                "drops them (or, with the check disabled, the traffic is asymmetric).",
            ),
            RuleInfo(
                "ENI102",
                "high",
                "Replies toward same-subnet peers leave through another interface",
                "Packets from this address to a host in its own subnet leave through another "
                "interface: with two ENIs in one subnet the secondary address does not answer "
                "its neighbours (source/destination check, rp_filter, ARP).",
            ),
            RuleInfo(
                "ENI103",
                "medium",
                "A policy rule for a local address points at a table without a default route",
                "The lookup finds no route for most destinations and falls through to the next "
                "rules (usually the main table and its default route through the primary "
                "interface): the rule looks like policy routing but does not do it.",
            ),
            RuleInfo(
                "ENI104",
                "medium",
                "No route from a local address",
                "Replies from this address toward a destination the host can otherwise reach "
                "hit an unreachable, blackhole or prohibit rule or route, or no route at all.",
            ),
            RuleInfo(
                "ENI105",
                "medium",
                "Addresses of an ENI are not configured on its interface",
                "The instance metadata lists private addresses of the ENI that the interface "
                "does not have: traffic to them is not answered.",
            ),
            RuleInfo(
                "ENI106",
                "info",
                "Policy routing installed by an agent",
                "Rules of amazon-ec2-net-utils, cloud-init, the Amazon VPC CNI or eniplan were "
                "found; they are listed with their priorities and tables.",
            ),
            RuleInfo(
                "ENI107",
                "low",
                "A policy rule names an address that is not on this host",
                "A `from ADDRESS` rule whose address no interface has never matches a reply: "
                "often a typo, or an address that moved to another ENI or instance.",
            ),
        )
    }
)


IGNORE_TAG = "eniplan:ignore"


@dataclass(frozen=True)
class Waiver:
    """An `eniplan:ignore` tag: the rule IDs it waives and why.

    Tag value: `ENI001,ENI003: the reason` (IDs separated by commas or spaces, then an
    optional colon and the reason). `all` waives every rule. Unknown IDs are kept, so the
    caller can warn about them; they waive nothing.
    """

    rule_ids: frozenset[str]
    reason: str
    unknown_ids: tuple[str, ...] = ()

    def covers(self, rule_id: str) -> bool:
        return "all" in self.rule_ids or rule_id in self.rule_ids


def parse_waiver(value: str) -> Waiver:
    head, _, reason = value.partition(":")
    ids = [item.strip() for item in head.replace(",", " ").split() if item.strip()]
    known = {item.upper() for item in ids if item.upper() in RULES}
    if any(item.lower() == "all" for item in ids):
        known.add("all")
    unknown = tuple(item for item in ids if item.upper() not in RULES and item.lower() != "all")
    return Waiver(frozenset(known), reason.strip() or "no reason given", unknown)


@dataclass(frozen=True)
class Location:
    """Where a finding points in a file (check-plan: the plan or .tf file)."""

    path: str
    line: int | None = None


@quick_init
@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: str
    message: str  # one line, names the resource
    remediation: str  # what to do: the exact eniplan command where there is one
    instance_id: str | None = None  # audit
    address: str | None = None  # check-plan: the Terraform resource address
    account_id: str = ""
    region: str = ""
    eni_ids: tuple[str, ...] = ()
    location: Location | None = None
    suppressed: bool = False
    suppression_reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def subject(self) -> str:
        """What the finding is about, for people: instance ID or Terraform address."""
        return self.instance_id or self.address or "?"

    @property
    def rule(self) -> RuleInfo | None:
        return RULES.get(self.rule_id)


@quick_init
@dataclass(frozen=True)
class Subject:
    """Something a command checked (an instance, a Terraform resource), for formats that
    list every check of every subject (JUnit) rather than only the findings."""

    name: str  # instance ID or Terraform address
    account_id: str = ""
    region: str = ""
    label: str = ""  # a name for people (the Name tag)


@dataclass(frozen=True)
class Report:
    """The result of one `audit` or `check-plan` run, as every format receives it."""

    command: str  # "audit" or "check-plan"
    findings: tuple[Finding, ...]
    scanned: int = 0  # instances (audit) or resources (check-plan) looked at
    # instances or resources left alone, with the reason (handled by another agent, ...)
    excluded: tuple[tuple[str, str], ...] = ()
    partial: bool = False
    problems: tuple[str, ...] = ()  # accounts/regions that could not be read
    fail_on: str = "high"
    subjects: tuple[Subject, ...] = ()  # everything checked (empty: formats use findings)
    rule_ids: tuple[str, ...] = ()  # the rules the command checked (empty: all of RULES)
    warnings: tuple[str, ...] = ()  # e.g. unknown rule IDs in an eniplan:ignore tag

    @property
    def checked_rules(self) -> tuple[str, ...]:
        return self.rule_ids or tuple(RULES)

    # active and failing are worked out once a report (a summary asked for active three
    # times, the formats and the exit status ask again: 16,000 findings each time)
    @cached_property
    def active(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.suppressed)

    @cached_property
    def failing(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.active if at_or_above(f.severity, self.fail_on))

    def summary(self) -> dict[str, Any]:
        active = self.active
        by_severity = Counter(f.severity for f in active)
        return {
            "scanned": self.scanned,
            "findings": len(active),
            "suppressed": len(self.findings) - len(active),
            "by_severity": {severity: by_severity.get(severity, 0) for severity in SEVERITIES},
            "excluded": len(self.excluded),
            "fail_on": self.fail_on,
            "failing": len(self.failing),
            "partial": self.partial,
        }


def suppress(finding: Finding, reason: str) -> Finding:
    """The finding, waived for `reason`: it stays in every report, marked, and never fails a
    run. Every waiver (an `eniplan:ignore` tag, a baseline entry) goes through here."""
    return replace(finding, suppressed=True, suppression_reason=reason)


def apply_waivers(
    findings: Iterable[Finding], waivers: Mapping[str, Waiver]
) -> tuple[list[Finding], list[str]]:
    """The one waiver function of audit and check-plan: `waivers` holds the `eniplan:ignore`
    tags by where they are (an instance ID or Terraform address, an ENI ID or address). A
    tag waives a finding about its resource (the finding's subject), or one that names its
    ENI in `eni_ids`. Returns the findings, waived ones marked, and one warning per tag
    that names unknown rule IDs."""
    warnings = [
        f"{where}: tag {IGNORE_TAG} names unknown rule ID(s) "
        f"{', '.join(waiver.unknown_ids)} (known: {', '.join(RULES)}, all); they waive nothing"
        for where, waiver in waivers.items()
        if waiver.unknown_ids
    ]
    result = []
    for finding in findings:
        for where in (finding.subject, *finding.eni_ids):
            waiver = waivers.get(where)
            if waiver is not None and waiver.covers(finding.rule_id):
                finding = suppress(finding, f"{IGNORE_TAG} on {where}: {waiver.reason}")
                break
        result.append(finding)
    return result, warnings


def fingerprint(finding: Finding) -> str:
    """A finding's identity across runs: its rule, the resource it is about (account, region,
    instance ID or Terraform address) and the ENIs it names; never its wording. SARIF's
    `partialFingerprints`, Security Hub's finding ID and baselines all use this one."""
    subject = "/".join(
        part for part in (finding.account_id, finding.region, finding.subject) if part
    )
    key = f"{finding.rule_id}|{subject}|{','.join(finding.eni_ids)}"
    return hashlib.sha256(key.encode()).hexdigest()


def with_locations(report: Report, locations: Mapping[str, Location]) -> Report:
    """The report with each audit finding that has none located at its instance's place in
    an inventory file (`locations`: instance ID -> where the file names it)."""
    findings = tuple(
        replace(finding, location=locations[finding.instance_id])
        if finding.location is None
        and finding.instance_id is not None
        and finding.instance_id in locations
        else finding
        for finding in report.findings
    )
    return replace(report, findings=findings)


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Most severe first, then by account, region, subject and rule: a stable order."""
    return tuple(
        sorted(
            findings,
            key=lambda f: (
                -severity_rank(f.severity),
                f.account_id,
                f.region,
                f.subject,
                f.rule_id,
            ),
        )
    )
