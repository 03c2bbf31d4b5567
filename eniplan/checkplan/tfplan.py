"""Terraform plan JSON (`terraform show -json PLANFILE`) -> the resources check-plan needs.

Reads format_version 0.1 to 1.x. A resource instance carries what the plan knows about it
after apply (`change.after`: known values only), which of its values are unknown until
apply (`after_unknown`), and its configuration's expressions (`configuration`, found by
the module path without instance keys): constants and the references that link it to
other resources when IDs do not exist yet.

Only the resource types that check-plan looks at are kept (RELEVANT_TYPES), so a plan of
tens of thousands of resources costs little more than reading its JSON.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eniplan.errors import InputError
from eniplan.fileio import STDIN_NAME, beyond_decoder, decode_json_text, where_json_breaks

RELEVANT_TYPES = frozenset(
    {
        "aws_instance",
        "aws_network_interface",
        "aws_network_interface_attachment",
        "aws_launch_template",
        "aws_route",
        "aws_route_table",
        "aws_subnet",
        # only for the launch templates it launches (with or without a mixed instances
        # policy): a template an instance uses is still a host of its own when a group
        # launches it too
        "aws_autoscaling_group",
    }
)
# data sources kept: an AMI's name tells the OS (data.aws_ami, in prior_state or planned)
RELEVANT_DATA_TYPES = frozenset({"aws_ami"})
AMI_KEYS = frozenset({"id", "image_id", "name", "description", "platform", "platform_details"})
# The attributes check-plan reads from a resource's values (checkplan/__init__.py): the rest of each
# resource's values are dropped while the JSON is parsed, so a large plan costs little
# more memory than its text.
AFTER_KEYS = frozenset(
    {
        "ami",
        "attachment",
        "cidr_block",
        "device_index",
        "id",
        "image_id",
        "instance",
        "instance_id",
        "ipv6_addresses",
        "launch_template",
        "mixed_instances_policy",
        "network_card_index",
        "network_interface",
        "network_interface_id",
        "network_interfaces",
        "primary_network_interface",
        "primary_network_interface_id",
        "private_ip",
        "private_ip_list",
        "private_ips",
        "route",
        "secondary_private_ips",
        "source_dest_check",
        "subnet_id",
        "tags",
        "user_data",
        "user_data_base64",
    }
)
# what a resource of another type (or a data source) becomes while parsing
_SKIPPED: dict[str, Any] = {"mode": "skipped"}
_FORMAT = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
# one step of a module address: module.NAME, module.NAME[0], module.NAME["key"]
_MODULE_STEP = re.compile(r'module\.([A-Za-z_][A-Za-z0-9_-]*)(\[(?:[0-9]+|"(?:[^"\\]|\\.)*")\])?')
# a reference to a managed resource, with an optional instance key and attribute path
_RESOURCE_REF = re.compile(
    r"(?P<type>[A-Za-z_][A-Za-z0-9_-]*)\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)"
    r'(?:\[(?P<index>[0-9]+|"(?:[^"\\]|\\.)*")\])?(?P<rest>\..*)?'
)
# references that are not resources
NON_RESOURCE_PREFIXES = (
    "var",
    "local",
    "module",
    "data",
    "each",
    "count",
    "path",
    "self",
    "terraform",
)


@dataclass(frozen=True)
class Resource:
    """One resource instance of the plan."""

    address: str  # module.a[0].aws_instance.web["x"]
    module: str  # the module instance: "" (root) or module.a[0]
    module_key: str  # the module in the configuration: "" or module.a
    type: str
    name: str
    index: int | str | None
    after: Mapping[str, Any]  # known values after apply
    unknown: Mapping[str, Any]  # after_unknown: True where a value is unknown until apply
    expressions: Mapping[str, Any]  # the configuration's expressions ({} if not found)
    actions: tuple[str, ...] = ()
    # the configuration's for_each expression (what `each.key` / `each.value` come from)
    for_each: Mapping[str, Any] = field(default_factory=dict)

    @property
    def config_address(self) -> str:
        return f"{self.type}.{self.name}"


@dataclass(frozen=True)
class ModuleCall:
    """A `module` block of the configuration, by its module key (module.a.module.b)."""

    source: str
    inputs: Mapping[str, Any]  # argument -> expression, as the call writes it
    defaults: Mapping[str, Any]  # the module's variables -> {"default": ...} or {}
    outputs: Mapping[str, Any]  # output -> expression
    for_each: Mapping[str, Any] = field(default_factory=dict)  # the call's for_each expression


@dataclass(frozen=True)
class AmiSource:
    """A `data.aws_ami`: its values where the plan read it, its name filters either way."""

    address: str  # data.aws_ami.x, module.m.data.aws_ami.x
    module: str  # the module instance
    values: Mapping[str, Any]  # known values (AMI_KEYS), {} when read only at apply
    name_patterns: tuple[str, ...]  # the configuration's `name` filter values, name_regex


@dataclass(frozen=True)
class TfPlan:
    origin: str  # the file name, for messages
    format_version: str
    resources: tuple[Resource, ...]
    # module key (module.a.module.b) -> its source, as the configuration wrote it
    module_sources: Mapping[str, str] = field(default_factory=dict)
    scanned: int = 0  # resource instances in the plan, of every type
    module_calls: Mapping[str, ModuleCall] = field(default_factory=dict)
    amis: tuple[AmiSource, ...] = ()
    # the IDs of the instances the plan destroys (deleted, or replaced by new ones)
    destroyed_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ResourceRef:
    """A reference such as `aws_network_interface.b[0].id`."""

    type: str
    name: str
    index: int | str | None  # None: no key in the reference
    attribute: str  # "id", "primary_network_interface_id", ... ("" for the whole object)


def parse_resource_ref(text: str) -> ResourceRef | None:
    match = _RESOURCE_REF.fullmatch(text)
    if match is None or match["type"] in NON_RESOURCE_PREFIXES:
        return None
    return ResourceRef(
        match["type"], match["name"], _index(match["index"]), (match["rest"] or "")[1:]
    )


def _index(text: str | None) -> int | str | None:
    if text is None:
        return None
    if text.startswith('"'):
        decoded: str = json.loads(text)
        return decoded
    return int(text)


def module_steps(module_address: str) -> list[str]:
    """module.a[0].module.b["x"] -> ["module.a[0]", 'module.b["x"]']."""
    steps = []
    position = 0
    while position < len(module_address):
        match = _MODULE_STEP.match(module_address, position)
        if match is None:
            raise ValueError(f"{module_address!r} is not a module address")
        steps.append(match[0])
        position = match.end()
        if position < len(module_address):
            if module_address[position] != ".":
                raise ValueError(f"{module_address!r} is not a module address")
            position += 1
    return steps


def module_key(module_address: str) -> str:
    """module.a[0].module.b["x"] -> module.a.module.b (the module in the configuration)."""
    return ".".join(step.split("[", 1)[0] for step in module_steps(module_address))


def module_index(module_address: str) -> int | str | None:
    """module.a.module.b["x"] -> "x" (the key of the innermost module instance: what
    `count.index` / `each.key` stand for in the arguments of its call)."""
    steps = module_steps(module_address)
    if not steps or "[" not in steps[-1]:
        return None
    return _index(steps[-1].split("[", 1)[1][:-1])


def parent_module(module_address: str) -> str:
    """module.a[0].module.b -> module.a[0]; module.a -> "" (the root)."""
    return ".".join(module_steps(module_address)[:-1])


# --- reading ---------------------------------------------------------------------------


def read_plan(path: str) -> TfPlan:
    """Read and check a plan JSON file ('-': stdin)."""
    if path == "-":
        return parse_plan(sys.stdin.buffer.read(), STDIN_NAME)
    try:
        # text, not bytes: json.loads(bytes) would decode a second copy beside them
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except UnicodeDecodeError:  # UTF-16/32 (PowerShell), or not text
        with open(path, "rb") as stream:
            return parse_plan(stream.read(), path)
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    return parse_plan_text(text.removeprefix("\ufeff"), path)


def _binary_plan(origin: str) -> InputError:
    return InputError(
        f"{origin}: a binary plan file, not JSON: run `terraform show -json PLANFILE > "
        "plan.json` and check that"
    )


def parse_plan(data: bytes, origin: str) -> TfPlan:
    if data.startswith(b"PK\x03\x04"):
        raise _binary_plan(origin)
    try:
        text = decode_json_text(data, origin)
    except InputError:
        raise InputError(
            f"{origin}: not JSON text (not UTF-8, nor UTF-16/32 with a byte order mark)"
        ) from None
    del data
    return parse_plan_text(text, origin)


WRAPPER_FIX = (
    "set `terraform_wrapper: false` in the hashicorp/setup-terraform step, or run "
    "`terraform show -json` with the wrapper off"
)


def strip_wrapper(text: str, origin: str) -> str:
    """The JSON inside the output of hashicorp/setup-terraform's wrapper: a first line
    `[command].../terraform-bin show -json ...`, then the JSON, then workflow commands
    (`::debug::...`, `::set-output ...`)."""
    first, _, rest = text.partition("\n")
    if "terraform" not in first:
        raise InputError(f"{origin}: not JSON: it starts with {first[:60]!r}")
    lines = rest.rstrip().split("\n")
    while lines and (lines[-1].startswith("::") or not lines[-1].strip()):
        lines.pop()
    body = "\n".join(lines).strip()
    if not body.startswith("{") or not body.endswith("}"):
        raise InputError(
            f"{origin}: the output of hashicorp/setup-terraform's wrapper, without plan JSON "
            f"in it: {WRAPPER_FIX}"
        )
    return body


def _trimmed(values: Any, keys: frozenset[str] = AFTER_KEYS) -> Any:
    if isinstance(values, dict):
        return {key: value for key, value in values.items() if key in keys}
    return values


def _slim(obj: dict[str, Any]) -> Any:
    """json object_hook: resources of other types become _SKIPPED, and the values of the
    others keep only AFTER_KEYS (every other object passes unchanged)."""
    if "mode" not in obj or "type" not in obj:
        return obj
    kind = obj["type"]
    if not isinstance(kind, str) or not isinstance(obj["mode"], str):
        return obj
    keys: frozenset[str] | None = None
    if obj["mode"] == "managed" and kind in RELEVANT_TYPES:
        keys = AFTER_KEYS
    elif obj["mode"] == "data" and kind in RELEVANT_DATA_TYPES:
        keys = AMI_KEYS
    if "change" in obj:
        if keys is None:
            return _SKIPPED
        change = obj["change"]
        if isinstance(change, dict):
            before = change.get("before")
            obj["change"] = {
                "actions": change.get("actions"),
                # what the resource is now: its ID only (an instance the plan destroys)
                "before": {"id": before.get("id")} if isinstance(before, dict) else None,
                "after": _trimmed(change.get("after"), keys),
                "after_unknown": _trimmed(change.get("after_unknown"), keys),
            }
    elif "values" in obj:  # planned_values and prior_state
        if keys is None:
            return _SKIPPED
        obj["values"] = _trimmed(obj["values"], keys)
    return obj


def parse_plan_text(text: str, origin: str) -> TfPlan:
    if not text.strip():
        raise InputError(f"{origin}: the file is empty (expected `terraform show -json` output)")
    if text.startswith("PK\x03\x04"):
        raise _binary_plan(origin)
    wrapped = text.startswith("[command]")
    if wrapped:
        text = strip_wrapper(text, origin)
    try:
        document = json.loads(text, object_hook=_slim)
    except json.JSONDecodeError as error:
        if wrapped:
            raise InputError(
                f"{origin}: the output of hashicorp/setup-terraform's wrapper, and the JSON in "
                f"it is not whole ({where_json_breaks(error)}): {WRAPPER_FIX}"
            ) from None
        # a JSON document cut short; not a file that never was JSON (binary, a bare word)
        # (a string cut short is named where it starts, and runs to the end: no newline)
        cut_string = error.msg.startswith("Unterminated string") and text.find("\n", error.pos) < 0
        ends_early = text.lstrip()[:1] in ("{", "[") and (
            cut_string or error.pos >= len(text.rstrip()) - 1
        )
        what = "truncated JSON: it ends early" if ends_early else "not JSON"
        raise InputError(f"{origin}: {what} ({where_json_breaks(error)})") from None
    except (RecursionError, ValueError) as error:
        raise InputError(f"{origin}: the JSON {beyond_decoder(error)}") from None
    del text
    return plan_from_document(document, origin)


def _check_format(document: Any, origin: str) -> str:
    if not isinstance(document, dict):
        raise InputError(
            f"{origin}: not a Terraform plan (expected a JSON object from `terraform show -json`, "
            f"got {type(document).__name__})"
        )
    version = document.get("format_version")
    if version is None:
        raise InputError(
            f"{origin}: not a Terraform plan (no format_version: expected the output of "
            "`terraform show -json PLANFILE`)"
        )
    if not isinstance(version, str):
        raise InputError(
            f'{origin}: format_version: expected a string like "1.2", got '
            f"{type(version).__name__} {version!r}"
        )
    match = _FORMAT.fullmatch(version)
    if match is None or not ((match[1] == "0" and int(match[2]) >= 1) or match[1] == "1"):
        raise InputError(
            f"{origin}: format_version {version!r} is not supported (expected 0.1 to 1.x, "
            "the plan JSON of Terraform 0.12 and newer)"
        )
    if "planned_values" not in document and "resource_changes" not in document:
        if "values" in document:
            raise InputError(
                f"{origin}: Terraform state, not a plan (run `terraform show -json PLANFILE` "
                "on a saved plan)"
            )
        raise InputError(f"{origin}: not a Terraform plan (no planned_values or resource_changes)")
    return str(version)


def _object(value: Any, origin: str, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{origin}: {where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, origin: str, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{origin}: {where}: expected a list, got {type(value).__name__}")
    return value


def _type(resource: dict[str, Any], origin: str, where: str) -> str | None:
    """The resource's `type`, a string (None when absent)."""
    kind = resource.get("type")
    if kind is not None and not isinstance(kind, str):
        raise InputError(f"{origin}: {where}.type: expected a string, got {type(kind).__name__}")
    return kind


def _name_patterns(expressions: Mapping[str, Any]) -> tuple[str, ...]:
    """A data.aws_ami's `name` filter values and `name_regex`, where constants."""
    patterns: list[str] = []
    filters = expressions.get("filter")
    for item in filters if isinstance(filters, list) else []:
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        values = item.get("values")
        if isinstance(name, dict) and name.get("constant_value") == "name":
            constant = values.get("constant_value") if isinstance(values, dict) else None
            if isinstance(constant, list):
                patterns.extend(v for v in constant if isinstance(v, str))
    regex = expressions.get("name_regex")
    if isinstance(regex, dict) and isinstance(regex.get("constant_value"), str):
        patterns.append(regex["constant_value"])
    return tuple(patterns)


def _configurations(
    document: dict[str, Any], origin: str
) -> tuple[
    dict[tuple[str, str], dict[str, Any]],
    dict[str, ModuleCall],
    dict[tuple[str, str], tuple[str, ...]],
    dict[tuple[str, str], dict[str, Any]],
]:
    """(module key, type.name) -> expressions, module key -> its call,
    (module key, data.aws_ami.name) -> the AMI name patterns of its configuration, and
    (module key, type.name) -> its for_each expression."""
    expressions: dict[tuple[str, str], dict[str, Any]] = {}
    for_each: dict[tuple[str, str], dict[str, Any]] = {}
    calls_by_key: dict[str, ModuleCall] = {}
    ami_patterns: dict[tuple[str, str], tuple[str, ...]] = {}
    configuration = _object(document.get("configuration"), origin, "configuration")
    stack: list[tuple[str, Any, str]] = [
        ("", configuration.get("root_module"), "configuration.root_module")
    ]
    while stack:
        key, module, where = stack.pop()
        module = _object(module, origin, where)
        for index, resource in enumerate(
            _list(module.get("resources"), origin, f"{where}.resources")
        ):
            place = f"{where}.resources[{index}]"
            resource = _object(resource, origin, place)
            kind = _type(resource, origin, place)
            if resource.get("mode") == "data" and kind in RELEVANT_DATA_TYPES:
                found = _object(resource.get("expressions"), origin, f"{place}.expressions")
                ami_patterns[(key, f"data.{kind}.{resource.get('name')}")] = _name_patterns(found)
                continue
            if resource.get("mode", "managed") != "managed" or kind not in RELEVANT_TYPES:
                continue
            address = f"{resource.get('type')}.{resource.get('name')}"
            expressions[(key, address)] = _object(
                resource.get("expressions"), origin, f"{place}.expressions"
            )
            if "for_each_expression" in resource:
                for_each[(key, address)] = _object(
                    resource["for_each_expression"], origin, f"{place}.for_each_expression"
                )
        calls = _object(module.get("module_calls"), origin, f"{where}.module_calls")
        for name, call in calls.items():
            place = f"{where}.module_calls.{name}"
            call = _object(call, origin, place)
            child = f"{key}.module.{name}" if key else f"module.{name}"
            source = call.get("source")
            body = _object(call.get("module"), origin, f"{place}.module")
            calls_by_key[child] = ModuleCall(
                source=source if isinstance(source, str) else "",
                inputs=_object(call.get("expressions"), origin, f"{place}.expressions"),
                defaults=_object(body.get("variables"), origin, f"{place}.module.variables"),
                outputs=_object(body.get("outputs"), origin, f"{place}.module.outputs"),
                for_each=_object(
                    call.get("for_each_expression"), origin, f"{place}.for_each_expression"
                ),
            )
            stack.append((child, body, f"{place}.module"))
    return expressions, calls_by_key, ami_patterns, for_each


def _changes(document: dict[str, Any], origin: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every managed resource instance: resource_changes (`terraform show -json` of a plan
    lists every resource instance there, a no-op too; a plan of nothing has none)."""
    for index, change in enumerate(
        _list(document.get("resource_changes", []), origin, "resource_changes")
    ):
        yield (
            _object(change, origin, f"resource_changes[{index}]"),
            f"resource_changes[{index}]",
        )


def _prior_amis(document: dict[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(address, module address, values) of the data.aws_ami that prior_state holds (read
    while planning)."""
    prior = document.get("prior_state")
    values = prior.get("values") if isinstance(prior, dict) else None
    stack = [values.get("root_module")] if isinstance(values, dict) else []
    while stack:
        module = stack.pop()
        if not isinstance(module, dict):
            continue
        resources = module.get("resources")
        for resource in resources if isinstance(resources, list) else []:
            if (
                isinstance(resource, dict)
                and resource.get("mode") == "data"
                and resource.get("type") in RELEVANT_DATA_TYPES
                and isinstance(resource.get("address"), str)
                and isinstance(resource.get("values"), dict)
            ):
                address = resource["address"]
                module_address = module.get("address")
                yield (
                    address,
                    module_address if isinstance(module_address, str) else "",
                    resource["values"],
                )
        children = module.get("child_modules")
        stack.extend(children if isinstance(children, list) else [])


def _data_key(address: str, module_address: str) -> str:
    """data.aws_ami.x (module instance keys and the resource's own key dropped)."""
    local = address[len(module_address) + 1 :] if module_address else address
    return local.split("[", 1)[0]


def plan_from_document(document: Any, origin: str) -> TfPlan:
    version = _check_format(document, origin)
    expressions, calls, ami_patterns, for_each = _configurations(document, origin)
    sources = {key: call.source for key, call in calls.items() if call.source}
    resources = []
    amis: dict[str, AmiSource] = {}

    def add_ami(address: str, module_address: str, values: Mapping[str, Any]) -> None:
        try:
            key = module_key(module_address)
        except ValueError:
            return
        patterns = ami_patterns.get((key, _data_key(address, module_address)), ())
        known = amis.get(address)
        if known is None or (not known.values and values):
            amis[address] = AmiSource(address, module_address, values, patterns)

    for prior_address, prior_module, values in _prior_amis(document):
        add_ami(prior_address, prior_module, values)
    scanned = 0
    destroyed: set[str] = set()
    for change, where in _changes(document, origin):
        scanned += 1
        type_ = _type(change, origin, where)
        if change.get("mode") == "data" and type_ in RELEVANT_DATA_TYPES:
            read = change.get("change")
            after = read.get("after") if isinstance(read, dict) else None
            data_address, data_module = change.get("address"), change.get("module_address") or ""
            if isinstance(data_address, str) and isinstance(data_module, str):
                add_ami(data_address, data_module, after if isinstance(after, dict) else {})
            continue
        if change.get("mode", "managed") != "managed" or type_ not in RELEVANT_TYPES:
            continue
        name = change.get("name")
        address = change.get("address")
        module_address = change.get("module_address") or ""
        if (
            not isinstance(name, str)
            or not isinstance(address, str)
            or not isinstance(module_address, str)
        ):
            raise InputError(f"{origin}: {where}: expected string address, name and module_address")
        details = _object(change.get("change"), origin, f"{where}.change")
        actions = tuple(
            a
            for a in _list(details.get("actions"), origin, f"{where}.change.actions")
            if isinstance(a, str)
        )
        if "delete" in actions and type_ == "aws_instance":
            before = details.get("before")
            if isinstance(before, dict) and isinstance(before.get("id"), str):
                destroyed.add(before["id"])
        if actions in (("delete",), ("forget",)):
            continue  # gone after apply, or no longer managed (a `removed` block)
        index = change.get("index")
        if index is not None and (isinstance(index, bool) or not isinstance(index, (int, str))):
            raise InputError(
                f"{origin}: {where}.index: expected a number or a string, got {index!r}"
            )
        try:
            key = module_key(module_address)
        except ValueError as error:
            raise InputError(f"{origin}: {where}.module_address: {error}") from None
        unknown = details.get("after_unknown")
        resources.append(
            Resource(
                address=address,
                module=module_address,
                module_key=key,
                type=type_,
                name=name,
                index=index,
                after=_object(details.get("after"), origin, f"{where}.change.after"),
                unknown=unknown if isinstance(unknown, dict) else {},
                expressions=expressions.get((key, f"{type_}.{name}"), {}),
                actions=actions,
                for_each=for_each.get((key, f"{type_}.{name}"), {}),
            )
        )
    return TfPlan(
        origin,
        version,
        tuple(resources),
        sources,
        scanned,
        calls,
        tuple(amis.values()),
        frozenset(destroyed),
    )


USER_DATA_FILE_MAX = 1024 * 1024


def read_user_data_files(paths: Iterable[str]) -> list[tuple[str, bytes]]:
    """The files given with --user-data (a directory: the files in it, not recursive)."""
    found: list[tuple[str, bytes]] = []
    for name in paths:
        path = Path(name)
        named = not path.is_dir()
        files = [path] if named else sorted(p for p in path.iterdir() if p.is_file())
        for file in files:
            try:
                with file.open("rb") as stream:
                    data = stream.read(USER_DATA_FILE_MAX + 1)
            except OSError as error:
                raise InputError(f"--user-data: {file}: cannot read: {error.strerror}") from None
            if len(data) <= USER_DATA_FILE_MAX:
                found.append((str(file), data))
            elif named:  # in a directory, other files are skipped
                raise InputError(
                    f"--user-data: {file}: larger than {USER_DATA_FILE_MAX} bytes: not user "
                    "data (EC2 takes at most 16 KiB)"
                )
    return found
