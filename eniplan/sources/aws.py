"""The live AWS source: read-only Describe* calls, in pages, concurrently.

Per account and region it makes ceil(n/page) calls per API and never one per instance:
describe_instances, describe_network_interfaces and describe_subnets in pages of 1000 (the
API maximum), describe_route_tables in pages of 100 (its maximum), and describe_images only
for the AMIs in use, in batches. The one per-instance call is
describe_instance_attribute(userData), made only for instances with two or more ENIs (the
audit reads their user data) and concurrently, USER_DATA_WORKERS at a time per region.
Accounts (one assumed role each) and regions are fetched concurrently, and so are the four
list calls inside a region. A region or account that
fails becomes a FetchProblem; the others stand.

Time is bounded: every request has connect and read timeouts, and every account and region
a deadline (AwsOptions.timeout): once it has passed no request or retry starts, so a
black-holed region costs about the deadline, not attempts x read timeout. Each problem is
passed to `on_problem` when it happens, and `progress` names the regions still running.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions
import botocore.loaders
from botocore.client import BaseClient
from botocore.config import Config

from eniplan import values
from eniplan.errors import InputError
from eniplan.model import FetchProblem
from eniplan.sources.awsoptions import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    ProblemCallback,
)
from eniplan.sources.awsoptions import AwsOptions as AwsOptions  # re-exported
from eniplan.sources.awsoptions import ProgressCallback as ProgressCallback
from eniplan.sources.collection import Collection, Shape, Shapes

# The largest page each API accepts (MaxResults).
PAGE_SIZE = {
    "describe_instances": 1000,
    "describe_network_interfaces": 1000,
    "describe_subnets": 1000,
    "describe_route_tables": 100,
}
IMAGE_BATCH = FILTER_VALUES_MAX = 200  # values one EC2 filter accepts: image IDs per call
RETRY_ATTEMPTS = 10  # unless the user set AWS_MAX_ATTEMPTS
USER_DATA_WORKERS = 8  # concurrent describe_instance_attribute calls per region
# The list calls that run side by side inside one region.
_LISTS = (
    ("Reservations", "describe_instances"),
    ("NetworkInterfaces", "describe_network_interfaces"),
    ("Subnets", "describe_subnets"),
    ("RouteTables", "describe_route_tables"),
)

_AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


class DeadlineExceeded(botocore.exceptions.BotoCoreError):
    """Raised before a request (or a retry) that would start after the deadline. Not an
    HTTP error, so botocore does not retry it: the call fails at once."""

    fmt = "no answer within the {seconds:g} s deadline (--timeout)"


def _deadline_hook(client: BaseClient, seconds: float) -> None:
    """Refuse every request of `client` that would start `seconds` from now or later."""
    deadline = time.monotonic() + seconds

    def check(**_: Any) -> None:
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(seconds=seconds)

    client.meta.events.register("before-send", check)


ClientHook = Callable[[BaseClient], None]


@dataclass
class _Account:
    label: str  # what the user named: the role ARN, the profile, or "default credentials"
    account_id: str
    session: boto3.Session
    lock: threading.Lock  # boto3 sessions are not thread-safe when creating clients
    # an assumed role's keys (aws_access_key_id, ...), else the session's own credentials
    credentials: dict[str, str] = field(default_factory=dict)


class AwsCollector:
    """Collects the shapes of every requested account and region."""

    def __init__(
        self,
        options: AwsOptions,
        *,
        progress: ProgressCallback | None = None,
        client_hook: ClientHook | None = None,
        session: boto3.Session | None = None,
        on_problem: ProblemCallback | None = None,
    ) -> None:
        self.options = options
        self._session = session  # a ready session (the sandbox's); else the profile's
        self.progress = progress
        self.client_hook = client_hook
        self.on_problem = on_problem
        self._running: dict[str, None] = {}  # regions being read, in start order
        self._done = self._total = 0
        self._lock = threading.Lock()
        if session is None and options.endpoint_url is None:
            _check_endpoint_environment()
        self._config = Config(
            # Throttling is retried by botocore; adaptive mode also slows the client down.
            retries=_retry_settings(),
            max_pool_connections=max(10, options.workers),
            user_agent_extra="eniplan",
            connect_timeout=min(CONNECT_TIMEOUT, options.timeout),
            read_timeout=min(READ_TIMEOUT, options.timeout),
        )

    # -- sessions and accounts ----------------------------------------------------------

    def _base_session(self) -> boto3.Session:
        if self._session is not None:
            return self._session
        try:
            # AWS CLI v2's order: AWS_REGION, then AWS_DEFAULT_REGION, then the profile's
            # (botocore itself reads only the last two).
            region = os.environ.get("AWS_REGION") or None
            return boto3.Session(profile_name=self.options.profile, region_name=region)
        except botocore.exceptions.ProfileNotFound as error:
            raise InputError(f"--profile: {error}") from None
        except botocore.exceptions.BotoCoreError as error:  # e.g. an unparsable config file
            raise InputError(f"AWS configuration: {error}") from None

    def _client(self, account: _Account, service: str, region: str) -> Any:
        """A client whose requests stop starting once the deadline (from now) has passed."""
        with account.lock:
            client = account.session.client(  # type: ignore[call-overload]
                service,
                region_name=region,
                endpoint_url=self.options.endpoint_url,
                config=self._config,
                **account.credentials,
            )
        _deadline_hook(client, self.options.timeout)
        if self.client_hook:
            self.client_hook(client)
        return client

    def _base_account(self) -> _Account:
        """The caller's own account (its ID asked of STS only when it is read itself)."""
        base = self._base_session()
        return _Account(self.options.profile or "default credentials", "", base, threading.Lock())

    def _identify(self, account: _Account, home: str) -> None:
        sts = self._client(account, "sts", home)
        try:
            account.account_id = sts.get_caller_identity()["Account"]
        except botocore.exceptions.NoCredentialsError:
            raise InputError(
                "no AWS credentials found: configure them (aws configure, AWS_PROFILE, "
                "--profile) or use --sandbox or --inventory"
            ) from None
        except botocore.exceptions.BotoCoreError as error:
            raise InputError(f"cannot reach AWS STS: {error}") from None
        except botocore.exceptions.ClientError as error:
            raise InputError(f"AWS STS refused the credentials: {_describe(error)}") from None

    def _roles(self, base: _Account, home: str) -> tuple[list[str], list[FetchProblem]]:
        """The role ARNs to assume, one per account: --role-arn, or --org-role in each
        member account of the organization (sources/organization.py)."""
        if self.options.org_role is None:
            return list(self.options.role_arns), []
        from eniplan.sources import organization

        client = self._client(base, "organizations", home)
        members, skipped = organization.members(client, self.options)
        problems = [FetchProblem("organization", "", "Unusable", line) for line in skipped]
        if not members:
            raise InputError(
                "--org-role: the organization has no ACTIVE account to read"
                + (" under --org-ou" if self.options.org_ous else "")
                + (" once --exclude-account is left out" if self.options.exclude_accounts else "")
            )
        return [member.role_arn for member in members], problems

    def _open(self, base: _Account, arn: str | None, home: str) -> tuple[_Account, list[str]]:
        """An account ready to read (the role assumed, unless `arn` is None) and its
        regions: one job of the pool, so accounts open while others are being read."""
        account = base if arn is None else self._assume(base, arn, home)
        return account, self._regions_of(account, home)

    def _assume(self, base: _Account, arn: str, home: str) -> _Account:
        sts = self._client(base, "sts", home)
        credentials = sts.assume_role(RoleArn=arn, RoleSessionName="eniplan")["Credentials"]
        # The caller's session with the role's credentials: its service models and client
        # classes are made once per run, not once per account (a new session costs tenths
        # of a second, hundreds of accounts).
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
        return _Account(arn, values.account_of_role_arn(arn), base.session, base.lock, keys)

    def _regions_of(self, account: _Account, home: str) -> list[str]:
        if not self.options.all_regions:
            return list(self.options.regions) or [home]
        ec2 = self._client(account, "ec2", home)
        enabled = ["opt-in-not-required", "opted-in"]
        answer = ec2.describe_regions(Filters=[{"Name": "opt-in-status", "Values": enabled}])
        # Filter again here: some emulators (moto) ignore the server-side filter.
        return sorted(
            region["RegionName"]
            for region in answer["Regions"]
            if region.get("OptInStatus", "opt-in-not-required") in enabled
        )

    def home_region(self) -> str:
        """The region for account-level calls (STS, describe_regions)."""
        if self.options.regions:
            return self.options.regions[0]
        region = self._base_session().region_name
        if region:
            try:
                return values.region_name(region)
            except ValueError as error:
                origin = (
                    "AWS_REGION"
                    if os.environ.get("AWS_REGION")
                    else "the region of the AWS configuration (AWS_DEFAULT_REGION or the profile)"
                )
                raise InputError(f"{origin}: {error}") from None
        if self.options.all_regions:
            return "us-east-1"
        raise InputError(
            "no region: pass --region (repeatable) or --all-regions, or set AWS_REGION "
            "(or AWS_DEFAULT_REGION) or a region in your AWS profile"
        )

    # -- the collection -----------------------------------------------------------------

    def _problem(self, collection: Collection, problem: FetchProblem) -> None:
        collection.problems.append(problem)
        if self.on_problem:
            self.on_problem(problem)

    def _report_progress(self) -> None:
        if not self.progress:
            return
        with self._lock:
            running = list(self._running)
            done, total = self._done, self._total
        shown = ", ".join(running[:3]) + (f" +{len(running) - 3}" if len(running) > 3 else "")
        self.progress(done, total, f"running: {shown}" if running else "")

    def _timed_region(self, account: _Account, region: str) -> Shapes:
        """_region, with the region shown as running while it is."""
        label = f"{account.account_id} {region}"
        with self._lock:
            self._running[label] = None
        self._report_progress()
        try:
            return self._region(account, region)
        finally:
            with self._lock:
                self._running.pop(label, None)
                self._done += 1
            self._report_progress()

    def collect(self) -> Collection:
        """Every account and region. An interrupt (Ctrl-C) leaves at once: the pool is not
        waited for (its threads may sit in a network read until their timeout)."""
        home = self.home_region()
        collection = Collection()
        pool = ThreadPoolExecutor(max_workers=self.options.workers)
        try:
            self._collect(pool, home, collection)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        # Completion order is random: keep outputs stable.
        collection.shapes.sort(key=lambda shapes: (shapes.account_id or "", shapes.region or ""))
        collection.problems.sort(key=lambda problem: (problem.account, problem.region))
        if not collection.shapes and collection.problems:
            first = collection.problems[0].describe()
            raise InputError(f"no account or region could be read (first error: {first})")
        return collection

    def _collect(self, pool: ThreadPoolExecutor, home: str, collection: Collection) -> None:
        base = self._base_account()
        roles, problems = self._roles(base, home)
        for problem in problems:
            self._problem(collection, problem)
        if not roles:
            self._identify(base, home)
        # Each account opens (assume its role, list its regions) in the pool; its regions
        # are queued as soon as it has, while other accounts are still opening. Each region
        # job opens its own small pool for its four list calls, so the outer pool never
        # waits on itself.
        accounts: list[str | None] = [*roles] if roles else [None]  # None: the caller's own
        openings = {pool.submit(self._open, base, arn, home): arn or base.label for arn in accounts}
        jobs: dict[Future[Shapes], tuple[_Account, str]] = {}
        for opening in as_completed(openings):
            try:
                account, regions = opening.result()
            except botocore.exceptions.NoCredentialsError:
                raise InputError(
                    "no AWS credentials found to assume --role-arn or --org-role with: "
                    "configure them or use --profile"
                ) from None
            except _AWS_ERRORS as error:
                self._problem(
                    collection, FetchProblem(openings[opening], "", _code(error), _describe(error))
                )
                continue
            with self._lock:
                self._total += len(regions)
            for region in regions:
                jobs[pool.submit(self._timed_region, account, region)] = (account, region)

        for future in as_completed(jobs):
            account, region = jobs[future]
            try:
                shapes = future.result()
                collection.shapes.append(shapes)
                for problem in shapes.problems:
                    self._problem(collection, problem)
                shapes.problems.clear()
            except _AWS_ERRORS as error:
                self._problem(
                    collection,
                    FetchProblem(account.account_id, region, _code(error), _describe(error)),
                )

    def _region(self, account: _Account, region: str) -> Shapes:
        ec2 = self._client(account, "ec2", region)
        with ThreadPoolExecutor(max_workers=len(_LISTS)) as pool:
            futures = {
                key: pool.submit(self._pages, ec2, operation, key, self._filters(operation))
                for key, operation in _LISTS
            }
            lists = {key: future.result() for key, future in futures.items()}
        image_ids = sorted(
            {
                instance["ImageId"]
                for reservation in lists["Reservations"]
                for instance in reservation.get("Instances", [])
                if isinstance(instance.get("ImageId"), str)
            }
        )
        lists["Images"] = self._images(ec2, image_ids)
        lists["InstanceUserData"], problem = self._user_data(ec2, lists["Reservations"])
        shapes = Shapes(f"aws {account.account_id} {region}", account.account_id, region, lists)
        if problem is not None:
            shapes.problems.append(FetchProblem(account.account_id, region, *problem))
        return shapes

    @staticmethod
    def _user_data(
        ec2: Any, reservations: list[Shape]
    ) -> tuple[list[Shape], tuple[str, str] | None]:
        """describe_instance_attribute(userData) of every instance with two or more ENIs,
        concurrently. An instance whose call fails is left out (its user data is then
        unknown) and the failures become one problem for the region."""
        wanted = sorted(
            {
                instance["InstanceId"]
                for reservation in reservations
                for instance in reservation.get("Instances", [])
                if isinstance(instance.get("InstanceId"), str)
                and isinstance(instance.get("NetworkInterfaces"), list)
                and len(instance["NetworkInterfaces"]) >= 2
            }
        )
        if not wanted:
            return [], None

        def fetch(instance_id: str) -> Shape:
            answer = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
            return {"InstanceId": instance_id, "UserData": answer.get("UserData") or {}}

        found: list[Shape] = []
        failures: list[Exception] = []
        with ThreadPoolExecutor(max_workers=min(USER_DATA_WORKERS, len(wanted))) as pool:
            for future in [pool.submit(fetch, instance_id) for instance_id in wanted]:
                try:
                    found.append(future.result())
                except _AWS_ERRORS as error:
                    if _code(error) != "InvalidInstanceID.NotFound":  # terminated meanwhile
                        failures.append(error)
        if not failures:
            return found, None
        first = failures[0]
        return found, (
            _code(first),
            f"describe_instance_attribute(userData) failed for {len(failures)} of "
            f"{len(wanted)} multi-ENI instances, whose user data is then unknown: "
            f"{_describe(first)}",
        )

    def _filters(self, operation: str) -> list[dict[str, Any]]:
        """Server-side selection for describe_instances; the inventory filters again."""
        if operation != "describe_instances":
            return []
        filters: list[dict[str, Any]] = []
        ids = self.options.instance_ids
        if ids and len(ids) <= FILTER_VALUES_MAX:
            filters.append({"Name": "instance-id", "Values": list(ids)})
        for key, value in self.options.tags:
            filters.append({"Name": f"tag:{key}", "Values": [value]})
        return filters

    @staticmethod
    def _pages(ec2: Any, operation: str, key: str, filters: list[dict[str, Any]]) -> list[Shape]:
        paginator = ec2.get_paginator(operation)
        kwargs: dict[str, Any] = {"PaginationConfig": {"PageSize": PAGE_SIZE[operation]}}
        if filters:
            kwargs["Filters"] = filters
        items: list[Shape] = []
        for page in paginator.paginate(**kwargs):
            items.extend(page.get(key, []))
        return items

    @staticmethod
    def _images(ec2: Any, image_ids: Sequence[str]) -> list[Shape]:
        images: list[Shape] = []
        for batch in _batches(image_ids, IMAGE_BATCH):
            # A filter, not ImageIds: one unknown or no-longer-shared AMI would fail the whole
            # call (InvalidAMIID.NotFound); filtered, it is simply absent and the inventory
            # reports it as unknown.
            answer = ec2.describe_images(
                Filters=[{"Name": "image-id", "Values": list(batch)}], IncludeDeprecated=True
            )
            images.extend(answer.get("Images", []))
        return images


RETRY_MODES = ("legacy", "standard", "adaptive")
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_STS")


def _check_endpoint_environment() -> None:
    """The endpoint variables botocore reads, checked here rather than in botocore's
    ValueError halfway through the collection."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return
    for name in ENDPOINT_VARIABLES:
        value = os.environ.get(name)
        if value:
            try:
                values.endpoint_url(value)
            except ValueError as error:
                raise InputError(f"{name}: {error}") from None


def _retry_settings() -> Any:
    """Adaptive retries for throttling; the standard AWS_MAX_ATTEMPTS / AWS_RETRY_MODE win."""
    mode = os.environ.get("AWS_RETRY_MODE") or "adaptive"
    if mode not in RETRY_MODES:
        raise InputError(f"AWS_RETRY_MODE: {mode!r} is not one of {', '.join(RETRY_MODES)}")
    settings: dict[str, Any] = {"mode": mode}
    attempts = os.environ.get("AWS_MAX_ATTEMPTS")
    if not attempts:
        settings["max_attempts"] = RETRY_ATTEMPTS
    elif not (attempts.isascii() and attempts.isdigit()) or not 0 < int(attempts) <= 1000:
        raise InputError(f"AWS_MAX_ATTEMPTS: {attempts!r} is not a number from 1 to 1000")
    return settings


def _batches(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _code(error: Exception) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


def _describe(error: Exception) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        message = error.response.get("Error", {}).get("Message", "") or str(error)
        return " ".join(str(message).split())
    return " ".join(str(error).split())


def known_regions() -> set[str]:
    """Every EC2 region this botocore knows, in every partition."""
    # Read botocore's endpoint data directly: a session would read the (maybe broken)
    # profile, and the sandbox and file sources must not depend on it.
    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    return {
        region
        for partition in endpoints.get("partitions", [])
        for region in partition.get("regions", {})
    }


def check_regions(regions: Iterable[str]) -> tuple[str, ...]:
    """Validate --region values: a real region name, known to botocore."""
    known = known_regions()
    checked = []
    for region in regions:
        try:
            values.region_name(region)
        except ValueError as error:
            raise InputError(f"--region: {error}") from None
        if region not in known:
            raise InputError(
                f"--region: {region!r} is not an AWS region this botocore knows "
                f"(for example: {', '.join(sorted(known)[:4])}, ...)"
            )
        checked.append(region)
    return tuple(dict.fromkeys(checked))


def collect(
    options: AwsOptions,
    *,
    progress: ProgressCallback | None = None,
    client_hook: ClientHook | None = None,
) -> Collection:
    return AwsCollector(options, progress=progress, client_hook=client_hook).collect()
