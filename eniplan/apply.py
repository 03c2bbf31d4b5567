"""`eniplan apply --ssm` as one request: the instances that get a command and those
skipped, the preview without --yes, the sending and its outcomes; the command line only
prints the result (cli.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from eniplan import ssm
from eniplan.errors import InputError
from eniplan.inventory import InventoryRequest
from eniplan.model import Inventory
from eniplan.plan import PlanOptions, plan_inventory
from eniplan.terminal import visible


@dataclass(frozen=True)
class ApplyRequest:
    inventory: InventoryRequest
    plan: PlanOptions
    send: bool = False  # --yes: without it, what would be sent is printed
    max_concurrency: int = 10
    max_errors: int = 0
    timeout: int = 600  # seconds to wait for each instance's result


@dataclass(frozen=True)
class ApplyResult:
    # What to say on stderr before and after the output: (True: only informs; text)
    before: tuple[tuple[bool, str], ...]
    output: tuple[str, ...]  # stdout: each command (preview) or each outcome (sent)
    after: tuple[tuple[bool, str], ...]
    sent: int = 0
    failed: int = 0


def run(request: ApplyRequest, load: Callable[[InventoryRequest], Inventory]) -> ApplyResult:
    """With --inventory or --sandbox, --profile and --endpoint-url name the account SSM is
    reached with, not where the instances are read from."""
    reading = request.inventory
    profile, endpoint = reading.aws.profile, reading.aws.endpoint_url
    if reading.source != "aws":
        if request.send and reading.sandbox is not None:
            raise InputError("--sandbox instances do not exist: drop --yes to see the commands")
        reading = replace(reading, aws=replace(reading.aws, profile=None, endpoint_url=None))
    chosen, skipped = ssm.targets(plan_inventory(load(reading), request.plan))
    before = tuple(
        (True, f"eniplan: {instance_id}: skipped, {why}") for instance_id, why in skipped
    )
    if not chosen:
        raise InputError("nothing to apply: no selected instance needs policy routing")
    if not request.send:
        lines = [line for target in chosen for line in _preview(target)]
        said = f"eniplan: nothing sent: pass --yes to send {len(chosen)} command(s) through SSM"
        return ApplyResult(before, tuple(lines), ((True, said),))
    outcomes = ssm.send_all(
        chosen,
        ssm.client_factory(profile, endpoint),
        max_concurrency=request.max_concurrency,
        max_errors=request.max_errors,
        timeout=request.timeout,
    )
    failed = [outcome for outcome in outcomes if not outcome.ok]
    after = [
        (False, f"eniplan: warning: {visible(f'{o.instance_id}: not applied ({o.status})')}")
        for o in failed
    ]
    done = len(outcomes) - len(failed)
    after.append((True, f"eniplan: apply: {done} of {len(outcomes)} instance(s) applied"))
    output = tuple(_outcome_line(outcome) for outcome in outcomes)
    return ApplyResult(before, output, tuple(after), len(outcomes), len(failed))


def _preview(target: ssm.Target) -> tuple[str, ...]:
    plan = target.plan
    head = (
        f"# --- {plan.instance_id} ({plan.name or 'no name'}) {plan.account_id} {plan.region}: "
        f"{ssm.DOCUMENT}, {len(target.lines)} commands"
    )
    return (head, "\n".join(target.lines))


def _outcome_line(outcome: ssm.Outcome) -> str:
    code = "" if outcome.response_code is None else f" exit {outcome.response_code}"
    detail = f": {outcome.detail}" if outcome.detail and not outcome.ok else ""
    return f"{outcome.instance_id}  {outcome.status}{code}  {outcome.command_id}{detail}"
