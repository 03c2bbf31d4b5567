"""The `eniplan` command line: parses options, calls the core, prints, sets the exit code.

Exit codes: 0 success; 1 findings at or above --fail-on (or a failed proof); 2 bad usage or
bad input (one line on stderr, no traceback); 3 an internal error (a bug: please report);
4 partial: records of the input left out (each named on stderr), the rest processed, or an
account, region or instance not read (--allow-partial accepts those); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

# Start-up imports only what the option declarations need: each command imports its
# machinery (boto3, moto, rich, renderers, the lab) when it runs, so `--version`, `--help`
# and check-plan stay fast (tests/tools/test_cli.py pins the list).
from eniplan import __version__
from eniplan.cli_io import (
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    RUN,
    collector_paused,
    emit_reports,
    info,
    load_context_inventory,
    load_inventory,
    say,
    stdout_console,
    warn,
    write_text,
)
from eniplan.cli_options import (
    CONFIG_META,
    baseline_options,
    directory_path,
    inventory_options,
    output_path,
    plan_options,
    report_options,
)
from eniplan.errors import InputError
from eniplan.fileio import STDOUT
from eniplan.inventory import DEFAULT_SCENARIO, InventoryRequest
from eniplan.render import MODES, PERSIST_CHOICES, TARGETS
from eniplan.report import AUDIT_ONLY
from eniplan.report import FORMATS as REPORT_FORMATS
from eniplan.terminal import visible

if TYPE_CHECKING:
    from eniplan.baseline import BaselineFiles
    from eniplan.plan import PlanOptions
    from eniplan.report import Checked, Outputs

__all__ = ["EXIT_FINDINGS", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "cli", "main"]


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

    if config is not None and Path(config).is_dir():
        raise InputError(f"--config {config}: is a directory (expected a YAML file)")
    if config is not None and not Path(config).exists():  # a pipe, /dev/null: read as files
        raise InputError(f"--config {config}: no such file")
    path = Path(config) if config is not None else find_config(Path.cwd())
    if path is not None and context.invoked_subcommand is not None:
        context.default_map = default_map(context.command, path)  # type: ignore[arg-type]
        context.meta[CONFIG_META] = str(path)  # its values' errors name it (from_config)


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
    callback=output_path,
    help="Snapshot file to write (atomically), or s3://BUCKET/KEY.json (.json.gz: gzip); "
    "'-' is standard output.",
)
def collect(output: str, inventory: InventoryRequest) -> None:
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
    from eniplan.cli_io import load_collection
    from eniplan.inventory.output import summary_line
    from eniplan.sources.files import write_snapshot

    if inventory.source == "files":
        raise InputError(
            "collect reads AWS or the sandbox; --inventory files are already offline input"
        )
    collection, read = load_collection(inventory)
    write_snapshot(collection, output)
    where = "the snapshot to stdout" if output == STDOUT else output
    info(f"wrote {where}: {len(collection.shapes)} account/region(s); {summary_line(read)}")


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
def inspect(output_format: str, multi_eni_only: bool, inventory: InventoryRequest) -> None:
    """Show instances with their ENIs, subnets, addresses and source/dest checks.

    \b
    Examples:
      eniplan inspect --sandbox
      eniplan inspect --region eu-west-1 --tag team=payments --multi-eni-only
      eniplan inspect --inventory ./aws-cli-dumps/ --format json
    """
    from eniplan.inventory.output import inventory_json, print_inventory

    read = load_inventory(inventory)
    if multi_eni_only:
        read = read.select([i.instance_id for i in read.instances if len(i.enis) > 1])
    if output_format == "json":
        click.echo(json.dumps(inventory_json(read), indent=2))
    else:
        print_inventory(stdout_console(), read)


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
def plan(output_format: str, inventory: InventoryRequest, plan: PlanOptions) -> None:
    """The per-ENI routing plan of each instance: tables, rules, routes, and what is left alone.

    \b
    Examples:
      eniplan plan --sandbox
      eniplan plan --inventory snapshot.json --instance-id i-0123456789abcdef0
      eniplan plan --region eu-west-1 --format json --table-base 20000
    """
    from eniplan.plan import plan_inventory, plan_json
    from eniplan.plan.output import print_plans

    plans = plan_inventory(load_inventory(inventory), plan)
    if output_format == "json":
        click.echo(json.dumps({"plans": [plan_json(p) for p in plans]}, indent=2))
    else:
        print_plans(stdout_console(), plans)


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
    type=click.Choice(MODES),
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
    callback=output_path,
    help="Write DIR/INSTANCE_ID/<path on the instance> (required unless one file results; "
    "'-' is standard output, for one file).",
)
def render(
    target: str,
    mode: str,
    persist: str | None,
    replace_user_data: bool,
    output_dir: str | None,
    inventory: InventoryRequest,
    plan: PlanOptions,
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
    from eniplan.render.run import RenderRequest, run

    request = RenderRequest(
        inventory,
        plan,
        target,
        mode,
        persist,
        replace_user_data,
        output_dir=None if output_dir == STDOUT else output_dir,
        terminal=sys.stdout.isatty(),
    )
    result = run(request, load_inventory)
    if result.output is not None:
        click.echo(result.output, nl=False)
    _say(result.lines)


@cli.command()
@click.argument("scenario", default=DEFAULT_SCENARIO, required=False)
def demo(scenario: str) -> None:
    """The story on a sandbox account: no AWS credentials needed.

    Seeds an in-process moto account with the classic multi-ENI cases and shows each
    instance with its ENIs and what is wrong with it.
    """
    from eniplan.demo import print_demo

    print_demo(stdout_console(), scenario)


@cli.command()
@inventory_options
@plan_options
@report_options(tuple(REPORT_FORMATS), several=True)
@baseline_options
def audit(
    inventory: InventoryRequest, plan: PlanOptions, outputs: Outputs, baseline: BaselineFiles
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
    from eniplan.audit.run import AuditRequest, run

    _own_files(outputs, baseline)
    with collector_paused():
        checked = run(AuditRequest(inventory, plan, outputs, baseline), load_inventory)
        RUN.partial(problem for problem in checked.report.problems if problem not in RUN.lost)
        _finish(checked, outputs, rich_table=True)


def _own_files(outputs: Outputs, baseline: BaselineFiles) -> None:
    """No report written over the baseline that is read or written (--baseline F
    --write-baseline F, updating it, is fine)."""
    from eniplan.report import outputs_of, refuse_shared_files

    for option, path in (("--write-baseline", baseline.write), ("--baseline", baseline.read)):
        refuse_shared_files([*outputs_of(outputs.pairs), (option, option, path)])


def _finish(checked: Checked, outputs: Outputs, rich_table: bool) -> None:
    """What a command that reports findings says: the baseline written, the warnings, the
    report in each format; exit 1 when a finding fails it."""
    for message in checked.warnings:
        warn(message)
    baseline = checked.baseline
    also = []
    if baseline is not None:
        said = f"wrote {baseline.path}: {baseline.count} finding(s) in the baseline"
        also.append((baseline.path, baseline.text, said))
    emit_reports(checked.report, outputs, rich_table, also)  # all written, or none
    if checked.report.failing:
        sys.exit(EXIT_FINDINGS)


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
    user_data_paths: tuple[str, ...],
    inventory_paths: tuple[str, ...],
    outputs: Outputs,
    baseline: BaselineFiles,
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
    from eniplan.checkplan.run import CheckPlanRequest, run

    _own_files(outputs, baseline)
    request = CheckPlanRequest(plan_files, outputs, user_data_paths, inventory_paths, baseline)
    _finish(run(request, load_context_inventory), outputs, rich_table=False)


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
    outputs: Outputs,
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
    from eniplan.doctor.output import print_diagnosis
    from eniplan.doctor.run import Captured, DoctorRequest, run

    captured = Captured(ip_addr, ip_rules, ip_routes, ip_neigh)
    result = run(DoctorRequest(captured, imds, outputs.fail_on))
    ((output_format, output),) = outputs.pairs
    if output_format == "table" and output is None:
        print_diagnosis(stdout_console(), result.diagnosis, result.report)
    else:
        write_text(result.text(output_format), output)
    if result.report.failing:
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
    help="What to apply (default iproute2; with --boot or --mode dynamic, cloud-init). "
    "Without --boot: the iproute2 script or the cloud-init user data (static, --persist "
    "script: its boot script runs as its systemd unit would; --mode dynamic: its agent reads "
    "a fake IMDS at 169.254.169.254, at boot and on ENI hotplug). With --boot also netplan, "
    "networkd and networkmanager (their files on the instance's disk before its first boot, "
    "as an image build or config management puts them) and ssm (the script 'apply --ssm' "
    "sends, run on the running OS as AWS-RunShellScript runs it). 'dynamic' is an alias of "
    "--target cloud-init --mode dynamic.",
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="static",
    show_default=True,
    help="As render's: dynamic is --target cloud-init's user data with the agent, the same "
    "for every instance.",
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
    "the one the target configures; networkd for the script and --mode dynamic).",
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
    "prepare",
    is_flag=True,
    help="With --boot: build the OS image (debootstrap from Debian's archive, the one step "
    "that needs the network) unless it is cached, and exit.",
)
@click.option(
    "--cleanup",
    "cleanup_only",
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
    prepare: bool,
    cleanup_only: bool,
    mode: str,
    output_format: str,
    verbose: bool,
    inventory: InventoryRequest,
    plan: PlanOptions,
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
      sudo eniplan lab --sandbox --tag Name=multi-subnet --target cloud-init --mode dynamic
      sudo eniplan lab --boot --prepare-image
      sudo eniplan lab --boot --sandbox --tag Name=multi-subnet --target cloud-init
    """
    from eniplan.lab import print_report, report_json
    from eniplan.lab.run import LabRequest, cleanup, notes, prepare_image, run

    request = LabRequest(inventory, plan, target, mode, boot, persist, stack, image_dir)
    if cleanup_only or prepare:  # and exit
        for line in cleanup() if cleanup_only else prepare_image(request, say):
            click.echo(line)
        return
    progress = (lambda phase: say(f"eniplan lab: {phase} done")) if verbose else None
    report = run(request, load_inventory, progress)
    if output_format == "json":
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        print_report(stdout_console(), report, verbose=verbose)
    _say((True, note) for note in notes(request))
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
    inventory: InventoryRequest,
    plan: PlanOptions,
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
    from eniplan.apply import ApplyRequest, run

    if not ssm:
        raise InputError("apply needs --ssm (SSM Run Command is how it reaches instances)")
    request = ApplyRequest(inventory, plan, yes, max_concurrency, max_errors, command_timeout)
    result = run(request, load_inventory)
    _say(result.before)
    for line in result.output:
        click.echo(line)
    _say(result.after)
    if result.failed:  # some applied: partial; none: a failure
        sys.exit(EXIT_PARTIAL if result.failed < result.sent else EXIT_FINDINGS)


def _say(lines: Iterable[tuple[bool, str]]) -> None:
    """Lines for stderr from the core: (True: only informs, --quiet drops it; text)."""
    for informs, line in lines:
        (info if informs else say)(line)


@cli.command("terraform-module")
@click.option(
    "-o",
    "--output",
    "output_dir",
    required=True,
    metavar="DIR",
    callback=directory_path,
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
        ctx.find_root().params["quiet"] = True  # what cli_io.quiet() reads


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
    RUN.reset()
    _escape_what_cannot_be_encoded()
    code = _main(argv)
    if RUN.rejected and code in (EXIT_OK, EXIT_FINDINGS):
        code = EXIT_PARTIAL  # each record left out is named above
    if RUN.lost and not RUN.allow_partial and code in (EXIT_OK, EXIT_FINDINGS):
        if sys.stderr.closed:  # the pipe was closed (`| head`)
            sys.exit(EXIT_PARTIAL)
        click.echo(
            f"eniplan: partial: {len(RUN.lost)} account(s), region(s) or instance(s) could "
            f"not be read (above): exit {EXIT_PARTIAL}; --allow-partial accepts a partial run",
            err=True,
        )
        code = EXIT_PARTIAL
    if code:
        sys.exit(code)


def _escape_what_cannot_be_encoded() -> None:
    """A standard output or error that is not UTF-8 (a Windows pipe or file: the ANSI code
    page; PYTHONIOENCODING=ascii) writes what it cannot hold as escapes (\\xe9,
    \\U0001f600): a tag's text is never a reason to stop halfway through a report."""
    import codecs

    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "utf-8"
        with contextlib.suppress(LookupError, AttributeError, ValueError, OSError):
            if codecs.lookup(encoding).name != "utf-8":
                stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]


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
    except OSError as error:
        if error.errno != errno.ENAMETOOLONG or error.filename is None:
            return _internal_error(error)
        # a path given that no file system takes: pathlib's checks (is_dir, exists) raise it
        click.echo(f"eniplan: error: {visible(str(error.filename))}: {error.strerror}", err=True)
        return EXIT_USAGE
    except Exception as error:
        return _internal_error(error)
    return EXIT_OK


def _internal_error(error: Exception) -> int:
    """A bug: one line unless asked for the traceback."""
    if os.environ.get("ENIPLAN_DEBUG"):
        raise error
    click.echo(
        f"eniplan: internal error: {type(error).__name__}: {visible(str(error))} "
        "(a bug: please report it; ENIPLAN_DEBUG=1 shows the traceback)",
        err=True,
    )
    return EXIT_INTERNAL
