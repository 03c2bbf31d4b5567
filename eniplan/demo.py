"""`eniplan demo`: the story on a sandbox account, no AWS credentials needed.

The scenario's instances with their ENIs, the audit's findings (through the report's table
format, as `eniplan audit` prints them), the plan that fixes the classic case, its proof on
the real kernel when run as root, and what to try next.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from eniplan.inventory import DEFAULT_SCENARIO, InventoryRequest, load_inventory
from eniplan.sources.awsoptions import AwsOptions

if TYPE_CHECKING:
    from rich.console import Console

    from eniplan.model import Inventory


def print_demo(console: Console, scenario: str = DEFAULT_SCENARIO) -> None:
    from eniplan.inventory.output import print_inventory
    from eniplan.lab import demo_section
    from eniplan.sources.sandbox import STORY_TAG, load_scenario

    loaded = load_scenario(scenario)
    inventory = load_inventory(InventoryRequest(aws=AwsOptions(), sandbox=scenario))
    console.rule(f"eniplan demo: sandbox scenario '{loaded.name}'")
    console.print(loaded.description, style="italic")
    console.print()
    order = {spec.name: index for index, spec in enumerate(loaded.instances)}
    inventory = replace(
        inventory,
        instances=tuple(sorted(inventory.instances, key=lambda i: order.get(i.name, len(order)))),
    )
    notes = {i.instance_id: i.tags.get(STORY_TAG, "") for i in inventory.instances}
    print_inventory(console, inventory, notes)
    console.print()
    _audit_section(console, inventory, scenario)
    console.print()
    _plan_section(console, inventory)
    console.print()
    demo_section(console, inventory)
    console.print()
    _next_section(console)


def _audit_section(console: Console, inventory: Inventory, scenario: str) -> None:
    """Every finding and the commands that fix it: the audit's table format."""
    from eniplan.audit import AuditOptions, SourceArgs, audit
    from eniplan.report.table import print_report

    source = SourceArgs(("--sandbox",) if scenario == DEFAULT_SCENARIO else ("--sandbox", scenario))
    console.rule("eniplan audit --sandbox")
    print_report(console, audit(inventory, AuditOptions(source=source)))


def _plan_section(console: Console, inventory: Inventory) -> None:
    """The fix for the first classic case: its plan, as the ip commands it amounts to."""
    from eniplan.lab import DEMO_INSTANCE
    from eniplan.plan import plan_inventory
    from eniplan.plan.output import print_plans

    chosen = inventory.select(tags=[("Name", DEMO_INSTANCE)])
    if not chosen.instances:
        return
    console.rule(f"the fix: eniplan plan --sandbox --tag Name={DEMO_INSTANCE}")
    print_plans(console, plan_inventory(chosen))


def _next_section(console: Console) -> None:
    from eniplan.invocation import program, program_as_root
    from eniplan.lab import DEMO_INSTANCE

    me, root = program(), program_as_root()
    console.print("Next:", style="bold")
    hints = (
        (f"{me} inspect --sandbox --multi-eni-only", "only instances with several ENIs"),
        (f"{me} audit --sandbox --format sarif", "the audit, for code scanning"),
        (f"{me} render --sandbox --tag Name={DEMO_INSTANCE} --target iproute2", "the script"),
        (f"{me} render --target cloud-init --mode dynamic", "one user data for every instance"),
        (f"{me} collect --sandbox -o sandbox.json", "a snapshot to work offline with"),
        (f"{me} check-plan plan.json", "a Terraform plan, before merge"),
        (f"{root} doctor", "on an instance: where each address's replies leave"),
    )
    width = max(len(command) for command, _ in hints)
    for command, what in hints:
        console.print(f"  {command:<{width}}  {what}", markup=False, highlight=False)
