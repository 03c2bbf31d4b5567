"""The `eniplan` command line: parses options, calls the core, prints, sets the exit code.

Exit codes: 0 success; 1 findings at or above --fail-on (or a failed proof); 2 bad usage or
bad input (one line on stderr, no traceback); 3 an internal error (a bug: please report);
4 partial: records of the input left out (each named on stderr), the rest processed, or an
account, region or instance not read (--allow-partial accepts those); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

# Start-up imports only what the option declarations need: each command imports its
# machinery (boto3, moto, rich, renderers, the lab) when it runs, so `--version`, `--help`
# and check-plan stay fast (tests/tools/test_cli.py pins the list).
from eniplan import __version__, values
from eniplan.errors import InputError
from eniplan.fileio import STDOUT, write_output
from eniplan.findings import FAIL_ON_CHOICES
from eniplan.inventory import DEFAULT_SCENARIO, InventoryRequest
from eniplan.plancore import DEFAULT_TABLE_BASE
from eniplan.render import TARGETS
from eniplan.render.base import PERSIST_CHOICES
from eniplan.report import AUDIT_ONLY, format_report, pair_outputs
from eniplan.report import FORMATS as REPORT_FORMATS
from eniplan.sources.awsoptions import (
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    AwsOptions,
)
from eniplan.terminal import plain_console, visible

if TYPE_CHECKING:
    from rich.console import Console

    from eniplan.audit import SourceArgs
    from eniplan.model import Inventory
    from eniplan.plan import InstancePlan, PlanOptions
    from eniplan.render.base import Rendering

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL, EXIT_PARTIAL = 0, 1, 2, 3, 4

# The records of the input this run left out (sources/shapes.py): main() exits EXIT_PARTIAL
# when there are any, in place of 0 or 1.
_rejected: list[str] = []
EXIT_INTERRUPTED = 130


class _Run:
    """What one run learnt on the way that decides its exit code at the end (main): a
    partial inventory exits EXIT_PARTIAL, whatever the command's own verdict, unless
    --allow-partial."""

    def __init__(self) -> None:
        self.lost: list[str] = []  # accounts, regions, instances that could not be read
        self.allow_partial = False

    def partial(self, problems: Any) -> None:
        self.lost.extend(str(problem) for problem in problems)


_RUN = _Run()

F = TypeVar("F", bound=Callable[..., Any])


def _stderr() -> Console:
    return plain_console(stderr=True, soft_wrap=True)


def _stdout() -> Console:
    # Piped output gets a width that fits the tables instead of rich's 80 columns.
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 132)
    return plain_console(width=width)


def warn(message: str) -> None:
    click.echo(f"eniplan: warning: {visible(message)}", err=True)


# --- -o ------------------------------------------------------------------------------

# What --format takes somewhere: `-o json` means the format, never a file named json.
FORMAT_NAMES = frozenset({*REPORT_FORMATS, "text", "yaml", "xml", "html", "csv"})


def _output_path(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Check -o values (one, or a tuple when repeatable): `-` is standard output; a format
    name is refused."""
    for path in value if isinstance(value, tuple) else (value,):
        _check_output_path(ctx, path)
    return value


def _check_output_path(ctx: click.Context, value: str | None) -> None:
    if value is None or value == STDOUT:
        return
    if value.lower() in FORMAT_NAMES:
        has_format = any(p.name == "output_format" for p in ctx.command.params)
        choose = f"pass --format {value.lower()}" if has_format else "--format chooses formats"
        raise InputError(
            f"-o {value}: {value!r} is a format name, not an output path: {choose} "
            f"(a file or directory named so: -o ./{value})"
        )


def _quiet() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("quiet"))


def info(message: str) -> None:
    """A line on stderr that only informs (wrote FILE, a note): --quiet leaves it out.
    Warnings and errors are always said."""
    if not _quiet():
        click.echo(message, err=True)


# --- shared inventory options ----------------------------------------------------------


def _parse_tag(value: str) -> tuple[str, str]:
    key, sep, tag = value.partition("=")
    if not sep:
        raise InputError(f"--tag: {value!r} is not KEY=VALUE")
    try:
        return values.tag_key(key), values.tag_value(tag)
    except ValueError as error:
        raise InputError(f"--tag: {error}") from None


def _option_values(
    option: str, check: Callable[[Any], str], items: tuple[str, ...]
) -> tuple[str, ...]:
    try:
        return tuple(check(item) for item in items)
    except ValueError as error:
        raise InputError(f"{option}: {error}") from None


def inventory_options(command: F) -> F:
    """The inventory source and selection options every inventory command shares."""
    options = [
        click.option(
            "--profile", metavar="NAME", help="AWS profile (default: the standard chain)."
        ),
        click.option(
            "--region",
            "regions",
            multiple=True,
            metavar="REGION",
            help="AWS region to read (repeatable; default: the profile's region).",
        ),
        click.option(
            "--all-regions",
            is_flag=True,
            help="Every region enabled for the account (describe_regions, opted-in only).",
        ),
        click.option(
            "--role-arn",
            "role_arns",
            multiple=True,
            metavar="ARN",
            help="Assume this role, one per account (repeatable): accounts are read concurrently.",
        ),
        click.option(
            "--org-role",
            metavar="NAME",
            envvar="ENIPLAN_ORG_ROLE",
            show_envvar=True,
            help="Read every ACTIVE account of the AWS Organization (organizations:ListAccounts, "
            "from the management or a delegated-administrator account) by assuming the role "
            "NAME in each.",
        ),
        click.option(
            "--org-ou",
            "org_ous",
            multiple=True,
            metavar="OU_ID",
            envvar="ENIPLAN_ORG_OU",
            show_envvar=True,
            help="With --org-role: only the accounts under this OU or its child OUs (repeatable).",
        ),
        click.option(
            "--exclude-account",
            "exclude_accounts",
            multiple=True,
            metavar="ID",
            envvar="ENIPLAN_EXCLUDE_ACCOUNT",
            show_envvar=True,
            help="With --org-role: leave this account out (repeatable).",
        ),
        click.option(
            "--endpoint-url",
            metavar="URL",
            help="EC2/STS endpoint (moto server, LocalStack); botocore also reads "
            "AWS_ENDPOINT_URL.",
        ),
        click.option(
            "--inventory",
            "inventory_paths",
            multiple=True,
            metavar="PATH",
            help="A snapshot, or AWS CLI describe-* JSON, as files or a directory "
            "(repeatable; '-' reads stdin).",
        ),
        click.option(
            "--sandbox",
            "sandbox",
            is_flag=False,
            flag_value=DEFAULT_SCENARIO,
            default=None,
            metavar="[SCENARIO]",
            help="An in-process moto account seeded from a scenario "
            f"(default: {DEFAULT_SCENARIO}).",
        ),
        click.option(
            "--instance-id",
            "instance_ids",
            multiple=True,
            metavar="ID",
            help="Only this instance (repeatable).",
        ),
        click.option(
            "--tag",
            "tags",
            multiple=True,
            metavar="KEY=VALUE",
            help="Only instances with this tag (repeatable: all must match).",
        ),
        click.option(
            "--workers",
            type=click.IntRange(1, 64),
            default=DEFAULT_WORKERS,
            show_default=True,
            envvar="ENIPLAN_WORKERS",
            show_envvar=True,
            help="Concurrent account/region fetches.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(1, 3600),
            default=DEFAULT_TIMEOUT,
            show_default=True,
            metavar="SECONDS",
            help="Deadline per account and region: past it, no request or retry starts and "
            "the region is reported as not read (each request also times out on its own).",
        ),
        click.option(
            "--allow-partial",
            is_flag=True,
            help=f"Accept a run that could not read every account and region: exit as if "
            f"complete instead of {EXIT_PARTIAL}.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _regions(regions: tuple[str, ...]) -> tuple[str, ...]:
    if not regions:
        return ()
    from eniplan.sources.aws import check_regions  # botocore knows the region names

    return check_regions(regions)


# AWS-only options; a default for them from .eniplan.yaml gives way to --inventory/--sandbox
_AWS_ONLY = {
    "profile": None,
    "regions": (),
    "all_regions": False,
    "role_arns": (),
    "org_role": None,
    "org_ous": (),
    "exclude_accounts": (),
}


def _drop_configured_aws_options(params: dict[str, Any]) -> None:
    context = click.get_current_context(silent=True)
    if context is None or not (params.get("inventory_paths") or params.get("sandbox")):
        return
    for name, empty in _AWS_ONLY.items():
        if context.get_parameter_source(name) is click.core.ParameterSource.DEFAULT_MAP:
            params[name] = empty


def inventory_request(params: dict[str, Any]) -> InventoryRequest:
    _drop_configured_aws_options(params)
    endpoint = params.pop("endpoint_url")
    if endpoint is not None:
        endpoint = _option_values("--endpoint-url", values.endpoint_url, (endpoint,))[0]
    org_role = params.pop("org_role")
    request = InventoryRequest(
        aws=AwsOptions(
            profile=params.pop("profile"),
            regions=_regions(params.pop("regions")),
            all_regions=params.pop("all_regions"),
            role_arns=_option_values("--role-arn", values.role_arn, params.pop("role_arns")),
            org_role=org_role and _option_values("--org-role", values.role_name, (org_role,))[0],
            org_ous=_option_values("--org-ou", values.org_parent, params.pop("org_ous")),
            exclude_accounts=_option_values(
                "--exclude-account", values.account_id, params.pop("exclude_accounts")
            ),
            endpoint_url=endpoint,
            instance_ids=_option_values(
                "--instance-id", lambda v: values.resource_id("i", v), params.pop("instance_ids")
            ),
            tags=tuple(_parse_tag(tag) for tag in params.pop("tags")),
            workers=params.pop("workers"),
            timeout=params.pop("timeout"),
        ),
        inventory_paths=params.pop("inventory_paths"),
        sandbox=params.pop("sandbox"),
    )
    request.check()
    _RUN.allow_partial = params.pop("allow_partial")
    return request


class _ProgressDisplay:
    """A progress bar on stderr for multi-account or multi-region runs on a terminal, naming
    the regions still running; each problem is printed (above the bar) when it happens."""

    def __init__(self) -> None:
        self._progress: Any = None  # a rich Progress, once there is something to show
        self._task: Any = None
        self._lock = threading.Lock()
        self.said: set[str] = set()  # problems printed already

    def problem(self, problem: Any) -> None:
        line = f"eniplan: warning: skipped {visible(problem.describe())}"
        with self._lock:
            self.said.add(problem.describe())
            if self._progress is not None:
                from rich.text import Text

                self._progress.console.print(Text(line), soft_wrap=True)
                return
        click.echo(line, err=True)

    def __call__(self, done: int, total: int, label: str) -> None:
        with self._lock:
            self._update(done, total, label)

    def _update(self, done: int, total: int, label: str) -> None:
        if total < 2 or not sys.stderr.isatty() or _quiet():
            return
        if self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("reading AWS"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                console=_stderr(),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(label, total=total)
        self._progress.update(self._task, completed=done, description=label)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _with_progress(run: Callable[[_ProgressDisplay], Any]) -> Any:
    display = _ProgressDisplay()
    try:
        return run(display)
    finally:
        display.close()


def _report_problems(problems: Any, said: set[str]) -> None:
    """The problems not printed yet (those of files and the sandbox); the run is partial."""
    for problem in problems:
        if problem.describe() not in said:
            warn(f"skipped {problem.describe()}")
    _RUN.partial(problem.describe() for problem in problems)


def _report_rejected(inventory: Inventory) -> None:
    for message in inventory.rejected:
        warn(f"left out {message}")
    _rejected.extend(inventory.rejected)


# --- commands --------------------------------------------------------------------------


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Start with 'eniplan demo': the whole story on a sandbox account, no credentials.",
)
@click.version_option(__version__, prog_name="eniplan")
@click.option(
    "--config",
    "config",
    metavar="FILE",
    envvar="ENIPLAN_CONFIG",
    show_envvar=True,
    help="Option defaults from this YAML file (default: the nearest .eniplan.yaml in the "
    "working directory or a parent).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    envvar="ENIPLAN_QUIET",
    show_envvar=True,
    help="No progress display and no informational lines on stderr (wrote FILE, notes); "
    "warnings and errors are still said.",
)
@click.option(
    "--list-rules",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=lambda ctx, _param, value: _list_rules(ctx) if value else None,
    help="Print the rule catalogue (ID, severity, title) and exit.",
)
@click.pass_context
def cli(context: click.Context, config: str | None, quiet: bool) -> None:
    """Find EC2 instances with several network interfaces (ENIs) and give each ENI its own
    persistent policy routing, so replies leave through the interface they arrived on.

    \b
    Inventory sources (every inventory command):
      AWS (default)      the boto3 credential chain, --profile, --region, --role-arn,
                         --org-role (every account of the organization)
      --inventory PATH   a snapshot from 'eniplan collect', or AWS CLI describe-* JSON
      --sandbox          an in-process moto account with the classic cases

    Exit codes: 0 success, 1 findings at or above --fail-on (or a failed proof), 2 bad
    usage or input, 3 an internal error (a bug), 4 partial: records of the input left out
    (named on stderr; the rest was processed) or an account, region or instance not read
    (--allow-partial accepts those), 130 interrupted.

    \b
    Shell completion (bash; zsh_source, fish_source likewise):
      eval "$(_ENIPLAN_COMPLETE=bash_source eniplan)"
    """
    from pathlib import Path

    from eniplan.config import default_map, find_config

    if config is not None and not Path(config).is_file():
        raise InputError(f"--config {config}: no such file")
    path = Path(config) if config is not None else find_config(Path.cwd())
    if path is not None and context.invoked_subcommand is not None:
        context.default_map = default_map(context.command, path)  # type: ignore[arg-type]


def _list_rules(context: click.Context) -> None:
    from eniplan.findings import RULES

    for rule in RULES.values():
        click.echo(f"{rule.rule_id}  {rule.severity:<6}  {rule.title}")
    context.exit(EXIT_OK)


@cli.command()
@inventory_options
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    callback=_output_path,
    help="Snapshot file to write (atomically), or s3://BUCKET/KEY.json (.json.gz: gzip); "
    "'-' is standard output.",
)
def collect(output: str, **params: Any) -> None:
    """Read instances, ENIs, subnets, images and route tables and write a snapshot.

    The snapshot is versioned JSON holding the AWS API shapes per account and region; every
    command reads it back with --inventory, offline.

    \b
    Examples:
      eniplan collect --region eu-west-1 --region us-east-1 -o snapshot.json
      eniplan collect --all-regions --role-arn arn:aws:iam::111111111111:role/audit \\
                      --role-arn arn:aws:iam::222222222222:role/audit -o org.json
      eniplan collect --all-regions --org-role eniplan-read -o org.json
      eniplan collect --sandbox -o sandbox.json
    """
    from eniplan.inventory import load_collection
    from eniplan.inventory.output import summary_line
    from eniplan.sources.files import write_snapshot
    from eniplan.sources.shapes import build_inventory

    request = inventory_request(params)
    if request.source == "files":
        raise InputError(
            "collect reads AWS or the sandbox; --inventory files are already offline input"
        )
    said: set[str] = set()

    def load(display: _ProgressDisplay) -> Any:
        try:
            return load_collection(request, display, display.problem)
        finally:
            said.update(display.said)

    collection = _with_progress(load)
    inventory = build_inventory(collection)  # refuse to write what cannot be read back
    _report_problems(collection.problems, said)
    _report_rejected(inventory)
    write_snapshot(collection, output)
    regions = len(collection.shapes)
    where = "the snapshot to stdout" if output == STDOUT else output
    info(f"wrote {where}: {regions} account/region(s); {summary_line(inventory)}")


@cli.command()
@inventory_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--multi-eni-only",
    is_flag=True,
    help="Only instances with two or more ENIs.",
)
def inspect(output_format: str, multi_eni_only: bool, **params: Any) -> None:
    """Show instances with their ENIs, subnets, addresses and source/dest checks.

    \b
    Examples:
      eniplan inspect --sandbox
      eniplan inspect --region eu-west-1 --tag team=payments --multi-eni-only
      eniplan inspect --inventory ./aws-cli-dumps/ --format json
    """
    from eniplan.inventory.output import inventory_json, print_inventory

    inventory = _load(inventory_request(params))
    if multi_eni_only:
        inventory = inventory.select(
            [i.instance_id for i in inventory.instances if len(i.enis) > 1]
        )
    if output_format == "json":
        click.echo(json.dumps(inventory_json(inventory), indent=2))
    else:
        print_inventory(_stdout(), inventory)


def plan_options(command: F) -> F:
    """The planning options shared by plan and render."""
    options = [
        click.option(
            "--table-base",
            type=int,
            default=DEFAULT_TABLE_BASE,
            show_default=True,
            envvar="ENIPLAN_TABLE_BASE",
            show_envvar=True,
            help="Table and rule priority of ENI i = BASE + 100*card + device index.",
        ),
        click.option(
            "--no-guard",
            is_flag=True,
            help="Leave out the main-table guard (netdev group + suppress_ifgroup rule).",
        ),
        click.option(
            "--force",
            is_flag=True,
            help="Plan even where another agent already installs policy routing.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _plan_options(params: dict[str, Any]) -> PlanOptions:
    """The planning options (plan_options), taken out of a command's parameters."""
    from eniplan.plan import PlanOptions, check_table_base

    return PlanOptions(
        table_base=check_table_base(params.pop("table_base")),
        guard=not params.pop("no_guard"),
        force=params.pop("force"),
    )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while the inventory is read: reading makes hundreds
    of thousands of objects (records, ENIs, addresses) that live until the command ends,
    and every pass walked all of them again (a third of the time of reading a large
    inventory). They are then frozen (gc.freeze: never walked again), and it resumes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _load(request: InventoryRequest) -> Inventory:
    """The inventory the options ask for, with a progress display; problems on stderr."""
    from eniplan.inventory import load_inventory

    said: set[str] = set()

    def load(display: _ProgressDisplay) -> Inventory:
        try:
            return load_inventory(request, display, display.problem)
        finally:
            said.update(display.said)

    with _collector_paused():
        inventory: Inventory = _with_progress(load)
    _report_problems(inventory.problems, said)
    _report_rejected(inventory)
    return inventory


def _plans(params: dict[str, Any]) -> list[InstancePlan]:
    from eniplan.plan import plan_inventory

    options = _plan_options(params)
    return plan_inventory(_load(inventory_request(params)), options)


@cli.command()
@inventory_options
@plan_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def plan(output_format: str, **params: Any) -> None:
    """The per-ENI routing plan of each instance: tables, rules, routes, and what is left alone.

    \b
    Examples:
      eniplan plan --sandbox
      eniplan plan --inventory snapshot.json --instance-id i-0123456789abcdef0
      eniplan plan --region eu-west-1 --format json --table-base 20000
    """
    from eniplan.plan import plan_json
    from eniplan.plan.output import print_plans

    plans = _plans(params)
    if output_format == "json":
        click.echo(json.dumps({"plans": [plan_json(p) for p in plans]}, indent=2))
    else:
        print_plans(_stdout(), plans)


@cli.command()
@inventory_options
@plan_options
@click.option(
    "--target",
    required=True,
    type=click.Choice(sorted(TARGETS)),
    help="What to render.",
)
@click.option(
    "--mode",
    type=click.Choice(["static", "dynamic"]),
    default="static",
    show_default=True,
    help="static: every ENI, MAC and address hard-coded from the inventory. dynamic "
    "(cloud-init): one user data for every instance, whose agent reads IMDSv2 at boot and "
    "on ENI hotplug; it takes no inventory source or selection.",
)
@click.option(
    "--persist",
    type=click.Choice(PERSIST_CHOICES),
    default=None,
    help="cloud-init and terraform, static mode: how the routing is made persistent "
    "(default auto: by the AMI's OS).",
)
@click.option(
    "--replace-user-data",
    is_flag=True,
    help="cloud-init and terraform: drop the instance's own user data. By default, when "
    "the inventory knows it, it is kept: a MIME multipart with it first, unchanged, then "
    "eniplan's cloud-config (refused when that cannot fit 16 KB, even gzip-compressed).",
)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, allow_dash=True),
    default=None,
    callback=_output_path,
    help="Write DIR/INSTANCE_ID/<path on the instance> (required unless one file results; "
    "'-' is standard output, for one file).",
)
def render(
    target: str,
    mode: str,
    persist: str | None,
    replace_user_data: bool,
    output_dir: str | None,
    **params: Any,
) -> None:
    """Render the plan as persistent configuration for one network stack.

    One instance and one file go to stdout; otherwise pass -o DIR. Instances with nothing
    to do, or handled by another agent, are listed on stderr and skipped.

    \b
    Examples:
      eniplan render --sandbox --instance-id i-0123456789abcdef0 --target iproute2 > routing.sh
      eniplan render --inventory snap.json --tag role=web --target cloud-init -o out/
      eniplan render --sandbox --target netplan -o out/ && ls out/*/etc/netplan/
      eniplan render --target cloud-init --mode dynamic > user-data.yaml
    """
    if output_dir == STDOUT:
        output_dir = None
    if replace_user_data and (mode == "dynamic" or target not in ("cloud-init", "terraform")):
        raise InputError(
            "--replace-user-data applies to --target cloud-init and terraform in static mode "
            "(the dynamic user data is the same for every instance)"
        )
    if mode == "dynamic":
        _render_dynamic(target, persist, output_dir, params)
        return
    from eniplan.plan import MANAGED, NOTHING_TO_DO
    from eniplan.render import render as render_plan
    from eniplan.render.base import RenderOptions
    from eniplan.render.files import write_renderings

    plans = _plans(params)
    options = RenderOptions(
        mode=mode, persist=persist or "auto", replace_user_data=replace_user_data
    )
    renderings = []
    skipped = []  # said after the output is written: an error stays the only line
    for instance_plan in plans:
        # (iproute2: an instance left with one ENI gets the script that removes the routing)
        teardown = target == "iproute2" and instance_plan.status == NOTHING_TO_DO
        if instance_plan.status != MANAGED and not teardown:
            skipped.append(
                visible(
                    f"{instance_plan.instance_id} ({instance_plan.name or 'no name'}): "
                    f"skipped, {instance_plan.status}: {instance_plan.reason}"
                )
            )
            continue
        renderings.append(render_plan(target, instance_plan, options))
    if not renderings:
        why = (
            "no instance selected"
            if not skipped
            else skipped[0]
            if len(skipped) == 1
            else f"{len(skipped)} skipped: see `eniplan plan`"
        )
        raise InputError(f"nothing to render: no selected instance needs policy routing ({why})")
    files = [file for rendering in renderings for file in rendering.files]
    if output_dir is None:
        if len(renderings) != 1 or len(files) != 1:
            raise InputError(
                f"{len(renderings)} instance(s) and {len(files)} file(s) to write: "
                "pass -o DIR (stdout takes one instance with one file)"
            )
        content = files[0].content
        if isinstance(content, bytes):
            if sys.stdout.isatty():
                raise InputError("the output is gzip-compressed: redirect it to a file or pass -o")
            sys.stdout.buffer.write(content)
            sys.stdout.flush()
        else:
            click.echo(content, nl=False)
        _render_notes(renderings, skipped)
        return
    written = write_renderings(output_dir, renderings)
    for path in written:
        info(f"wrote {path}")
    _render_notes(renderings, skipped)


def _render_notes(renderings: list[Rendering], skipped: list[str]) -> None:
    """The instances skipped, what each target could not express, and how to apply its
    files now (on stderr)."""
    for line in skipped:
        click.echo(f"eniplan: {line}", err=True)
    said: set[str] = set()
    for rendering in renderings:
        for note in rendering.notes:
            if note not in said:
                said.add(note)
                info(f"eniplan: note: {visible(note)}")
        if rendering.activate:
            click.echo(
                f"eniplan: {rendering.instance_id}: to apply now on the instance (as root): "
                + "; ".join(rendering.activate),
                err=True,
            )


def _render_dynamic(
    target: str, persist: str | None, output_dir: str | None, params: dict[str, Any]
) -> None:
    """--mode dynamic: the same user data for every instance, so no inventory at all."""
    from eniplan.plan import check_table_base
    from eniplan.render import dynamic
    from eniplan.render.files import write_renderings

    if target != "cloud-init":
        raise InputError(f"--mode dynamic: only --target cloud-init has an agent, not {target}")
    options = {
        "profile": "--profile",
        "regions": "--region",
        "all_regions": "--all-regions",
        "role_arns": "--role-arn",
        "org_role": "--org-role",
        "org_ous": "--org-ou",
        "exclude_accounts": "--exclude-account",
        "endpoint_url": "--endpoint-url",
        "inventory_paths": "--inventory",
        "sandbox": "--sandbox",
        "instance_ids": "--instance-id",
        "tags": "--tag",
        "force": "--force",
    }
    given = [
        option for name, option in options.items() if params.get(name) not in (None, (), False)
    ]
    if persist is not None:
        given.append("--persist")
    if given:
        raise InputError(
            f"--mode dynamic renders one user data for every instance: {', '.join(given)} "
            "does not apply (the agent reads each instance's ENIs from IMDS)"
        )
    rendering = dynamic.render(check_table_base(params["table_base"]), not params["no_guard"])
    if output_dir is None:
        (file,) = rendering.files
        click.echo(file.content, nl=False)
    else:
        for path in write_renderings(output_dir, [rendering]):
            info(f"wrote {path}")
    for note in rendering.notes:
        info(f"eniplan: note: {note}")


@cli.command()
@click.argument("scenario", default=DEFAULT_SCENARIO, required=False)
def demo(scenario: str) -> None:
    """The story on a sandbox account: no AWS credentials needed.

    Seeds an in-process moto account with the classic multi-ENI cases and shows each
    instance with its ENIs and what is wrong with it.
    """
    from eniplan.inventory import load_inventory
    from eniplan.inventory.output import print_inventory
    from eniplan.lab import DEMO_INSTANCE, demo_section
    from eniplan.sources.sandbox import STORY_TAG, load_scenario

    loaded = load_scenario(scenario)
    request = InventoryRequest(aws=AwsOptions(), sandbox=scenario)
    inventory = load_inventory(request)
    console = _stdout()
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
    _demo_audit(console, inventory, scenario)
    console.print()
    _demo_plan(console, inventory)
    console.print()
    demo_section(console, inventory)
    console.print()
    from eniplan.invocation import program, program_as_root

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


def _demo_plan(console: Console, inventory: Inventory) -> None:
    """The fix for the first classic case: its plan, as the ip commands it amounts to."""
    from eniplan.lab import DEMO_INSTANCE
    from eniplan.plan import plan_inventory
    from eniplan.plan.output import print_plans

    chosen = inventory.select(tags=[("Name", DEMO_INSTANCE)])
    if not chosen.instances:
        return
    console.rule(f"the fix: eniplan plan --sandbox --tag Name={DEMO_INSTANCE}")
    print_plans(console, plan_inventory(chosen))


def report_options(formats: tuple[str, ...], several: bool = False) -> Callable[[F], F]:
    """--format, --fail-on and -o: the same for every command that reports findings. With
    `several`, --format and -o repeat and pair up in order (`report.pair_outputs`)."""

    def decorate(command: F) -> F:
        names = ", ".join(name for name in formats if name != "table")
        options = [
            click.option(
                "--format",
                "output_format",
                type=click.Choice(formats),
                multiple=several,
                default=() if several else "table",
                show_default=not several,
                help=f"table (default) for people; {names} for machines."
                + (" Repeatable: the n-th -o FILE takes the n-th --format." if several else ""),
            ),
            click.option(
                "--fail-on",
                type=click.Choice(FAIL_ON_CHOICES),
                default="high",
                show_default=True,
                envvar="ENIPLAN_FAIL_ON",
                show_envvar=True,
                help="Exit 1 when a finding (not suppressed) has this severity or higher.",
            ),
            click.option(
                "-o",
                "--output",
                type=click.Path(dir_okay=False, allow_dash=True),
                callback=_output_path,
                multiple=several,
                default=() if several else None,
                help="Write the report to FILE (atomically) instead of stdout ('-': stdout)."
                + (" Repeatable, one per --format." if several else ""),
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def baseline_options(command: F) -> F:
    """--baseline and --write-baseline (audit, check-plan): eniplan/baseline.py."""
    command = click.option(
        "--write-baseline",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="Record every finding of this run (not waived by a tag) in FILE, keeping the "
        "reasons and expiry dates of a --baseline given too; they are then waived.",
    )(command)
    return click.option(
        "--baseline",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        envvar="ENIPLAN_BASELINE",
        show_envvar=True,
        help="Waive the findings recorded in FILE (by fingerprint) unless their entry expired.",
    )(command)


def _with_baseline(report: Any, baseline: str | None, write_baseline: str | None) -> Any:
    import datetime as dt

    from eniplan.baseline import apply_baseline, read_baseline
    from eniplan.baseline import write_baseline as write

    today = dt.date.today()
    previous = read_baseline(baseline) if baseline else None
    if previous is not None:
        report = apply_baseline(report, previous, today)
    if write_baseline:
        count = write(write_baseline, report, previous)
        info(f"wrote {write_baseline}: {count} finding(s) in the baseline")
        report = apply_baseline(report, read_baseline(write_baseline), today)
    return report


# --- audit -----------------------------------------------------------------------------


def _source_args(request: InventoryRequest) -> SourceArgs:
    """How the `eniplan render` commands in findings name the audited inventory."""
    from eniplan.audit import SourceArgs

    if request.sandbox is not None:
        sandbox = ["--sandbox"] if request.sandbox == DEFAULT_SCENARIO else []
        return SourceArgs(tuple(sandbox or ["--sandbox", request.sandbox]))
    if request.inventory_paths:
        return SourceArgs(
            tuple(arg for path in request.inventory_paths for arg in ("--inventory", path))
        )
    common: list[str] = []
    if request.aws.profile:
        common += ["--profile", request.aws.profile]
    if request.aws.endpoint_url:
        common += ["--endpoint-url", request.aws.endpoint_url]
    roles = {values.account_of_role_arn(arn): arn for arn in request.aws.role_arns}
    return SourceArgs(tuple(common), aws=True, role_by_account=roles, org_role=request.aws.org_role)


def _write_output(text: str, output: str | None) -> None:
    if output is None or output == STDOUT:
        click.echo(text, nl=False)
    else:
        write_output(output, text)
        info(f"wrote {output}")


@cli.command()
@inventory_options
@plan_options
@report_options(tuple(REPORT_FORMATS), several=True)
@baseline_options
def audit(
    output_format: tuple[str, ...],
    fail_on: str,
    output: tuple[str, ...],
    baseline: str | None,
    write_baseline: str | None,
    **params: Any,
) -> None:
    """Findings for every instance: missing policy routing, a source/dest check switched off
    as a "fix", eniplan user data that drifted. Each finding names the command that fixes it.

    \b
    Rules: ENI001 (high) several ENIs in one subnet, no policy routing
           ENI002 (high) ENIs in several subnets, no policy routing
           ENI003 (medium) source/dest check off and no route targets the ENI
           ENI004 (medium) eniplan's static user data no longer matches the ENIs
    Waive with a tag on the instance or ENI:  eniplan:ignore = ENI003: NAT appliance

    \b
    Examples:
      eniplan audit --sandbox
      eniplan audit --region eu-west-1 --format sarif -o eniplan.sarif --fail-on medium
      eniplan audit --inventory snapshot.json --format github
      eniplan audit --format sarif -o audit.sarif --format markdown -o audit.md --format table
      eniplan audit --format asff -o findings.json   # aws securityhub batch-import-findings
    """
    from eniplan.audit import AuditOptions
    from eniplan.audit import audit as run_audit

    pairs = pair_outputs(output_format, output)
    plan_options_ = _plan_options(params)
    request = inventory_request(params)
    inventory = _load(request)
    report = run_audit(
        inventory,
        AuditOptions(plan=plan_options_, source=_source_args(request), fail_on=fail_on),
    )
    report = _with_baseline(report, baseline, write_baseline)
    for message in report.warnings:
        warn(message)
    if request.inventory_paths and any(name == "sarif" for name, _ in pairs):
        from eniplan.findings import with_locations
        from eniplan.sources.files import instance_locations

        local = [path for path in request.inventory_paths if not path.startswith("s3://")]
        report = with_locations(report, instance_locations(local))
    _emit_reports(report, pairs, rich_table=True)
    _RUN.partial(problem for problem in report.problems if problem not in _RUN.lost)
    if report.failing:
        sys.exit(EXIT_FINDINGS)


def _emit_reports(report: Any, pairs: list[tuple[str, str | None]], rich_table: bool) -> None:
    """Each format to its file (atomically) or stdout; files first, so stdout ends the run."""
    for name, target in sorted(pairs, key=lambda pair: pair[1] is None):
        if name == "table" and target in (None, STDOUT) and rich_table:
            from eniplan.report.table import print_report

            print_report(_stdout(), report)
        else:
            _write_output(format_report(name, report), target)


def _demo_audit(console: Console, inventory: Any, scenario: str) -> None:
    """The demo's audit section: every finding, and the command that fixes it."""
    from rich.text import Text

    from eniplan.audit import AuditOptions, SourceArgs
    from eniplan.audit import audit as run_audit
    from eniplan.report.table import summary_line

    source = SourceArgs(("--sandbox",) if scenario == DEFAULT_SCENARIO else ("--sandbox", scenario))
    report = run_audit(inventory, AuditOptions(source=source))
    console.rule("eniplan audit --sandbox")
    labels = {subject.name: subject.label for subject in report.subjects}
    for finding in report.findings:
        name = labels.get(finding.subject) or finding.subject
        head = Text(f"{finding.rule_id} {finding.severity:<6} ", style="bold")
        head.append(visible(name))
        if finding.suppressed:
            head.append(f"  suppressed ({visible(finding.suppression_reason)})", style="dim")
            console.print(head)
            continue
        console.print(head)
        console.print(Text(f"  {visible(finding.message)}"))
        commands = finding.details.get("commands") or []
        for fix in [shlex.join(argv) for argv in commands] or [finding.remediation]:
            console.print(Text(f"  fix: {visible(fix)}", style="green"), soft_wrap=True)
    for subject, reason in report.excluded:
        line = Text("left alone ", style="bold")
        line.append(visible(labels.get(subject) or subject))
        line.append(f": {visible(reason)}", style="dim")
        console.print(line)
    console.print(Text(summary_line(report), style="bold"))


@cli.command("check-plan")
@click.argument(
    "plan_files",
    metavar="PLAN.json...",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
)
@report_options(tuple(name for name in REPORT_FORMATS if name not in AUDIT_ONLY), several=True)
@click.option(
    "--user-data",
    "user_data_paths",
    multiple=True,
    metavar="PATH",
    type=click.Path(exists=True),
    help="User data files (or directories of them) that the configuration reads with file(), "
    "for plans of the AWS provider 5.x and older, which hold only a digest of user_data: an "
    "instance whose digest matches a file that installs policy routing is covered.",
)
@click.option(
    "--inventory",
    "inventory_paths",
    multiple=True,
    metavar="PATH",
    type=click.Path(exists=True),
    help="A snapshot from 'eniplan collect', or AWS CLI describe-* JSON (files or "
    "directories): the OS of an AMI ID the plan does not show, from its image record (or "
    "an instance of it with a known platform); the MACs and subnets of existing ENIs, to "
    "compare eniplan's static user data with; routes outside the plan (ENI003).",
)
@baseline_options
def check_plan(
    plan_files: tuple[str, ...],
    output_format: tuple[str, ...],
    fail_on: str,
    user_data_paths: tuple[str, ...],
    inventory_paths: tuple[str, ...],
    output: tuple[str, ...],
    baseline: str | None,
    write_baseline: str | None,
) -> None:
    """Check a Terraform plan before merge: multi-ENI instances without policy routing.

    PLAN.json is the output of `terraform show -json PLANFILE` ('-' reads stdin); several
    plans make one report. Findings carry Terraform addresses; waive one with a tag
    `eniplan:ignore = "ENI005: reason"` on the instance or ENI.

    \b
    Examples:
      terraform plan -out tfplan && terraform show -json tfplan > plan.json
      eniplan check-plan plan.json
      eniplan check-plan plan.json --format sarif -o eniplan.sarif --fail-on medium
    """
    from eniplan.checkplan import check_plans, digests_of_files
    from eniplan.checkplan.tfplan import read_plan, read_user_data_files

    pairs = pair_outputs(output_format, output)
    digests = digests_of_files(read_user_data_files(user_data_paths))
    inventory = None
    if inventory_paths:
        from eniplan.inventory import load_inventory
        from eniplan.sources.awsoptions import AwsOptions

        inventory = load_inventory(InventoryRequest(AwsOptions(), inventory_paths))
        for problem in inventory.problems:  # an AMI it does not show stays unknown: not safe
            warn(f"--inventory: skipped {problem.describe()}")
        _report_rejected(inventory)
    plans = (read_plan(path) for path in plan_files)
    result = check_plans(plans, fail_on, digests, inventory)
    report = _with_baseline(result.report, baseline, write_baseline)
    for message in (*result.warnings, *report.warnings[len(result.report.warnings) :]):
        warn(message)
    _emit_reports(report, pairs, rich_table=False)
    if report.failing:
        sys.exit(EXIT_FINDINGS)


@cli.command()
@click.option(
    "--ip-addr", "ip_addr", metavar="FILE", help="Captured `ip addr show` text ('-': stdin)."
)
@click.option(
    "--ip-rule",
    "ip_rules",
    multiple=True,
    metavar="FILE",
    help="Captured `ip rule show` and/or `ip -6 rule show` text (repeatable; '-': stdin).",
)
@click.option(
    "--ip-route",
    "ip_routes",
    multiple=True,
    metavar="FILE",
    help="Captured `ip route show table all` (and -6) text (repeatable; '-': stdin).",
)
@click.option(
    "--ip-neigh",
    "ip_neigh",
    metavar="FILE",
    help="Captured `ip neigh show` text (optional): which of equal routes the kernel takes.",
)
@click.option(
    "--imds/--no-imds",
    default=True,
    show_default=True,
    help="Live mode: ask the instance metadata service (IMDSv2) which interface is which ENI.",
)
@report_options(("table", "json"))
def doctor(
    ip_addr: str | None,
    ip_rules: tuple[str, ...],
    ip_routes: tuple[str, ...],
    ip_neigh: str | None,
    imds: bool,
    output_format: str,
    fail_on: str,
    output: str | None,
) -> None:
    """Diagnose policy routing on this instance: for every address of every ENI, which
    interface a reply leaves through toward a same-subnet peer and toward the internet.

    Live (default): `ip -j addr/rule/route/neigh` and IMDSv2. Captured: pass the text of
    `ip addr show`, `ip rule show` (and `ip -6 rule show`), `ip route show table all`,
    and optionally `ip neigh show`.
    Includes the verdict of EC2Rescue for Linux's asymmetricroute module on the same input.

    \b
    Examples:
      sudo eniplan doctor
      eniplan doctor --ip-addr addr.txt --ip-rule rule.txt --ip-rule rule6.txt \\
                     --ip-route route.txt --format json
    """
    import io

    from eniplan.doctor import host
    from eniplan.doctor.output import diagnosis_json, print_diagnosis
    from eniplan.doctor.verdicts import diagnose
    from eniplan.findings import Report

    captured = (ip_addr, ip_rules, ip_routes)
    if any(captured) or ip_neigh:
        if not all(captured):
            raise InputError("captured input needs --ip-addr, --ip-rule and --ip-route together")
        assert ip_addr is not None
        state = host.load_captured(ip_addr, ip_rules, ip_routes, ip_neigh)
        info = None
    else:
        state = host.capture_live()
        fetch = host.imds_fetcher() if imds else None
        info = host.read_imds(fetch) if fetch else None
        if imds and info is None:
            state = replace(state, notes=(*state.notes, "IMDS did not answer: ENIs told by name"))
    diagnosis = diagnose(state, info)
    report = Report(
        command="doctor",
        findings=diagnosis.findings,
        scanned=len(diagnosis.addresses),
        fail_on=fail_on,
    )
    if output_format == "json":
        _write_output(diagnosis_json(diagnosis, report), output)
    elif output and output != STDOUT:
        console = plain_console(record=True, width=132, file=io.StringIO())
        print_diagnosis(console, diagnosis, report)
        _write_output(console.export_text(), output)
    else:
        print_diagnosis(_stdout(), diagnosis, report)
    if report.failing:
        sys.exit(EXIT_FINDINGS)


@cli.command()
@inventory_options
@plan_options
@click.option(
    "--target",
    type=click.Choice(
        [
            "iproute2",
            "cloud-init",
            "dynamic",
            "netplan",
            "networkd",
            "networkmanager",
            "ifcfg",
            "ssm",
        ]
    ),
    default=None,
    help="What to apply (default iproute2; with --boot, cloud-init). Without --boot: the "
    "iproute2 script, the cloud-init user data (--persist script; its boot script runs as "
    "its systemd unit would) or the dynamic user data (its agent reads a fake IMDS at "
    "169.254.169.254, at boot and on ENI hotplug). With --boot also netplan, networkd and "
    "networkmanager (their files on the instance's disk before its first boot, as an image "
    "build or config management puts them) and ssm (the script 'apply --ssm' sends, run on "
    "the running OS as AWS-RunShellScript runs it).",
)
@click.option(
    "--boot",
    is_flag=True,
    help="The instance is a real Debian 12 booted with systemd-nspawn: the user data "
    "reaches it through its own cloud-init from the lab's IMDS; proves after the first "
    "boot, a second activation, a reboot and a network-manager reconfigure.",
)
@click.option(
    "--persist",
    type=click.Choice(["script", "networkd", "networkmanager", "netplan"]),
    default="script",
    show_default=True,
    help="With --boot --target cloud-init: the user data's persistence.",
)
@click.option(
    "--stack",
    type=click.Choice(["networkd", "networkmanager"]),
    default=None,
    help="With --boot: the network stack that manages the ENIs on the booted OS (default: "
    "the one the target configures; networkd for the script and dynamic targets).",
)
@click.option(
    "--image-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --boot: where the OS image is cached (default: the XDG cache, "
    "~/.cache/eniplan/boot-image).",
)
@click.option(
    "--prepare-image",
    is_flag=True,
    help="With --boot: build the OS image (debootstrap from Debian's archive, the one step "
    "that needs the network) unless it is cached, and exit.",
)
@click.option(
    "--cleanup",
    is_flag=True,
    help="Remove what a killed lab left (its processes, namespaces, directories) and exit; "
    "labs that are running are left alone.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.option("-v", "--verbose", is_flag=True, help="Every failed check, and phase timings.")
def lab(
    target: str | None,
    boot: bool,
    persist: str,
    stack: str | None,
    image_dir: Path | None,
    prepare_image: bool,
    cleanup: bool,
    output_format: str,
    verbose: bool,
    **params: Any,
) -> None:
    """(root) Prove the routing on the real kernel: the instance's VPC in network namespaces.

    Builds one bridge per subnet owning the router address, the instance's ENIs as veths
    with their MACs (ens5, ens6, ...), a peer per subnet, a remote host, rp_filter=1, and
    the source/dest check and ARP ownership in nftables; proves before and after applying
    the target; removes every namespace it made (also on Ctrl-C). Exit 1 if a proof fails
    after applying.

    With --boot the instance runs Debian 12 (systemd, cloud-init, netplan, networkd,
    NetworkManager) booted in its namespace; build its image once with --prepare-image.

    \b
    Examples:
      sudo eniplan lab --sandbox --tag Name=multi-subnet
      sudo eniplan lab --inventory snapshot.json --instance-id i-0123456789abcdef0 \\
                       --target cloud-init --format json
      sudo eniplan lab --sandbox --tag Name=multi-subnet --target dynamic
      sudo eniplan lab --boot --prepare-image
      sudo eniplan lab --boot --sandbox --tag Name=multi-subnet --target cloud-init
    """
    from eniplan.lab import (
        LabOptions,
        check_environment,
        image,
        print_report,
        report_json,
        run_lab,
        select_instance,
    )
    from eniplan.lab import boot as boot_lab
    from eniplan.lab.topology import cleanup as cleanup_labs

    if cleanup:
        check_environment()
        for line in cleanup_labs():
            click.echo(f"removed {line}")
        return
    directory = image_dir or image.default_image_dir()
    if prepare_image:
        if not boot:
            raise InputError("--prepare-image builds the image of --boot: add --boot")
        image.check_can_build()
        if image.is_ready(directory):
            click.echo(f"image ready: {image.rootfs(directory)}")
            return
        click.echo(f"building {image.OS_NAME} in {directory} (a few minutes)", err=True)
        click.echo(f"image ready: {image.build(directory)}")
        return
    chosen = target or ("cloud-init" if boot else "iproute2")
    if not boot and chosen not in ("iproute2", "cloud-init", "dynamic"):
        raise InputError(f"--target {chosen}: only the booted lab applies it: add --boot")
    if not boot and stack is not None:
        raise InputError("--stack chooses the booted OS's network stack: add --boot")
    if boot:
        boot_lab.check_target(chosen)
        boot_lab.stack_for(chosen, persist, stack)
    check_environment()
    if boot:
        boot_lab.check_ready(directory)
    options = _plan_options(params)
    inventory = _load(inventory_request(params))
    instance = select_instance(inventory, options)
    progress = None
    if verbose:
        progress = lambda phase: click.echo(f"eniplan lab: {phase} done", err=True)  # noqa: E731
    lab_options = LabOptions(target=chosen, persist=persist, image_dir=directory, stack=stack)
    run = boot_lab.run_boot_lab if boot else run_lab
    report = run(instance, inventory, options, lab_options, progress=progress)
    if output_format == "json":
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        print_report(_stdout(), report, verbose=verbose)
    if not report.passed:
        sys.exit(EXIT_FINDINGS)


@cli.command()
@inventory_options
@plan_options
@click.option(
    "--ssm",
    is_flag=True,
    help="Send through SSM Run Command (AWS-RunShellScript); the only delivery so far.",
)
@click.option("--yes", is_flag=True, help="Send. Without it, print what would be sent.")
@click.option(
    "--max-concurrency",
    type=click.IntRange(1, 500),
    default=10,
    show_default=True,
    help="Instances in flight at once.",
)
@click.option(
    "--max-errors",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Stop sending once more than this many instances failed.",
)
@click.option(
    "--command-timeout",
    type=click.IntRange(30, 172800),
    default=600,
    show_default=True,
    help="Seconds to wait for each instance's result.",
)
def apply(
    ssm: bool,
    yes: bool,
    max_concurrency: int,
    max_errors: int,
    command_timeout: int,
    **params: Any,
) -> None:
    """Fix running instances now: send each one what the static cloud-init target installs
    (the iproute2 script, applied now, and its systemd unit for every boot).

    Nothing is sent without --yes: it prints each instance's command instead. With
    --inventory, --profile and --endpoint-url name the account SSM is reached with. Exit 4
    when some instances were not applied (each named on stderr), 1 when none was.

    \b
    Examples:
      eniplan apply --ssm --region eu-west-1 --tag team=payments          # what it would send
      eniplan apply --ssm --region eu-west-1 --tag team=payments --yes --max-errors 2
    """
    from eniplan import ssm as run_command

    if not ssm:
        raise InputError("apply needs --ssm (SSM Run Command is how it reaches instances)")
    profile, endpoint = params["profile"], params["endpoint_url"]
    if params["inventory_paths"] or params["sandbox"]:
        if yes and params["sandbox"]:
            raise InputError("--sandbox instances do not exist: drop --yes to see the commands")
        params["profile"] = params["endpoint_url"] = None  # for SSM, not for reading
    chosen, skipped = run_command.targets(_plans(params))
    for instance_id, reason in skipped:
        info(f"eniplan: {instance_id}: skipped, {reason}")
    if not chosen:
        raise InputError("nothing to apply: no selected instance needs policy routing")
    if not yes:
        for target in chosen:
            plan = target.plan
            click.echo(
                f"# --- {plan.instance_id} ({plan.name or 'no name'}) {plan.account_id} "
                f"{plan.region}: {run_command.DOCUMENT}, {len(target.lines)} commands"
            )
            click.echo("\n".join(target.lines))
        info(f"eniplan: nothing sent: pass --yes to send {len(chosen)} command(s) through SSM")
        return
    outcomes = run_command.send_all(
        chosen,
        run_command.client_factory(profile, endpoint),
        max_concurrency=max_concurrency,
        max_errors=max_errors,
        timeout=command_timeout,
    )
    for outcome in outcomes:
        code = "" if outcome.response_code is None else f" exit {outcome.response_code}"
        detail = f": {outcome.detail}" if outcome.detail and not outcome.ok else ""
        click.echo(f"{outcome.instance_id}  {outcome.status}{code}  {outcome.command_id}{detail}")
    failed = [outcome for outcome in outcomes if not outcome.ok]
    for outcome in failed:
        warn(f"{outcome.instance_id}: not applied ({outcome.status})")
    info(f"eniplan: apply: {len(outcomes) - len(failed)} of {len(outcomes)} instance(s) applied")
    if failed:  # some applied: partial; none: a failure
        sys.exit(EXIT_PARTIAL if len(failed) < len(outcomes) else EXIT_FINDINGS)


@cli.command("terraform-module")
@click.option(
    "-o",
    "--output",
    "output_dir",
    required=True,
    metavar="DIR",
    help="Directory to write the module's files into (created if needed).",
)
def terraform_module(output_dir: str) -> None:
    """Write the Terraform module eni-policy-routing (shipped inside eniplan) to DIR.

    The module creates ENIs with their attachments and outputs the dynamic user data. The
    same module is usable straight from the repository as a git source:
    git::https://github.com/OWNER/eniplan.git//terraform/modules/eni-policy-routing?ref=REF

    \b
    Examples:
      eniplan terraform-module -o modules/eni-policy-routing
      # then in Terraform:  module "eni_routing" { source = "./modules/eni-policy-routing" ... }
    """
    from eniplan.tfmodule import write_module

    for path in write_module(output_dir):
        info(f"wrote {path}")


def _quiet_after_the_command(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().params["quiet"] = True  # what _quiet() reads


# `eniplan collect -q ...` as well as `eniplan -q collect ...`
for _command in cli.commands.values():
    _command.params.append(
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_quiet_after_the_command,
            help="Same as 'eniplan -q': no progress display, no informational lines.",
        )
    )


def main(argv: list[str] | None = None) -> None:
    global _RUN
    _RUN = _Run()
    _rejected.clear()
    code = _main(argv)
    if _rejected and code in (EXIT_OK, EXIT_FINDINGS):
        code = EXIT_PARTIAL  # each record left out is named above
    if _RUN.lost and not _RUN.allow_partial and code in (EXIT_OK, EXIT_FINDINGS):
        if sys.stderr.closed:  # the pipe was closed (`| head`)
            sys.exit(EXIT_PARTIAL)
        click.echo(
            f"eniplan: partial: {len(_RUN.lost)} account(s), region(s) or instance(s) could "
            f"not be read (above): exit {EXIT_PARTIAL}; --allow-partial accepts a partial run",
            err=True,
        )
        code = EXIT_PARTIAL
    if code:
        sys.exit(code)


def _interrupted() -> int:
    """Ctrl-C: say so and end now. Worker threads may sit in a network read until their
    timeout; the interpreter would wait for them at exit, so the process leaves at once."""
    click.echo("eniplan: interrupted", err=True)
    if threading.active_count() > 1:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(EXIT_INTERRUPTED)
    return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    """Run the command line; the exit code (errors as one line on stderr)."""
    try:
        cli.main(args=argv, prog_name="eniplan", standalone_mode=False)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_INTERNAL
    except InputError as error:
        click.echo(f"eniplan: error: {visible(str(error))}", err=True)
        return EXIT_USAGE
    except (click.exceptions.Abort, KeyboardInterrupt):
        return _interrupted()
    except click.ClickException as error:
        hint = ""
        if isinstance(error, click.UsageError) and error.ctx is not None:
            hint = f" (see '{error.ctx.command_path} --help')"
        click.echo(f"eniplan: error: {visible(error.format_message())}{hint}", err=True)
        return EXIT_USAGE
    except BrokenPipeError:
        sys.stderr.close()  # `eniplan ... | head`: not an error
        return EXIT_OK
    except Exception as error:  # a bug: one line unless asked for the traceback
        if os.environ.get("ENIPLAN_DEBUG"):
            raise
        click.echo(
            f"eniplan: internal error: {type(error).__name__}: {visible(str(error))} "
            "(a bug: please report it; ENIPLAN_DEBUG=1 shows the traceback)",
            err=True,
        )
        return EXIT_INTERNAL
    return EXIT_OK
