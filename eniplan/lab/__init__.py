"""`eniplan lab`: the instance's VPC emulated in network namespaces on the real kernel, and
the proofs that a rendered config makes every ENI address answer through its own ENI.

    topology.py  what the lab builds (pure `design`) and `Lab`, which builds and removes it
    nft.py       the VPC's source/dest check and ARP ownership, and the counters (nftables)
    agent.py     the probe agent run inside the namespaces (standard library only)
    imds.py      the instance metadata service (IMDSv2) the dynamic target's agent reads
    install.py   a target's files on the lab instance, and booting from them alone
    proofs.py    the seven proofs, before and after applying, and `run_lab`
    report.py    the table and the JSON
"""

from __future__ import annotations

from rich.console import Console

from eniplan.lab.install import TARGETS
from eniplan.lab.proofs import LabOptions, LabReport, run_lab, select_instance
from eniplan.lab.report import print_report, report_json
from eniplan.lab.shell import LabError, check_environment
from eniplan.model import Inventory
from eniplan.plan import PlanOptions

DEMO_INSTANCE = "web-balanced"


def demo_section(console: Console, inventory: Inventory, name: str = DEMO_INSTANCE) -> None:
    """The end of `eniplan demo`: the lab for one sandbox instance when run as root (with
    network namespaces), else how to run it."""
    console.rule(f"the proof on the real kernel: eniplan lab ({name})")
    from eniplan.invocation import program_as_root

    command = f"{program_as_root()} lab --sandbox --tag Name={name}"
    instance = next((i for i in inventory.instances if i.name == name), None)
    if instance is None:
        console.print(f"No instance named {name} in this scenario: nothing to prove.")
        return
    try:
        check_environment()
    except LabError as error:
        console.print(f"Not run here: {error}.", markup=False, highlight=False)
        console.print(
            f"To see it: {command}   (--target cloud-init [--mode dynamic], --format json)"
        )
        return
    try:
        report = run_lab(instance, inventory, PlanOptions(), LabOptions())
    except LabError as error:
        console.print(f"The lab could not run: {error}", markup=False, highlight=False)
        return
    print_report(console, report)
    console.print(f"Again, or with --target cloud-init [--mode dynamic]: {command}")


__all__ = [
    "DEMO_INSTANCE",
    "TARGETS",
    "LabError",
    "LabOptions",
    "LabReport",
    "check_environment",
    "demo_section",
    "print_report",
    "report_json",
    "run_lab",
    "select_instance",
]
