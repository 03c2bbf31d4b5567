"""`eniplan check-plan`: the pre-merge check of a Terraform plan (pure: plan in, Report out).

Finds every instance that will have two or more ENIs, through every way a configuration
can give it them (inline `network_interface` / `primary_network_interface` blocks,
`dynamic` ones, `aws_network_interface.attachment`, `aws_network_interface_attachment`, a
launch template's `network_interfaces`), linked by known IDs or, when IDs exist only after
apply, by the configuration's references: through module outputs, and with `count.index`
/ `each.key` / `each.value` (element() included) to the instance of the same key. An
attachment whose instance the plan cannot show is an ENI005 on the attachment, listing
the candidates, never a guess. An instance whose AMI the plan shows (data.aws_ami) is left
alone where the OS's own agent routes every ENI (ownership.policy_routing_agent, as audit).

The AWS provider marks an unset `user_data` as unknown until apply: it counts as unknown
only where the configuration has a `user_data` / `user_data_base64` expression that can
give a value (not a module variable left at a null default).
Every host becomes a `PlannedHost` (checks.base.Target: its ENIs as ports, the OS, the
user-data verdict) and the check registry's rules run on it, the same rule bodies as in
`audit` (eniplan/checks/): ENI001 / ENI002 (subnets compared by ID, or by the resource or
expression they come from when the ID is unknown), ENI003 (source/dest check disabled on
an ENI or instance that no route of the plan targets), and ENI005 (the user data can be
read only after apply, so nothing shows that it installs policy routing).

User data is judged by the analysis audit uses (userdata.analyse: base64, gzip, MIME;
eniplan's marker, an agent it installs, persistent routing configuration it writes; a bare
`ip rule add` in a first-boot script is not persistent, so not covered), or counts as
covered when it comes from eniplan's Terraform module (a module whose source ends in
`eni-policy-routing`). The text is the configuration's constant, or the plan's
`after.user_data` (the AWS provider 6.x keeps the text there; 5.x and older keep only its
SHA-1 digest, which matches when a user data file given with --user-data has it).

Waivers: a tag `eniplan:ignore` on the instance (or launch template), or on an ENI the
finding names in `eni_ids`, in the configuration: `ENI001,ENI005: the reason`, applied by
the function audit uses (findings.apply_waivers).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, NamedTuple

from eniplan import ownership
from eniplan.checkplan.tfplan import (
    AmiSource,
    Resource,
    TfPlan,
    module_index,
    module_key,
    parent_module,
    parse_resource_ref,
)
from eniplan.checks import PLAN_CHECKS, Drift, Port, SubnetRef
from eniplan.errors import InputError
from eniplan.findings import (
    IGNORE_TAG,
    RULES,
    Finding,
    Location,
    Report,
    Waiver,
    apply_waivers,
    parse_waiver,
    sort_findings,
)
from eniplan.model import Eni, Image, Instance, Inventory
from eniplan.plan import PlanOptions, plan_instance

if TYPE_CHECKING:
    from eniplan import userdata

MODULE_SOURCE_SUFFIX = "eni-policy-routing"
_SHA1 = re.compile(r"[0-9a-f]{40}")

# user data verdicts
COVERED, NOT_COVERED, UNKNOWN = "covered", "not-covered", "unknown"

SubnetKey = tuple[str, ...]
NO_AMI = ownership.OsGuess(ownership.UNKNOWN, evidence="AMI not known before apply")


# --- user data -------------------------------------------------------------------------


class Verdict(NamedTuple):
    """What the user data of a host says: COVERED, NOT_COVERED or UNKNOWN, why, and
    eniplan's marker when it has one (static user data is compared with the ENIs)."""

    state: str
    why: str
    marker: userdata.Marker | None = None


def verdict_of(raw: bytes, source: str) -> Verdict:
    """The verdict on user data bytes, by the analysis audit uses (userdata.analyse)."""
    from eniplan import userdata  # only for a plan that holds user data: not start-up

    info = userdata.analyse(raw)
    state = COVERED if info.covered else NOT_COVERED
    return Verdict(state, f"{info.describe()}, {source}", info.marker)


def known_text_verdict(text: str, source: str) -> Verdict:
    """The verdict on user data as the plan holds it: text, or base64 (maybe gzip)."""
    verdict = verdict_of(text.encode(), source)
    raw = from_base64(text) if verdict.state == NOT_COVERED else None
    return verdict if raw is None else verdict_of(raw, source)


def from_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def user_data_digest(text: str) -> str:
    """What the AWS provider stores as `user_data`: SHA-1 (hex) of the value, of its
    base64-decoded bytes when it is valid base64."""
    decoded = from_base64(text)
    return hashlib.sha1(decoded if decoded is not None else text.encode()).hexdigest()


# --- the graph of instances and ENIs ---------------------------------------------------


@dataclass
class Nic:
    key: str  # the ENI resource's address, an ENI ID, or "<instance address> primary"
    subnet: SubnetKey
    device_index: int | None
    resource: Resource | None = None  # the aws_network_interface, if in the plan


@dataclass
class Host:
    """An instance (or a launch template) that gets ENIs."""

    key: str  # the resource address, or the instance ID of an instance outside the plan
    resource: Resource | None
    nics: dict[str, Nic] = field(default_factory=dict)
    user_data: Verdict = field(default_factory=lambda: Verdict(UNKNOWN, ""))
    via: str = ""  # outside the configuration: the resource that attaches an ENI to it
    os: ownership.OsGuess = field(default_factory=lambda: NO_AMI)

    def add(self, nic: Nic) -> None:
        known = self.nics.get(nic.key)
        if known is None or (known.device_index is None and nic.device_index is not None):
            self.nics[nic.key] = nic


# module.NAME[KEY].OUTPUT...; Terraform lists `module.web[each.key].id` as `module.web`
# (and `each.key`): no output then
_MODULE_REF = re.compile(
    r'module\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)(?P<key>\[(?:[0-9]+|"(?:[^"\\]|\\.)*")\])?'
    r"(?:\.(?P<output>[A-Za-z_][A-Za-z0-9_-]*)(?:\..*|\[.*)?)?"
)
ITERATORS = ("count.index", "each.key", "each.value")
MAX_MODULE_DEPTH = 16


@dataclass(frozen=True)
class Scope:
    """Where an expression is evaluated: a module instance and the resource's own key
    (what `count.index` / `each.key` stand for)."""

    module: str  # module instance address: "" or module.a[0]
    module_key: str  # module.a
    index: int | str | None = None

    @staticmethod
    def of(resource: Resource) -> Scope:
        return Scope(resource.module, resource.module_key, resource.index)


def _specific(references: Sequence[str]) -> list[str]:
    """Terraform lists every prefix of a traversal (`aws_instance.a[0].id`,
    `aws_instance.a[0]`, `aws_instance.a`): keep the most specific ones."""
    return [
        ref
        for ref in references
        if not any(
            other != ref and other.startswith((ref + ".", ref + "[")) for other in references
        )
    ]


class Index:
    """The plan's resources by type, by known ID and by configuration address."""

    def __init__(self, plan: TfPlan) -> None:
        self.plan = plan
        self.by_type: dict[str, list[Resource]] = defaultdict(list)
        self.by_id: dict[str, Resource] = {}
        self.by_config: dict[tuple[str, str, str], list[Resource]] = defaultdict(list)
        self.module_instances: set[str] = set()
        for resource in plan.resources:
            self.by_type[resource.type].append(resource)
            known_id = resource.after.get("id")
            if isinstance(known_id, str):
                self.by_id[known_id] = resource
            self.by_config[(resource.module, resource.type, resource.name)].append(resource)
            module = resource.module
            while module and module not in self.module_instances:
                self.module_instances.add(module)
                module = parent_module(module)

    def resolve(
        self, origin: Resource, reference: str, types: Iterable[str] = ()
    ) -> list[Resource]:
        """The resource instances a reference in `origin`'s configuration points at."""
        return self.resolve_in(Scope.of(origin), reference, tuple(types), (), 0)

    def resolve_in(
        self,
        scope: Scope,
        reference: str,
        types: tuple[str, ...],
        iterators: Sequence[str],
        depth: int,
    ) -> list[Resource]:
        module_ref = _MODULE_REF.fullmatch(reference)
        if module_ref is not None:
            return self._through_output(scope, module_ref, types, iterators, depth)
        ref = parse_resource_ref(reference)
        if ref is None or (types and ref.type not in types):
            return []
        candidates = self.by_config.get((scope.module, ref.type, ref.name), [])
        if ref.index is not None:
            return [c for c in candidates if c.index == ref.index]
        if len(candidates) > 1 and iterators and scope.index is not None:
            # X[count.index], element(X.*.id, count.index), X[each.key], X[each.value]
            keys = {c.index for c in candidates}
            key = scope.index
            if isinstance(key, int) and "count.index" in iterators and key not in keys:
                ints = sorted(k for k in keys if isinstance(k, int))
                if ints == list(range(len(candidates))):
                    key = key % len(candidates)  # element() wraps around
            same = [c for c in candidates if c.index == key]
            if same:
                return same
        return list(candidates)

    def _through_output(
        self,
        scope: Scope,
        match: re.Match[str],
        types: tuple[str, ...],
        iterators: Sequence[str],
        depth: int,
    ) -> list[Resource]:
        """module.NAME[KEY].OUTPUT: the resources the module's output refers to (without
        an OUTPUT, as the plan lists a reference with a computed key: its every output's)."""
        if depth >= MAX_MODULE_DEPTH:
            return []
        step = f"module.{match['name']}"
        child_key = f"{scope.module_key}.{step}" if scope.module_key else step
        call = self.plan.module_calls.get(child_key)
        outputs = call.outputs if call is not None else {}
        names = [match["output"]] if match["output"] else sorted(outputs)
        refs = _specific(
            [
                ref
                for name in names
                if isinstance(outputs.get(name), dict)
                for ref in _references(outputs[name].get("expression"))
            ]
        )
        prefix = f"{scope.module}.{step}" if scope.module else step
        if match["key"]:
            instances = [prefix + match["key"]]
        else:
            instances = sorted(
                m
                for m in self.module_instances
                if (m == prefix or (m.startswith(prefix + "[") and m.endswith("]")))
                and parent_module(m) == scope.module
            )
            if len(instances) > 1 and iterators and scope.index is not None:
                same = [m for m in instances if m == f"{prefix}[{json.dumps(scope.index)}]"]
                instances = same or instances
        found: dict[str, Resource] = {}
        for instance in instances:
            inner = Scope(instance, child_key)
            for ref in refs:
                for resource in self.resolve_in(inner, ref, types, (), depth + 1):
                    found.setdefault(resource.address, resource)
        return list(found.values())

    def through_variables(
        self,
        scope: Scope,
        references: Sequence[str],
        types: tuple[str, ...],
        depth: int = 0,
    ) -> list[Resource]:
        """The resources that a module instance's `var.NAME` references stand for: what
        its call passes in (resolved in the calling module, where `each.key` /
        `count.index` are the module instance's key; `each.value`, the call's for_each),
        through the caller's own variables too."""
        found: dict[str, Resource] = {}
        names = {ref.split(".")[1] for ref in references if ref.startswith("var.")}
        call = self.plan.module_calls.get(scope.module_key) if scope.module else None
        if not names or call is None or depth >= MAX_MODULE_DEPTH:
            return []
        parent = parent_module(scope.module)
        outer = Scope(parent, module_key(parent), module_index(scope.module))
        for name in sorted(names):
            passed = _references(call.inputs.get(name))
            if any(ref.startswith("each.") for ref in passed):
                passed = [*passed, *_references(call.for_each)]
            for resource in (
                *self.resolve_scope(outer, passed, types),
                *self.through_variables(outer, passed, types, depth + 1),
            ):
                found.setdefault(resource.address, resource)
        return list(found.values())

    def resolve_all(
        self, origin: Resource, references: Sequence[str], types: Iterable[str] = ()
    ) -> list[Resource]:
        return self.resolve_scope(Scope.of(origin), references, tuple(types))

    def resolve_scope(
        self, scope: Scope, references: Sequence[str], types: tuple[str, ...] = ()
    ) -> list[Resource]:
        iterators = [r for r in references if r in ITERATORS]
        found: dict[str, Resource] = {}
        for reference in _specific(references):
            for resource in self.resolve_in(scope, reference, types, iterators, 0):
                found.setdefault(resource.address, resource)
        return list(found.values())


def _references(expression: Any) -> list[str]:
    if isinstance(expression, dict):
        refs = expression.get("references")
        if isinstance(refs, list):
            return [r for r in refs if isinstance(r, str)]
    return []


def _constant(expression: Any) -> Any:
    return expression.get("constant_value") if isinstance(expression, dict) else None


def _all_references(expressions: Any) -> Iterator[str]:
    if isinstance(expressions, dict):
        yield from _references(expressions)
        for value in expressions.values():
            if isinstance(value, (dict, list)):
                yield from _all_references(value)
    elif isinstance(expressions, list):
        for item in expressions:
            yield from _all_references(item)


def _strings(value: Any) -> Iterator[str]:
    """Every string in a value of the plan (nested blocks too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _blocks(resource: Resource, name: str) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """A nested block's instances as (known values, expressions) pairs, matched by
    network_card_index and device_index where both sides have several."""
    after = resource.after.get(name)
    known = [b for b in after if isinstance(b, dict)] if isinstance(after, list) else []
    config = resource.expressions.get(name)
    exprs = [b for b in config if isinstance(b, dict)] if isinstance(config, list) else []
    empty: Mapping[str, Any] = {}
    if not exprs:
        return [(block, empty) for block in known]
    pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
    for position, expression in enumerate(exprs):
        device = _constant(expression.get("device_index"))
        # device index 0 on card 0 and on card 1: a device index is unique per card
        card = _constant(expression.get("network_card_index")) or 0
        match: Mapping[str, Any] = {}
        if device is not None:
            match = next(
                (
                    b
                    for b in known
                    if b.get("device_index") == device
                    and (b.get("network_card_index") or 0) == card
                ),
                {},
            )
        elif len(known) == len(exprs):
            match = known[position]
        pairs.append((match, expression))
    return pairs


def _resource_order(resource: Resource) -> tuple[str, int, str]:
    index = resource.index
    if isinstance(index, int):
        return (resource.config_address, index, "")
    return (resource.config_address, -1, "" if index is None else str(index))


def ami_os(ami: AmiSource) -> ownership.OsGuess:
    """The OS of a data.aws_ami: from its values where the plan read it, else from its
    name filter (e.g. `al2023-ami-2023.*-x86_64`)."""
    values = ami.values
    name = values.get("name")
    if isinstance(name, str) and name:
        image = Image(
            image_id=str(values.get("id") or values.get("image_id") or ami.address),
            name=name,
            description=str(values.get("description") or ""),
            platform_details=str(values.get("platform_details") or ""),
            platform=str(values.get("platform") or ""),
        )
        guess = ownership.guess_os_of_image(image)
        return replace(guess, evidence=f"{ami.address}: {guess.evidence}")
    if ami.name_patterns:
        text = " ".join(ami.name_patterns)
        guess = ownership.guess_os_of_image(Image(image_id=ami.address, name=text))
        if guess.known:
            return replace(guess, evidence=f"{ami.address} name filter {text!r}")
    return ownership.OsGuess(
        ownership.UNKNOWN, evidence=f"{ami.address} is read only at apply, without a name filter"
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def planned_eni(eni: Eni, after: Mapping[str, Any], device: int | None) -> Eni:
    """An ENI of the snapshot with the addresses and device index the plan gives it
    (where they differ: the snapshot's order is kept for the same addresses)."""
    changes: dict[str, Any] = {}
    primary = after.get("private_ip")
    ordered = after.get("private_ip_list")
    if not primary and isinstance(ordered, list) and ordered:
        primary = ordered[0]  # the list holds the primary first
    listed = ordered or after.get("private_ips")
    if not isinstance(listed, list):
        listed = after.get("secondary_private_ips")
    if isinstance(primary, str) and primary:
        secondaries = (
            [a for a in listed if isinstance(a, str) and a != primary]
            if isinstance(listed, list)
            else []
        )
        if isinstance(after.get("private_ips"), list) and not after.get("private_ip_list"):
            secondaries.sort(key=lambda a: IPv4Address(a))  # a set: no order to keep
        if {primary, *secondaries} != {str(a) for a in eni.ipv4_addresses}:
            changes["primary_ipv4"] = IPv4Address(primary)
            changes["secondary_ipv4s"] = tuple(IPv4Address(a) for a in secondaries)
    ipv6 = after.get("ipv6_addresses")
    if isinstance(ipv6, list) and {str(a) for a in ipv6} != {str(a) for a in eni.ipv6_addresses}:
        changes["ipv6_addresses"] = tuple(IPv6Address(a) for a in ipv6 if isinstance(a, str))
    if device is not None and device != eni.device_index:
        changes["device_index"] = device
    return replace(eni, **changes) if changes else eni


@dataclass(frozen=True)
class Unresolved:
    """An ENI attachment whose instance cannot be told before apply."""

    origin: Resource
    candidates: tuple[str, ...]  # the instance addresses it may be
    expression: str  # the references, as the configuration wrote them


class Checker:
    def __init__(
        self,
        plan: TfPlan,
        user_data_digests: Mapping[str, Verdict],
        inventory: Inventory | None = None,
    ) -> None:
        self.plan = plan
        self.inventory = inventory
        # instances of the inventory by AMI ID: their platform where the image is gone
        self.instances_by_ami: dict[str, list[Instance]] = defaultdict(list)
        for known in inventory.instances if inventory is not None else ():
            self.instances_by_ami[known.image_id].append(known)
        self.index = Index(plan)
        self.digests = user_data_digests
        self.hosts: dict[str, Host] = {}
        self.warnings: list[str] = []
        self.unresolved: list[Unresolved] = []
        self.amis_by_id: dict[str, AmiSource] = {}
        self.amis_by_address: dict[str, AmiSource] = {}
        for ami in plan.amis:
            self.amis_by_address[ami.address] = ami
            for key in ("id", "image_id"):
                value = ami.values.get(key)
                if isinstance(value, str) and value:
                    self.amis_by_id[value] = ami

    # subnets ---------------------------------------------------------------------------

    def subnet_key(self, resource: Resource, value: Any, expression: Any) -> SubnetKey:
        if isinstance(value, str) and value:
            return ("id", value)
        refs = _references(expression)
        if not refs:
            constant = _constant(expression)
            return ("id", constant) if isinstance(constant, str) else ("unknown", resource.address)
        subnets = self.index.resolve_all(resource, refs, ("aws_subnet",))
        if len(subnets) == 1:
            known_id = subnets[0].after.get("id")
            return ("id", known_id) if isinstance(known_id, str) else ("res", subnets[0].address)
        if subnets or any(ref.startswith(("count.", "each.")) for ref in refs):
            # one of several subnets, by an index or a function the references do not show
            return ("unknown", resource.address)
        # the same expression in the same module instance (a module output, a data source)
        return ("expr", resource.module, *sorted(refs))

    def eni_nic(self, eni: Resource, device_index: int | None) -> Nic:
        return Nic(
            key=eni.address,
            subnet=self.subnet_key(
                eni, eni.after.get("subnet_id"), eni.expressions.get("subnet_id")
            ),
            device_index=device_index,
            resource=eni,
        )

    def linked(
        self, origin: Resource, references: Sequence[str], types: tuple[str, ...]
    ) -> list[Resource]:
        """The resources references in `origin`'s configuration point at: in its module,
        or else, for a module's variable (`instance_id = var.instance_id`), what the
        module call passes in."""
        return self.index.resolve_all(origin, references, types) or (
            self.index.through_variables(Scope.of(origin), references, types)
        )

    def eni_for(self, origin: Resource, value: Any, expression: Any) -> Nic | None:
        """The ENI a `network_interface_id` names: a resource of the plan, or an ID."""
        if isinstance(value, str) and value in self.index.by_id:
            found = self.index.by_id[value]
            return self.eni_nic(found, None) if found.type == "aws_network_interface" else None
        enis = self.linked(origin, _references(expression), ("aws_network_interface",))
        if len(enis) == 1:
            return self.eni_nic(enis[0], None)
        if isinstance(value, str):
            return Nic(value, ("unknown", value), None)  # an ENI outside this configuration
        refs = _references(expression)
        if refs:
            return Nic(
                f"{origin.module}:{'|'.join(sorted(refs))}", ("unknown", origin.address), None
            )
        return None

    def host_for(self, origin: Resource, value: Any, expression: Any) -> Host | None:
        """The instance an `instance_id` / `instance` names."""
        if isinstance(value, str) and value in self.index.by_id:
            found = self.index.by_id[value]
            if found.type == "aws_instance":
                return self.hosts.get(found.address)
        refs = _references(expression)
        instances = self.linked(origin, refs, ("aws_instance",))
        if len(instances) == 1:
            return self.hosts.get(instances[0].address)
        if instances:  # one of several, by a key or a function the plan does not show
            self.unresolved.append(
                Unresolved(origin, tuple(sorted(i.address for i in instances)), ", ".join(refs))
            )
            return None
        if isinstance(value, str):
            # an instance outside this configuration
            return self.hosts.setdefault(value, Host(value, None, via=origin.address))
        return None

    # hosts -----------------------------------------------------------------------------

    def build(self) -> None:
        templates_used: set[str] = set()
        for instance in self.index.by_type["aws_instance"]:
            host = Host(instance.address, instance)
            self.hosts[instance.address] = host
            for after, expr in _blocks(instance, "primary_network_interface"):
                nic = self.eni_for(
                    instance, after.get("network_interface_id"), expr.get("network_interface_id")
                )
                if nic is not None:
                    nic.device_index = 0
                    host.add(nic)
            dynamic: list[Mapping[str, Any]] = []
            for after, expr in _blocks(instance, "network_interface"):
                if not expr and not isinstance(after.get("network_interface_id"), str):
                    dynamic.append(after)  # a `dynamic` block: the configuration has none
                    continue
                nic = self.eni_for(
                    instance, after.get("network_interface_id"), expr.get("network_interface_id")
                )
                if nic is not None:
                    device = after.get("device_index", _constant(expr.get("device_index")))
                    nic.device_index = _int(device)
                    host.add(nic)
            for nic in self.dynamic_nics(instance, dynamic):
                host.add(nic)
            template = self.launch_template(instance)
            if template is not None:
                templates_used.add(template.address)
            if not host.nics and template is not None:
                for nic in self.template_nics(template):
                    host.add(nic)
            if not any(nic.device_index == 0 for nic in host.nics.values()):
                host.add(
                    Nic(
                        f"{instance.address} primary",
                        self.subnet_key(
                            instance,
                            instance.after.get("subnet_id"),
                            instance.expressions.get("subnet_id"),
                        ),
                        0,
                    )
                )
            host.user_data = self.instance_user_data(instance, template)
            host.os = self.os_of(instance, template)
        attachments = self.index.by_type["aws_network_interface_attachment"]
        # the ENI each attachment resource attaches (None: none the plan shows)
        attached_enis = [
            self.eni_for(
                attachment,
                attachment.after.get("network_interface_id"),
                attachment.expressions.get("network_interface_id"),
            )
            for attachment in attachments
        ]
        attached = self.attached_by_others(attached_enis)
        for eni in self.index.by_type["aws_network_interface"]:
            for after, expr in _blocks(eni, "attachment"):
                attached_to = after.get("instance")
                if not expr and (attached_to in self.plan.destroyed_ids or eni.address in attached):
                    # no `attachment` block: the provider reads where the ENI is attached
                    # now, and that changes: the plan destroys that instance, or attaches
                    # the ENI by an instance's block or an attachment resource
                    continue
                owner = self.host_for(eni, attached_to, expr.get("instance"))
                if owner is not None:
                    device = after.get("device_index", _constant(expr.get("device_index")))
                    owner.add(self.eni_nic(eni, _int(device)))
        for attachment, nic in zip(attachments, attached_enis, strict=True):
            after, expr = attachment.after, attachment.expressions
            target = self.host_for(attachment, after.get("instance_id"), expr.get("instance_id"))
            if target is not None and nic is not None:
                device = after.get("device_index", _constant(expr.get("device_index")))
                nic.device_index = _int(device)
                target.add(nic)
        launched = self.templates_of_groups()
        for template in self.index.by_type["aws_launch_template"]:
            # a template only instances of the plan use is checked on those instances
            if template.address in templates_used and template.address not in launched:
                continue
            host = Host(template.address, template)
            for nic in self.template_nics(template):
                host.add(nic)
            host.user_data = self.template_user_data(template)
            host.os = self.os_of(template, None)
            self.hosts[template.address] = host
        for key, host in self.hosts.items():
            if host.resource is None:  # an instance outside this configuration
                if not any(nic.device_index == 0 for nic in host.nics.values()):
                    host.add(Nic(f"{key} primary", ("unknown", key), 0))
                host.user_data = Verdict(UNKNOWN, f"instance {key} is not in this configuration")

    def attached_by_others(self, attached_enis: Iterable[Nic | None]) -> set[str]:
        """The ENIs of the plan that instances' blocks or attachment resources (their
        ENIs: `attached_enis`) attach."""
        found = {
            nic.resource.address
            for host in self.hosts.values()
            for nic in host.nics.values()
            if nic.resource is not None
        }
        found.update(
            nic.resource.address
            for nic in attached_enis
            if nic is not None and nic.resource is not None
        )
        return found

    def dynamic_nics(self, instance: Resource, blocks: Sequence[Mapping[str, Any]]) -> list[Nic]:
        """ENIs of `dynamic "network_interface"` blocks (the plan shows each block's device
        index, not its ENI when the ENI is created in the same plan). Where the module call
        passes in exactly as many ENIs of the plan as there are such blocks, they are
        those ENIs, in order; otherwise their subnets are unknown before apply."""
        if not blocks:
            return []
        ordered = sorted(blocks, key=lambda b: _int(b.get("device_index")) or 0)
        passed: list[Resource] = []
        call = self.plan.module_calls.get(instance.module_key) if instance.module else None
        if call is not None:
            # the call's arguments are evaluated in the calling module, where `each.key`
            # / `count.index` are this module instance's key
            parent = parent_module(instance.module)
            scope = Scope(parent, module_key(parent), module_index(instance.module))
            passed = self.index.resolve_scope(
                scope, list(_all_references(call.inputs)), ("aws_network_interface",)
            )
        nics = []
        for position, block in enumerate(ordered):
            device = _int(block.get("device_index"))
            if len(passed) == len(ordered):
                nic = self.eni_nic(sorted(passed, key=_resource_order)[position], device)
            else:
                name = f"{instance.address} network_interface[{position}]"
                nic = Nic(name, ("unknown", name), device)
            nics.append(nic)
        return nics

    def os_of(self, resource: Resource, template: Resource | None) -> ownership.OsGuess:
        """The OS from the AMI where the plan shows it: a data.aws_ami it reads (its name,
        or its name filter), or an AMI ID that such a data source returned."""
        for source in (resource, template):
            if source is None:
                continue
            key = "ami" if source.type == "aws_instance" else "image_id"
            ami_id = source.after.get(key)
            ami = self.amis_by_id.get(ami_id) if isinstance(ami_id, str) else None
            if ami is None:
                for ref in _references(source.expressions.get(key)):
                    if ref.startswith("data.aws_ami."):
                        name = ref.split(".")[2]
                        prefix = f"{source.module}." if source.module else ""
                        ami = self.amis_by_address.get(f"{prefix}data.aws_ami.{name}")
                        if ami is not None:
                            break
            if ami is None:
                if isinstance(ami_id, str):
                    return self.inventory_os(ami_id)
                continue
            return ami_os(ami)
        return NO_AMI

    def inventory_os(self, ami_id: str) -> ownership.OsGuess:
        """The OS of an AMI ID the plan does not show, from the snapshot given with
        --inventory: its image record, else an instance of it with a known platform."""
        if self.inventory is None:
            return ownership.OsGuess(ownership.UNKNOWN, evidence=f"AMI {ami_id} is not in the plan")
        image = self.inventory.images.get(ami_id)
        if image is not None:
            guess = ownership.guess_os_of_image(image)
            return replace(guess, evidence=f"--inventory: {guess.evidence}")
        for instance in self.instances_by_ami.get(ami_id, ()):
            guess = ownership.guess_os(instance, None)
            if guess.known:
                return replace(
                    guess, evidence=f"--inventory: {guess.evidence} of {instance.instance_id}"
                )
        return ownership.OsGuess(
            ownership.UNKNOWN, evidence=f"AMI {ami_id} is neither in the plan nor in --inventory"
        )

    def launch_template(self, instance: Resource) -> Resource | None:
        for after, expr in _blocks(instance, "launch_template"):
            for key in ("id", "name"):
                value = after.get(key)
                known = self.index.by_id.get(value) if isinstance(value, str) else None
                if known is not None and known.type == "aws_launch_template":
                    return known
                found = self.index.resolve_all(
                    instance, _references(expr.get(key)), ("aws_launch_template",)
                )
                if found:
                    return found[0]
        return None

    def templates_of_groups(self) -> set[str]:
        """The launch templates that auto scaling groups launch (`launch_template`, or a
        mixed instances policy's `launch_template_specification`): by a known ID, or by
        the configuration's references."""
        found: set[str] = set()
        for group in self.index.by_type["aws_autoscaling_group"]:
            for value in _strings(group.after):
                template = self.index.by_id.get(value)
                if template is not None and template.type == "aws_launch_template":
                    found.add(template.address)
            refs = list(_all_references(group.expressions))
            for template in self.index.resolve_all(group, refs, ("aws_launch_template",)):
                found.add(template.address)
        return found

    def template_nics(self, template: Resource) -> list[Nic]:
        nics = []
        for position, (after, expr) in enumerate(_blocks(template, "network_interfaces")):
            device = _int(after.get("device_index", _constant(expr.get("device_index"))))
            eni = self.eni_for(
                template, after.get("network_interface_id"), expr.get("network_interface_id")
            )
            if eni is not None:
                eni.device_index = device
                nics.append(eni)
                continue
            nics.append(
                Nic(
                    f"{template.address} network_interfaces[{position}]",
                    self.subnet_key(template, after.get("subnet_id"), expr.get("subnet_id")),
                    device if device is not None else position,
                )
            )
        return nics

    # user data -------------------------------------------------------------------------

    def _from_module(self, resource: Resource, expression: Any) -> bool:
        for reference in _references(expression):
            parts = reference.split(".")
            if len(parts) >= 2 and parts[0] == "module":
                name = parts[1].split("[", 1)[0]
                key = (
                    f"{resource.module_key}.module.{name}"
                    if resource.module_key
                    else f"module.{name}"
                )
                source = self.plan.module_sources.get(key, "")
                if source.split("?", 1)[0].rstrip("/").endswith(MODULE_SOURCE_SUFFIX):
                    return True
        return False

    def instance_user_data(self, instance: Resource, template: Resource | None) -> Verdict:
        exprs, after = instance.expressions, instance.after
        plain, encoded = exprs.get("user_data"), exprs.get("user_data_base64")
        if self._from_module(instance, plain) or self._from_module(instance, encoded):
            return Verdict(COVERED, "eniplan's Terraform module")
        constant = _constant(plain)
        if isinstance(constant, str):
            return verdict_of(constant.encode(), "constant user_data")
        constant = _constant(encoded)
        if not isinstance(constant, str):
            constant = after.get("user_data_base64")
        if isinstance(constant, str) and constant:
            raw = from_base64(constant)
            if raw is None:
                return Verdict(UNKNOWN, "user_data_base64 is not base64")
            return verdict_of(raw, "user_data_base64")
        known = after.get("user_data")
        if isinstance(known, str) and known:
            if not _SHA1.fullmatch(known):  # AWS provider 6.x: the text itself
                return known_text_verdict(known, "user_data in the plan")
            if known in self.digests:  # AWS provider 5.x and older: a SHA-1 digest
                return self.digests[known]
            return Verdict(
                UNKNOWN,
                "user_data is computed (a reference or a function), and the plan holds only "
                "its digest (AWS provider 5.x)",
            )
        # the provider marks an unset user_data unknown too: only the configuration tells
        configured = self.is_set(instance.module_key, plain) or self.is_set(
            instance.module_key, encoded
        )
        if configured and (
            instance.unknown.get("user_data") or instance.unknown.get("user_data_base64")
        ):
            return Verdict(UNKNOWN, "user_data is known only after apply")
        if configured:
            return Verdict(UNKNOWN, "user_data is not a constant")
        if template is not None:
            return self.template_user_data(template)
        return Verdict(NOT_COVERED, "no user data")

    def is_set(self, module: str, expression: Any, depth: int = 0) -> bool:
        """Whether an argument's expression can give a value: absent, a constant null, or
        a module variable that the call leaves at a null default, gives none."""
        if not isinstance(expression, dict):
            return False
        if "constant_value" in expression:
            return expression["constant_value"] is not None
        refs = _specific(_references(expression))
        names = {ref.split(".")[1] for ref in refs if ref.startswith("var.")}
        call = self.plan.module_calls.get(module) if module else None
        if call is None or len(refs) != 1 or len(names) != 1 or depth >= MAX_MODULE_DEPTH:
            return True
        (name,) = names
        passed = call.inputs.get(name)
        if passed is None:
            variable = call.defaults.get(name)
            return not (isinstance(variable, dict) and variable.get("default", ...) is None)
        parent = module.rsplit(".module.", 1)[0] if ".module." in module else ""
        return self.is_set(parent, passed, depth + 1)

    def template_user_data(self, template: Resource) -> Verdict:
        expression = template.expressions.get("user_data")
        if self._from_module(template, expression):
            return Verdict(COVERED, "eniplan's Terraform module")
        value = _constant(expression)
        if not isinstance(value, str):
            value = template.after.get("user_data")
        if isinstance(value, str) and value:
            raw = from_base64(value)
            if raw is None:
                return Verdict(UNKNOWN, "the launch template's user_data is not base64")
            return verdict_of(raw, "the launch template's user_data")
        if self.is_set(template.module_key, expression):
            return Verdict(UNKNOWN, "the launch template's user_data is known only after apply")
        return Verdict(NOT_COVERED, "no user data")

    # route targets ---------------------------------------------------------------------

    def route_targets(self) -> tuple[set[str], set[str]]:
        """(known ENI and instance IDs, resource addresses) that some route targets."""
        ids: set[str] = set()
        addresses: set[str] = set()
        for route in self.index.by_type["aws_route"]:
            for key in ("network_interface_id", "instance_id"):
                value = route.after.get(key)
                if isinstance(value, str):
                    ids.add(value)
        for table in self.index.by_type["aws_route_table"]:
            routes = table.after.get("route")
            for item in routes if isinstance(routes, list) else []:
                if isinstance(item, dict):
                    for key in ("network_interface_id", "instance_id"):
                        if isinstance(item.get(key), str):
                            ids.add(item[key])
        types = ("aws_network_interface", "aws_instance")
        for resource in (*self.index.by_type["aws_route"], *self.index.by_type["aws_route_table"]):
            refs = list(_all_references(resource.expressions))
            if any(ref.startswith("each.") for ref in refs):  # each.value: from for_each
                refs.extend(_references(resource.for_each))
            for target in (
                *self.index.resolve_all(resource, refs, types),
                # a route in a module, its target a variable (network_interface_id =
                # var.nat_eni_id): what the module call passes in
                *self.index.through_variables(Scope.of(resource), refs, types),
            ):
                addresses.add(target.address)
        return ids, addresses

    # eniplan's static user data -------------------------------------------------------

    def static_drift(
        self, marker: userdata.Marker, resource: Resource | None, nics: Sequence[Nic]
    ) -> Drift | str:
        """What to compare eniplan's static user data with, as audit compares it (its
        drift check, planned with the options its marker records): the plan's ENIs, with
        what the plan does not hold (MACs, subnets) from the snapshot given with
        --inventory. Or why it cannot be compared (then it is not verified)."""
        from eniplan.audit import marker_options

        options, source, note = marker_options(
            marker, PlanOptions(), "check-plan", "eniplan's defaults (check-plan takes none)"
        )
        instance_id = resource.after.get("id") if resource is not None else None
        if resource is None or resource.type != "aws_instance" or not isinstance(instance_id, str):
            what = (
                "the plan creates the instance and its ENIs"
                if resource is None or resource.type == "aws_instance"
                else "a launch template's instances and their ENIs are created at launch"
            )
            rendered_for = marker.instance_id or "another instance"
            return Drift(
                marker,
                None,
                options,
                source,
                note,
                f"{what} (known only after apply), and static user data holds the ones it "
                f"was rendered for ({rendered_for})",
            )
        known = self.inventory.instance(instance_id) if self.inventory is not None else None
        values: list[tuple[str | None, Mapping[str, Any], int | None]] = []
        new: list[str] = []  # the ENIs the plan creates
        for nic in nics:
            after: Mapping[str, Any] = {}
            if nic.resource is not None:
                after = nic.resource.after
                eni_id = after.get("id")
            elif nic.key.endswith(" primary"):  # the existing instance's own: it exists
                after = resource.after
                eni_id = after.get("primary_network_interface_id")
                if not isinstance(eni_id, str) and known is not None:
                    eni_id = next((e.eni_id for e in known.enis if e.is_primary), None)
            else:  # an ENI outside the configuration, by its ID
                eni_id = nic.key if nic.key.startswith("eni-") else None
            if not isinstance(eni_id, str) and not nic.key.endswith(" primary"):
                new.append(nic.key)
            values.append((eni_id if isinstance(eni_id, str) else None, after, nic.device_index))
        if new:
            return Drift(
                marker,
                None,
                options,
                source,
                note,
                f"the plan gives the instance ENIs that exist only after apply "
                f"({', '.join(new)}), and static user data holds the ENIs it was rendered for",
            )
        if self.inventory is None or known is None:
            where = "given" if self.inventory is None else f"holding {instance_id}"
            return (
                "comparing it with the plan's ENIs needs their MACs and subnets: no snapshot "
                f"{where} with --inventory"
            )
        missing = [eni_id for eni_id, _, _ in values if eni_id not in self.inventory.enis]
        if missing:
            return (
                f"{', '.join(str(m) for m in missing)} not in the snapshot given with --inventory"
            )
        try:
            enis = tuple(
                planned_eni(self.inventory.enis[str(eni_id)], after, device)
                for eni_id, after, device in values
            )
            plan = plan_instance(
                replace(known, enis=enis), self.inventory, replace(options, force=True)
            )
        except (InputError, ValueError, KeyError) as error:
            return f"its ENIs cannot be planned ({error})"
        return Drift(marker, plan, options, source, note)

    # the rules' view ------------------------------------------------------------------

    def targets(self, location: Location) -> Iterator[PlannedHost]:
        """Every host as the checks see it, then the ENIs of the plan no host gets."""
        ids, addresses = self.route_targets()
        scope = " in this plan"
        if self.inventory is not None:  # routes outside the plan, as audit sees them
            ids |= self.inventory.routed_targets()
            scope = " in this plan or the --inventory snapshot"
        cidrs: dict[str, str] = {}
        for subnet in self.index.by_type["aws_subnet"]:
            cidr = subnet.after.get("cidr_block")
            if isinstance(cidr, str) and cidr:
                cidrs[subnet.address] = cidr
                if isinstance(subnet.after.get("id"), str):
                    cidrs[subnet.after["id"]] = cidr
        claimed: set[str] = set()

        def routed(resource: Resource | None, key: str) -> bool:
            if resource is None:
                return key in ids
            return resource.address in addresses or any(
                resource.after.get(name) in ids for name in ("id", "primary_network_interface_id")
            )

        def port(nic: Nic, instance: Resource | None, host_routed: bool) -> Port:
            eni = nic.resource
            owned = eni is not None and eni.address not in claimed
            if eni is not None:
                claimed.add(eni.address)
            off, at = False, ""
            if owned and eni is not None and eni.after.get("source_dest_check") is False:
                off, at = True, eni.address
            elif (
                instance is not None
                and nic.device_index == 0
                and instance.after.get("source_dest_check") is False
            ):
                off, at = True, instance.address
            values = eni.after if eni is not None else instance.after if instance else {}
            address = values.get("private_ip")
            return Port(
                eni_id=nic.key,
                subnet=subnet_ref(nic.subnet, cidrs),
                address=address if isinstance(address, str) else "",
                source_dest_check_off=off,
                routed=host_routed or (eni is not None and routed(eni, eni.address)),
                at=at,
            )

        for key, host in sorted(self.hosts.items()):
            nics = sorted(
                host.nics.values(),
                key=lambda n: (n.device_index is None, n.device_index or 0, n.key),
            )
            resource = host.resource
            instance = (
                resource if resource is not None and resource.type == "aws_instance" else None
            )
            host_routed = routed(resource, key) if resource is None or instance else False
            ports = tuple(port(nic, instance, host_routed) for nic in nics)
            agent = ownership.policy_routing_agent(host.os)
            handled_by, drift = None, None
            verdict = host.user_data
            if verdict.marker is not None and verdict.marker.static:
                found = self.static_drift(verdict.marker, resource, nics)
                if isinstance(found, str):  # cannot be compared: not verified
                    verdict = Verdict(UNKNOWN, f"{verdict.why}: {found}")
                else:
                    drift = found
            if verdict.state == COVERED:
                handled_by = f"policy routing from {verdict.why}"
                if drift is not None:
                    handled_by += " (matches the plan's ENIs)"
            elif agent:  # audit's rule: an OS whose own agent routes every ENI is left alone
                handled_by = (
                    f"{agent} installs per-ENI policy routing on {host.os.family} "
                    f"({host.os.evidence})"
                )
            known_id = instance.after.get("id") if instance is not None else None
            if resource is None:
                known_id = key  # an instance outside the plan, by its ID
            yield PlannedHost(
                key=key,
                subject=key if resource is not None else (host.via or key),
                instance_id=known_id if isinstance(known_id, str) else None,
                ports=ports,
                os=host.os,
                handled_by=handled_by,
                user_data_text=verdict.why,
                user_data_pending=verdict.why if verdict.state == UNKNOWN else "",
                managed_ports=ports if len(ports) >= 2 and not agent else (),
                location=location,
                drift=drift,
                route_scope=scope,
            )
        for eni in self.index.by_type["aws_network_interface"]:
            if eni.address not in claimed:
                yield PlannedHost(
                    key=eni.address,
                    subject=eni.address,
                    instance_id=None,
                    ports=(port(self.eni_nic(eni, None), None, False),),
                    os=NO_AMI,
                    location=location,
                    route_scope=scope,
                )


# --- findings --------------------------------------------------------------------------


def _tags(resource: Resource | None) -> Mapping[str, Any]:
    if resource is None:
        return {}
    tags = resource.after.get("tags")
    if isinstance(tags, dict):
        return tags
    constant = _constant(resource.expressions.get("tags"))
    return constant if isinstance(constant, dict) else {}


def waiver_of(resource: Resource | None) -> Waiver | None:
    value = _tags(resource).get(IGNORE_TAG)
    return parse_waiver(value) if isinstance(value, str) else None


WAIVE_HINT = 'tags = {{ "eniplan:ignore" = "{rule}: the reason" }}'


def subnet_ref(key: SubnetKey, cidrs: Mapping[str, str]) -> SubnetRef:
    """The rules' view of a subnet key: an ID or a resource of the plan is a subnet of its
    own; the same expression in the same module instance is the same subnet, but may be
    any other one; an unknown one is a subnet of its own that may be any other one."""
    kind = key[0]
    if kind in ("id", "res"):
        cidr = cidrs.get(key[1], "")
        text = f"{key[1]} ({cidr})" if cidr else key[1]
        return SubnetRef(f"{kind}:{key[1]}", key[1], text)
    if kind == "expr":
        name = " ".join(key[2:])
        return SubnetRef("\0".join(key), name, f"from {name}", certain=False)
    name = f"{key[1]}'s subnet"
    return SubnetRef(None, name, f"{name} (known after apply)", certain=False)


@dataclass
class PlannedHost:
    """check-plan's target (checks.base.Target): an instance or a launch template of the
    plan, an instance outside it that the plan attaches ENIs to, or an ENI of the plan
    that no instance of it gets."""

    key: str  # a resource address, or the instance ID of an instance outside the plan
    subject: str  # the address the findings point at
    instance_id: str | None
    ports: tuple[Port, ...]
    os: ownership.OsGuess
    handled_by: str | None = None
    user_data_text: str = ""
    user_data_pending: str = ""
    managed_ports: tuple[Port, ...] = ()
    location: Location | None = None
    drift: Drift | None = None
    route_scope: str = " in this plan"  # where routes were looked for

    @property
    def label(self) -> str:
        return self.key

    def finding(
        self,
        rule_id: str,
        message: str,
        remediation: str,
        *,
        eni_ids: tuple[str, ...] = (),
        details: dict[str, Any] | None = None,
        port: Port | None = None,
    ) -> Finding:
        outside = self.subject != self.key  # an instance outside the configuration
        return Finding(
            rule_id=rule_id,
            severity=RULES[rule_id].severity,
            message=message,
            remediation=remediation,
            instance_id=self.key if outside else None,
            address=port.at if port is not None and port.at else self.subject,
            eni_ids=eni_ids,
            location=self.location,
            details=details or {},
        )

    def routing_fix(self, rule_id: str) -> tuple[str, list[list[str]]]:
        return (
            "Give the instance eniplan's user data (`eniplan render --target cloud-init`) or "
            "the eni-policy-routing module's `user_data` output; or waive with "
            + WAIVE_HINT.format(rule=rule_id),
            [],
        )

    def pending_fix(self) -> str:
        return (
            "Use eniplan's user data (`eniplan render --target cloud-init`, and pass the file "
            "to check-plan with --user-data) or the eni-policy-routing module; or, if the "
            "user data does install per-ENI policy routing, waive with "
            + WAIVE_HINT.format(rule="ENI005")
        )

    def check_fix(self, port: Port, with_routing: bool) -> tuple[str, list[list[str]]]:
        return (
            "Set source_dest_check = true"
            + (" and install per-ENI policy routing" if with_routing else "")
            + "; if it is a NAT, router or firewall, add the route that targets it; or waive "
            "with " + WAIVE_HINT.format(rule="ENI003"),
            [],
        )

    def drift_fix(self, drift: Drift) -> tuple[str, list[list[str]]]:
        return (
            "Render the user data again for the ENIs the instance will have "
            "(`eniplan render --target cloud-init` once they exist), or use dynamic user data "
            "(`eniplan render --target cloud-init --mode dynamic`), which reads them at boot; "
            "or waive with " + WAIVE_HINT.format(rule="ENI004"),
            [],
        )


@dataclass
class CheckResult:
    report: Report
    warnings: tuple[str, ...]


def check_plan(
    plan: TfPlan,
    fail_on: str = "high",
    user_data_digests: Mapping[str, Verdict] | None = None,
    inventory: Inventory | None = None,
) -> CheckResult:
    """The findings of one plan; `inventory` (--inventory) tells the OS of AMI IDs the
    plan does not show."""
    checker = Checker(plan, user_data_digests or {}, inventory)
    checker.build()
    location = Location(plan.origin)
    findings: list[Finding] = []
    excluded: list[tuple[str, str]] = []
    for target in checker.targets(location):
        found = [f for check in PLAN_CHECKS for f in check.run(target)]
        findings.extend(found)
        drifted = any(f.rule_id == "ENI004" for f in found)
        if target.handled_by and len(target.ports) >= 2 and not drifted:
            excluded.append((target.key, f"{len(target.ports)} ENIs, {target.handled_by}"))
        for port in target.ports:
            if port.source_dest_check_off and port.routed:
                excluded.append((port.at, "source/dest check off: a route targets it"))

    for unresolved in checker.unresolved:
        origin = unresolved.origin
        findings.append(
            Finding(
                rule_id="ENI005",
                severity=RULES["ENI005"].severity,
                message=f"{origin.address}: attaches an ENI to one of "
                f"{', '.join(unresolved.candidates)} ({unresolved.expression}), and the plan "
                "does not show which: the policy routing of that instance cannot be verified",
                remediation="Name the instance with an explicit key "
                "(`aws_instance.x[each.key].id`, `aws_instance.x[count.index].id`) so that "
                "check-plan can follow it; or waive with " + WAIVE_HINT.format(rule="ENI005"),
                address=origin.address,
                location=location,
                details={"candidates": list(unresolved.candidates)},
            )
        )

    waivers: dict[str, Waiver] = {}
    for resource in plan.resources:
        waiver = waiver_of(resource)
        if waiver is not None:
            waivers[resource.address] = waiver
    waived, unknown = apply_waivers(findings, waivers)
    checker.warnings.extend(unknown)
    report = Report(
        command="check-plan",
        findings=sort_findings(waived),
        scanned=plan.scanned,
        excluded=tuple(excluded),
        fail_on=fail_on,
    )
    return CheckResult(report, tuple(checker.warnings))


def check_plans(
    plans: Iterable[TfPlan],
    fail_on: str = "high",
    user_data_digests: Mapping[str, Verdict] | None = None,
    inventory: Inventory | None = None,
) -> CheckResult:
    """One report for several plans (each read, checked and dropped in turn)."""
    findings: list[Finding] = []
    excluded: list[tuple[str, str]] = []
    warnings: list[str] = []
    scanned = 0
    for plan in plans:
        result = check_plan(plan, fail_on, user_data_digests, inventory)
        findings.extend(result.report.findings)
        excluded.extend(result.report.excluded)
        warnings.extend(result.warnings)
        scanned += result.report.scanned
    report = Report(
        command="check-plan",
        findings=sort_findings(findings),
        scanned=scanned,
        excluded=tuple(excluded),
        fail_on=fail_on,
    )
    return CheckResult(report, tuple(warnings))


def digests_of_files(files: Iterable[tuple[str, bytes]]) -> dict[str, Verdict]:
    """SHA-1 digests (as the provider stores user_data) of the user data files given with
    --user-data -> their verdict, judged as any other user data."""
    digests = {}
    for name, raw in files:
        verdict = verdict_of(raw, f"from {name}")
        if raw[:2] != b"\x1f\x8b":
            digests[hashlib.sha1(raw).hexdigest()] = verdict
            digests[user_data_digest(raw.decode("utf-8", "replace"))] = verdict
    return digests
