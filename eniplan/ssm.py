"""`eniplan apply --ssm`: fix running instances through SSM Run Command.

cloud-init does not run new user data on a running instance, so this sends each selected
instance, as an `AWS-RunShellScript` command, what the static cloud-init target installs
with `--persist script`: the iproute2 script and its systemd unit, written atomically,
then the unit enabled and (re)started, which applies the routing now and at every boot.
File contents travel gzip-compressed and base64-encoded, so no byte of them is ever shell
syntax.

Each instance gets its own command (its own plan); `max_concurrency` instances are in
flight at once and, as in SSM, once more than `max_errors` have failed nothing more is sent.
The pure part (`command_lines`) builds the text; `send_all` does the I/O with a client
factory, so tests run it against moto's SSM.
"""

from __future__ import annotations

import base64
import gzip
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eniplan import ownership
from eniplan.plan import MANAGED, InstancePlan

DOCUMENT = "AWS-RunShellScript"
TERMINAL = {"Success", "Failed", "Cancelled", "TimedOut", "Cancelling"}


@dataclass(frozen=True)
class Target:
    plan: InstancePlan
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    instance_id: str
    status: str  # Success, Failed, TimedOut, ..., or "NotSent"
    response_code: int | None = None
    command_id: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "Success"


def skip_reason(plan: InstancePlan) -> str | None:
    """Why this instance gets no command, or None."""
    if plan.status != MANAGED:
        return f"{plan.status}: {plan.reason}"
    if ownership.predates_rule_protocols(plan.os):
        return (
            "its kernel predates rule protocols (RHEL/CentOS 7): the iproute2 script cannot "
            "run there; render --target cloud-init --persist ifcfg instead"
        )
    return None


def command_lines(plan: InstancePlan) -> tuple[str, ...]:
    """The AWS-RunShellScript `commands` for one instance."""
    from eniplan.render import cloudinit

    files, activate = cloudinit.script_files(plan)
    lines = [
        f"# eniplan apply --ssm: instance {plan.instance_id}",
        "set -eu",
        "umask 022",
    ]
    for file in files:
        data = file.content.encode() if isinstance(file.content, str) else file.content
        payload = base64.b64encode(gzip.compress(data, mtime=0)).decode()
        directory = file.path.rsplit("/", 1)[0] or "/"
        lines += [
            f"mkdir -p '{directory}'",
            f"printf '%s' '{payload}' | base64 -d | gunzip > '{file.path}.eniplan-new'",
            f"chmod {file.mode:o} '{file.path}.eniplan-new'",
            f"mv -f '{file.path}.eniplan-new' '{file.path}'",
        ]
    unit = cloudinit.UNIT_NAME
    lines += [command for command in activate if not command.startswith("systemctl enable --now")]
    path = cloudinit.REAPPLY_UNIT
    lines += [
        f"systemctl enable {unit} {path}",
        f"systemctl restart {unit}",  # a oneshot: the exit status is the script's
        f"systemctl start {path}",  # re-applies after systemd-networkd changed a link
    ]
    return tuple(lines)


def targets(plans: Iterable[InstancePlan]) -> tuple[list[Target], list[tuple[str, str]]]:
    """(instances to send to, [(instance, why skipped)])."""
    chosen, skipped = [], []
    for plan in plans:
        reason = skip_reason(plan)
        if reason is None:
            chosen.append(Target(plan, command_lines(plan)))
        else:
            skipped.append((plan.instance_id, reason))
    return chosen, skipped


ClientFor = Callable[[str, str], Any]  # (account, region) -> an SSM client


def client_factory(profile: str | None, endpoint_url: str | None) -> ClientFor:
    """SSM clients of the caller's credentials (or --profile), one per region."""
    import boto3

    from eniplan.errors import InputError

    try:
        session = boto3.Session(profile_name=profile)
    except Exception as error:  # ProfileNotFound and other configuration errors
        raise InputError(f"--profile: {error}") from None
    clients: dict[str, Any] = {}

    def client_for(account_id: str, region: str) -> Any:
        del account_id  # the session's own account: SSM refuses another's instances
        if region not in clients:
            clients[region] = session.client("ssm", region_name=region, endpoint_url=endpoint_url)
        return clients[region]

    return client_for


def _wait(client: Any, command_id: str, instance_id: str, deadline: float, poll: float) -> Outcome:
    from botocore.exceptions import ClientError

    while True:
        try:
            answer = client.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "InvocationDoesNotExist":
                raise
            answer = {"Status": "Pending"}
        status = str(answer.get("Status", "Pending"))
        if status in TERMINAL or time.monotonic() > deadline:
            code = answer.get("ResponseCode")
            detail = str(answer.get("StandardErrorContent") or answer.get("StatusDetails") or "")
            if status not in TERMINAL:
                status, detail = "TimedOut", "no result before --timeout"
            return Outcome(
                instance_id,
                status,
                int(code) if isinstance(code, int) else None,
                command_id,
                detail.strip()[-500:],
            )
        time.sleep(poll)


def send_all(
    chosen: Sequence[Target],
    client_for: ClientFor,
    *,
    max_concurrency: int,
    max_errors: int,
    timeout: float = 600.0,
    poll: float = 2.0,
) -> list[Outcome]:
    """Send each target its command, `max_concurrency` at a time, and wait for each
    result; after more than `max_errors` failures the rest are not sent."""
    from botocore.exceptions import BotoCoreError, ClientError

    outcomes: list[Outcome] = []
    failures = 0
    for start in range(0, len(chosen), max_concurrency):
        batch = chosen[start : start + max_concurrency]
        if failures > max_errors:
            outcomes += [
                Outcome(t.plan.instance_id, "NotSent", detail=f"more than {max_errors} failed")
                for t in batch
            ]
            continue
        sent: list[tuple[Target, Any, str]] = []
        for target in batch:
            plan = target.plan
            try:
                client = client_for(plan.account_id, plan.region)
                answer = client.send_command(
                    InstanceIds=[plan.instance_id],
                    DocumentName=DOCUMENT,
                    Comment=f"eniplan apply {plan.instance_id}"[:100],
                    Parameters={"commands": list(target.lines)},
                    TimeoutSeconds=max(30, int(timeout)),
                )
                sent.append((target, client, answer["Command"]["CommandId"]))
            except (ClientError, BotoCoreError) as error:
                failures += 1
                outcomes.append(Outcome(plan.instance_id, "NotSent", detail=str(error)))
        deadline = time.monotonic() + timeout
        for target, client, command_id in sent:
            try:
                outcome = _wait(client, command_id, target.plan.instance_id, deadline, poll)
            except (ClientError, BotoCoreError) as error:
                outcome = Outcome(target.plan.instance_id, "Unknown", None, command_id, str(error))
            failures += 0 if outcome.ok else 1
            outcomes.append(outcome)
    return outcomes
