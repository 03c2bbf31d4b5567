"""Where the inventory comes from: one place that picks the source the user asked for.

Every command that needs instances (collect, inspect, and later audit, plan, render, lab)
takes the same options; they arrive here as an InventoryRequest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eniplan.errors import InputError
from eniplan.sources.awsoptions import AwsOptions, ProblemCallback, ProgressCallback

if TYPE_CHECKING:  # the command line builds a request at start-up: the sources load later
    from eniplan.model import Inventory
    from eniplan.sources.collection import Collection

DEFAULT_SCENARIO = "default"  # the sandbox's scenario when --sandbox names none
# The options that only apply to reading AWS (not --inventory files nor the sandbox).
AWS_ONLY = ("--profile", "--region", "--all-regions", "--role-arn", "--org-role", "--org-ou",
            "--exclude-account", "--endpoint-url")  # fmt: skip


@dataclass(frozen=True)
class InventoryRequest:
    aws: AwsOptions
    inventory_paths: tuple[str, ...] = ()
    sandbox: str | None = None  # scenario name or file
    allow_partial: bool = False  # --allow-partial: a run that could not read all is whole

    def given(self) -> tuple[str, ...]:
        """The source and selection options given, by their command-line names."""
        return tuple(
            option
            for option, value in (
                ("--profile", self.aws.profile),
                ("--region", self.aws.regions),
                ("--all-regions", self.aws.all_regions),
                ("--role-arn", self.aws.role_arns),
                ("--org-role", self.aws.org_role),
                ("--org-ou", self.aws.org_ous),
                ("--exclude-account", self.aws.exclude_accounts),
                ("--endpoint-url", self.aws.endpoint_url),
                ("--inventory", self.inventory_paths),
                ("--sandbox", self.sandbox),
                ("--instance-id", self.aws.instance_ids),
                ("--tag", self.aws.tags),
            )
            if value not in (None, (), False)
        )

    @property
    def source(self) -> str:
        if self.sandbox is not None:
            return "sandbox"
        if self.inventory_paths:
            return "files"
        return "aws"

    def check(self) -> None:
        """Refuse option mixes that would silently ignore something."""
        aws_given = [name for name in self.given() if name in AWS_ONLY]
        if self.sandbox is not None and self.inventory_paths:
            raise InputError("--sandbox and --inventory exclude each other: choose one source")
        if self.source != "aws" and aws_given:
            chosen = "--sandbox" if self.sandbox is not None else "--inventory"
            raise InputError(f"{', '.join(aws_given)} only apply to AWS, not with {chosen}")
        if self.aws.all_regions and self.aws.regions:
            raise InputError("--region and --all-regions exclude each other")
        if self.aws.org_role and self.aws.role_arns:
            raise InputError("--org-role and --role-arn exclude each other: choose one")
        for option, given in (
            ("--org-ou", self.aws.org_ous),
            ("--exclude-account", self.aws.exclude_accounts),
        ):
            if given and not self.aws.org_role:
                raise InputError(f"{option} only applies with --org-role NAME")


def load_collection(
    request: InventoryRequest,
    progress: ProgressCallback | None = None,
    on_problem: ProblemCallback | None = None,
) -> Collection:
    """The raw shapes from the chosen source (AWS: each problem to `on_problem` as it
    happens)."""
    request.check()
    if request.sandbox is not None:
        from eniplan.sources.sandbox import sandbox_collection

        return sandbox_collection(request.sandbox)
    if request.inventory_paths:
        from eniplan.sources import s3
        from eniplan.sources.files import read_inventory_paths

        remote = [path for path in request.inventory_paths if s3.is_s3(path)]
        local = [path for path in request.inventory_paths if not s3.is_s3(path)]
        if not remote:
            return read_inventory_paths(local)
        with s3.fetched(remote) as (copies, lost):
            for problem in lost:  # listed, then not readable: said as it is known
                if on_problem:
                    on_problem(problem)
            if not local and not copies:
                first = lost[0].describe() if lost else "nothing"
                raise InputError(f"no inventory object could be read (first error: {first})")
            collection = read_inventory_paths([*local, *copies])
            collection.problems.extend(lost)
            return collection
    from eniplan.sources.aws import AwsCollector  # boto3: only when AWS is read

    return AwsCollector(request.aws, progress=progress, on_problem=on_problem).collect()


def load_inventory(
    request: InventoryRequest,
    progress: ProgressCallback | None = None,
    on_problem: ProblemCallback | None = None,
) -> Inventory:
    """The validated inventory of the chosen source, narrowed to the selected instances."""
    from eniplan.sources.shapes import build_inventory

    inventory = build_inventory(load_collection(request, progress, on_problem))
    known = {instance.instance_id for instance in inventory.instances}
    missing = [i for i in dict.fromkeys(request.aws.instance_ids) if i not in known]
    if missing:
        raise InputError(
            f"--instance-id: {', '.join(missing)} not found among the "
            f"{len(inventory.instances)} instance(s) read"
        )
    return inventory.select(request.aws.instance_ids, request.aws.tags)
