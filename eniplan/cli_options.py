"""The command line's option groups (pip-audit's and hatch's shape): each is a decorator
that declares a group of click options and hands the command one typed, frozen value built
from them, so a command body only puts values together and calls the core.

    @inventory_options      -> inventory: InventoryRequest   (eniplan/inventory)
    @plan_options           -> plan: PlanOptions             (eniplan/plan)
    @report_options(...)    -> outputs: Outputs              (eniplan/report)
    @baseline_options       -> baseline: BaselineFiles       (eniplan/baseline)

Values are checked here as they are turned into those types (a bad one is one line on
stderr, exit 2); the core decides everything else. Start-up imports only what the
declarations need: the builders import their types when the command runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import click

from eniplan import values
from eniplan.cli_io import EXIT_PARTIAL
from eniplan.errors import InputError
from eniplan.fileio import STDOUT
from eniplan.findings import FAIL_ON_CHOICES
from eniplan.inventory import DEFAULT_SCENARIO, InventoryRequest
from eniplan.plancore import DEFAULT_TABLE_BASE
from eniplan.report import FORMATS as REPORT_FORMATS
from eniplan.sources.awsoptions import DEFAULT_TIMEOUT, DEFAULT_WORKERS, AwsOptions

F = TypeVar("F", bound=Callable[..., Any])


class Decorator(Protocol):
    """A command decorator: the command back, with options declared on it."""

    def __call__(self, command: F, /) -> F: ...


def option_group(
    options: Sequence[Callable[[Any], Any]], into: str, build: Callable[..., Any]
) -> Decorator:
    """Declare `options` on a command and give it, in place of their values, the one
    parameter `into` = build(**their values)."""
    names: list[str] = []
    for option in options:  # the parameter names the options declare
        declared: list[click.Parameter] = []
        option(_Collect(declared))
        names.extend(str(parameter.name) for parameter in declared if parameter.expose_value)

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def with_group(**params: Any) -> Any:
            try:
                params[into] = build(**{name: params.pop(name) for name in names})
            except InputError as error:
                raise from_config(error, names) from None
            return command(**params)

        for option in reversed(options):
            with_group = option(with_group)
        return with_group  # type: ignore[return-value]

    return decorate


CONFIG_META = "eniplan.config"  # the .eniplan.yaml of the run's defaults (cli.cli sets it)


def from_config(error: InputError, parameters: Sequence[str]) -> InputError:
    """`error` about an option (`--table-base: ...`) whose value came from .eniplan.yaml,
    naming the file and key instead, as the file's other errors do (config.py)."""
    from click.core import ParameterSource

    context = click.get_current_context(silent=True)
    config = context.find_root().meta.get(CONFIG_META) if context is not None else None
    if context is None or config is None:
        return error
    message = str(error)
    for param in context.command.params:
        if param.name not in parameters or (
            context.get_parameter_source(str(param.name)) is not ParameterSource.DEFAULT_MAP
        ):
            continue
        key = next((opt[2:] for opt in param.opts if opt.startswith("--")), str(param.name))
        for opt in param.opts:
            if message.startswith((f"{opt}:", f"{opt} ")):
                return InputError(f"{config}: {key}: {message[len(opt) :].lstrip(': ')}")
    return error


class _Collect:
    """A stand-in command that only records the parameters an option decorator adds."""

    def __init__(self, into: list[click.Parameter]) -> None:
        self.__click_params__ = into


# --- -o ---------------------------------------------------------------------------------

# What --format takes somewhere: `-o json` means the format, never a file named json.
FORMAT_NAMES = frozenset({*REPORT_FORMATS, "text", "yaml", "xml", "html", "csv"})


def output_path(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Check -o values (one, or a tuple when repeatable): `-` is standard output; a format
    name is refused."""
    for path in value if isinstance(value, tuple) else (value,):
        if path is None or path == STDOUT or path.lower() not in FORMAT_NAMES:
            continue
        has_format = any(p.name == "output_format" for p in ctx.command.params)
        choose = f"pass --format {path.lower()}" if has_format else "--format chooses formats"
        error = InputError(
            f"-o {path}: {path!r} is a format name, not an output path: {choose} "
            f"(a file or directory named so: -o ./{path})"
        )
        raise from_config(error, (str(param.name),))
    return value


def directory_path(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Check an -o that only takes a directory: not `-` (several files cannot go to
    standard output), not a format name (output_path)."""
    if value == STDOUT:
        raise InputError(
            "-o -: this command writes several files, not one stream: give a directory "
            "(a directory named '-': -o ./-)"
        )
    return output_path(ctx, param, value)


# --- inventory: where the instances come from and which ----------------------------------


class Seconds(click.FloatRange):
    """A number of seconds in a range; NaN refused (no comparison holds for it, so the
    range alone lets it through, and a deadline of NaN never comes)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return number


def _parse_tag(value: str) -> tuple[str, str]:
    key, sep, tag = value.partition("=")
    if not sep:
        raise InputError(f"--tag: {value!r} is not KEY=VALUE")
    try:
        return values.tag_key(key), values.tag_value(tag)
    except ValueError as error:
        raise InputError(f"--tag: {error}") from None


def _checked(option: str, check: Callable[[Any], str], items: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return tuple(check(item) for item in items)
    except ValueError as error:
        raise InputError(f"{option}: {error}") from None


def _one(option: str, check: Callable[[Any], str], item: str | None) -> str | None:
    return None if item is None else _checked(option, check, (item,))[0]


def _regions(regions: tuple[str, ...]) -> tuple[str, ...]:
    if not regions:
        return ()
    from eniplan.sources.aws import check_regions  # botocore knows the region names

    return check_regions(regions)


# AWS-only options: a default for them from .eniplan.yaml gives way to --inventory/--sandbox
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


def _inventory_request(**params: Any) -> InventoryRequest:
    _drop_configured_aws_options(params)
    return InventoryRequest(
        aws=AwsOptions(
            profile=params["profile"],
            regions=_regions(params["regions"]),
            all_regions=params["all_regions"],
            role_arns=_checked("--role-arn", values.role_arn, params["role_arns"]),
            org_role=_one("--org-role", values.role_name, params["org_role"] or None),
            org_ous=_checked("--org-ou", values.org_parent, params["org_ous"]),
            exclude_accounts=_checked(
                "--exclude-account", values.account_id, params["exclude_accounts"]
            ),
            endpoint_url=_one("--endpoint-url", values.endpoint_url, params["endpoint_url"]),
            instance_ids=_checked(
                "--instance-id", lambda v: values.resource_id("i", v), params["instance_ids"]
            ),
            tags=tuple(_parse_tag(tag) for tag in params["tags"]),
            workers=params["workers"],
            timeout=params["timeout"],
        ),
        inventory_paths=params["inventory_paths"],
        sandbox=params["sandbox"],
        allow_partial=params["allow_partial"],
    )  # option mixes are refused where it is read (InventoryRequest.check)


inventory_options = option_group(
    [
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
            type=Seconds(1, 3600),
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
    ],
    into="inventory",
    build=_inventory_request,
)


# --- plan: the planning options shared by plan, render, audit, lab and apply -------------


def _plan_options(table_base: int, no_guard: bool, force: bool) -> Any:
    from eniplan.plan import PlanOptions, check_table_base

    return PlanOptions(table_base=check_table_base(table_base), guard=not no_guard, force=force)


plan_options = option_group(
    [
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
    ],
    into="plan",
    build=_plan_options,
)


# --- report: --format, -o and --fail-on of every command that reports findings ----------


def report_options(formats: Sequence[str], several: bool = False) -> Decorator:
    """With `several`, --format and -o repeat and pair up in order (`report.pair_outputs`)."""
    names = ", ".join(name for name in formats if name != "table")

    def build(output_format: Any, fail_on: str, output: Any) -> Any:
        from eniplan.report import Outputs, pair_outputs

        if several:
            return Outputs(tuple(pair_outputs(output_format, output)), fail_on)
        return Outputs(((output_format, None if output == STDOUT else output),), fail_on)

    return option_group(
        [
            click.option(
                "--format",
                "output_format",
                type=click.Choice(list(formats)),
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
                callback=output_path,
                multiple=several,
                default=() if several else None,
                help="Write the report to FILE (atomically) instead of stdout ('-': stdout)."
                + (" Repeatable, one per --format." if several else ""),
            ),
        ],
        into="outputs",
        build=build,
    )


# --- baseline: --baseline and --write-baseline (audit, check-plan) -----------------------


def _baseline_files(baseline: str | None, write_baseline: str | None) -> Any:
    from eniplan.baseline import BaselineFiles

    return BaselineFiles(read=baseline, write=write_baseline)


baseline_options = option_group(
    [
        click.option(
            "--baseline",
            metavar="FILE",
            type=click.Path(dir_okay=False),
            envvar="ENIPLAN_BASELINE",
            show_envvar=True,
            help="Waive the findings recorded in FILE (by fingerprint) unless their entry expired.",
        ),
        click.option(
            "--write-baseline",
            metavar="FILE",
            type=click.Path(dir_okay=False),
            help="Record every finding of this run (not waived by a tag) in FILE, keeping the "
            "reasons and expiry dates of a --baseline given too; they are then waived.",
        ),
    ],
    into="baseline",
    build=_baseline_files,
)
