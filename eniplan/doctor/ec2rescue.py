"""Parity with EC2Rescue for Linux's `asymmetricroute` module (awslabs/aws-ec2rescue-linux,
mod.d/asymmetricroute.yaml), re-implemented from its documented logic on the same text:

1. In `ip address show`, leaving out every line that contains "secondary", the lines
   matching the awk pattern `/inet .+brd/` count their 4th field (the broadcast address);
   each time a count goes above one, that broadcast address is listed again. None
   listed: "[SUCCESS] No duplicate subnets found."
2. For each listed broadcast address, in order and repeats included, the 2nd field (before
   "/") of the lines matching `inet .+ brd <BRD>` (the dots of BRD are regex wildcards) are
   the conflicting addresses; each is grepped in `ip rule list` (a substring, dots again
   wildcards). Each address without a hit adds one to a single counter that is never reset.
   After each broadcast address the module prints a verdict from that counter: more than 1
   "[FAILURE] ... More than one interface has an un-matched routing rule", exactly 1
   "[SUCCESS] ... Only one interface will use the default rule", else "[SUCCESS] ... All
   interfaces have a matching route rule".
3. EC2Rescue's runner takes the first [FAILURE] line as the module's result, else the last
   [SUCCESS] line.

Its weaknesses, kept here on purpose (this is parity, not a judgement): IPv6 is never
looked at; 10.0.0.1 is "matched" by a rule for 10.0.0.10 (or by `to 10.0.0.1`); the
counter runs across subnets, and a subnet with three addresses is walked twice; a rule
whose table has no default route, or does not exist, counts as a match. `verdicts.py`
decides without them and the report shows where the two disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OK_NO_DUPLICATES = "No duplicate subnets found."
OK_ALL_MATCHED = (
    "Routing for additional interfaces is configured correctly.  "
    "All interfaces have a matching route rule"
)
OK_ONE_DEFAULT = (
    "Routing for additional interfaces is configured correctly.  "
    "Only one interface will use the default rule"
)
FAIL_UNMATCHED = (
    "Potential asymmetric routing problems detected.  "
    "More than one interface has an un-matched routing rule"
)

SUCCESS, FAILURE = "SUCCESS", "FAILURE"
SOURCE = "https://github.com/awslabs/aws-ec2rescue-linux/blob/master/mod.d/asymmetricroute.yaml"


@dataclass(frozen=True)
class AddressCheck:
    address: str  # as the module sees it (the text before "/")
    broadcast: str
    matching_rules: tuple[str, ...]  # the `ip rule list` lines its grep finds

    @property
    def matched(self) -> bool:
        return bool(self.matching_rules)


@dataclass(frozen=True)
class ParityResult:
    status: str  # SUCCESS or FAILURE
    message: str
    duplicate_broadcasts: tuple[str, ...]  # as listed, repeats included
    checks: tuple[AddressCheck, ...]  # every address looked at, in order (repeats too)
    verdicts: tuple[str, ...]  # every [SUCCESS]/[FAILURE] line the module prints

    @property
    def summary(self) -> str:
        return f"[{self.status}] {self.message}"


def _fields(line: str) -> list[str]:
    return line.split()  # awk's default field splitting


def asymmetricroute(addr_text: str, rule_text: str) -> ParityResult:
    """The module's verdict on the text of `ip address show` and `ip rule list`."""
    lines = [line for line in addr_text.splitlines() if "secondary" not in line]
    counts: dict[str, int] = {}
    duplicates: list[str] = []
    for line in lines:
        if re.search(r"inet .+brd", line):
            fields = _fields(line)
            field = fields[3] if len(fields) > 3 else ""
            counts[field] = counts.get(field, 0) + 1
            if counts[field] > 1:
                duplicates.append(field)
    # `for BROADCAST_IP in $DUPLICATE_BROADCASTS`: word splitting drops empty fields
    duplicates = [d for d in duplicates if d]
    if not duplicates:
        return ParityResult(SUCCESS, OK_NO_DUPLICATES, (), (), (f"[{SUCCESS}] {OK_NO_DUPLICATES}",))
    rule_lines = rule_text.splitlines()
    unmatched = 0
    checks: list[AddressCheck] = []
    verdicts: list[str] = []
    for broadcast in duplicates:
        pattern = _awk_pattern(f"inet .+ brd {broadcast}")
        conflict_ips = []
        for line in lines:
            if pattern is not None and pattern.search(line):
                fields = _fields(line)
                if len(fields) > 1:
                    conflict_ips.append(fields[1].split("/")[0])
        for address in conflict_ips:
            grep = _grep_pattern(address)
            hits = tuple(r for r in rule_lines if grep is not None and grep.search(r))
            checks.append(AddressCheck(address, broadcast, hits))
            if not hits:
                unmatched += 1
        if unmatched > 1:
            verdicts.append(f"[{FAILURE}] {FAIL_UNMATCHED}")
        elif unmatched == 1:
            verdicts.append(f"[{SUCCESS}] {OK_ONE_DEFAULT}")
        else:
            verdicts.append(f"[{SUCCESS}] {OK_ALL_MATCHED}")
    final = next((v for v in verdicts if v.startswith(f"[{FAILURE}]")), verdicts[-1])
    status, _, message = final[1:].partition("] ")
    return ParityResult(status, message, tuple(duplicates), tuple(checks), tuple(verdicts))


def _awk_pattern(text: str) -> re.Pattern[str] | None:
    """An awk ERE built by pasting text into the program (what the module does)."""
    try:
        return re.compile(text)
    except re.error:
        return None  # awk would fail on it too: no line matches


def _grep_pattern(text: str) -> re.Pattern[str] | None:
    """grep's basic regular expression for text made of address characters."""
    try:
        return re.compile(re.sub(r"([+?(){}|])", r"\\\1", text))
    except re.error:
        return None
