"""The `terraform` target: snippets that adopt an instance's secondary ENIs into Terraform.

For one existing instance it writes a directory to copy into the root module of a
configuration (import blocks are allowed only there; Terraform 1.5+, AWS provider 5.x or
6.x; 6.11+ only where an ENI is on a network card other than 0, as `network_card_index` is
written only then and 6.11 is the first with it on attachments):

- `eniplan_<instance>.tf`: for every secondary ENI, an `import` block and an
  `aws_network_interface` (subnet, security groups, private IPs in order through
  `private_ip_list`, prefixes, IPv6, source/dest check on (kept off where a VPC route
  targets the ENI or the instance: a NAT, router or firewall), its tags and description as
  they are, so the import plans no change there), and an `import` block and an
  `aws_network_interface_attachment` (device index, network card index);
- `eniplan_<instance>_user_data.tf`: a `local` holding the static cloud-init user data
  (the `cloud-init` target's output) read with `file()` from the file next to it, and how
  to wire it into the instance's `aws_instance`;
- that user data file, and a README.md saying what to review before `terraform apply`.

The primary ENI is the instance's own (`aws_instance.primary_network_interface`): it is not
imported here. Names derive from the Name tags and IDs, sanitised to identifiers; every
string goes through the HCL writer's escaping (render/hcl.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Network

from eniplan import values
from eniplan.plan import MANAGED, EniPlan, InstancePlan, name_hint
from eniplan.render import base, cloudinit, hcl
from eniplan.terminal import visible

TARGET = "terraform"
NAME_MAX = 40  # characters of a Name tag kept in a resource name


@dataclass(frozen=True)
class EniResource:
    """The Terraform view of one secondary ENI."""

    name: str  # the resource name (identifier) of both the ENI and its attachment
    eni_id: str
    attachment_id: str | None
    subnet_id: str
    security_group_ids: tuple[str, ...]
    private_ips: tuple[IPv4Address, ...]  # primary first, then the secondaries in order
    ipv4_prefixes: tuple[IPv4Network, ...]
    ipv6_addresses: tuple[str, ...]
    ipv6_prefixes: tuple[IPv6Network, ...]
    device_index: int
    network_card_index: int
    description: str
    tags: dict[str, str]
    source_dest_check_was: bool
    routed: bool  # a VPC route targets the ENI or its instance (plan.routed_eni_ids)

    @property
    def source_dest_check(self) -> bool:
        """What the snippet sets: on, except where it is off on an ENI that forwards."""
        return self.source_dest_check_was or not self.routed


def file_names(instance_id: str, gzipped: bool) -> dict[str, str]:
    values.resource_id("i", instance_id)
    return {
        "enis": f"eniplan_{instance_id}.tf",
        "user_data_tf": f"eniplan_{instance_id}_user_data.tf",
        "user_data": f"eniplan_{instance_id}.cloud-config" + (".gz" if gzipped else ".yaml"),
        "readme": "README.md",
    }


def instance_label(plan: InstancePlan) -> str:
    """`web_i_0123...`: the instance's Name tag and ID, as an identifier."""
    instance_id = values.resource_id("i", plan.instance_id)
    name = hcl.sanitize_identifier(plan.name[:NAME_MAX], "instance") if plan.name else ""
    return "_".join(part for part in (name, instance_id.replace("-", "_")) if part)


def eni_resources(plan: InstancePlan) -> tuple[EniResource, ...]:
    """The secondary ENIs of a managed plan, in (card, device) order."""
    if plan.status != MANAGED:
        raise ValueError(f"{plan.instance_id}: plan status {plan.status!r}: nothing to render")
    return tuple(_eni_resource(plan, eni) for eni in plan.enis if not eni.is_primary)


def _eni_resource(plan: InstancePlan, eni: EniPlan) -> EniResource:
    eni_id = values.resource_id("eni", eni.eni_id)
    record = plan.eni_records.get(eni.eni_id)
    tags = dict(record.tags) if record is not None else {}
    base_name = tags.get("Name") or f"{plan.name or 'instance'}_eth{name_hint(eni)[3:]}"
    name = hcl.sanitize_identifier(base_name[:NAME_MAX], "eni") + "_" + eni_id.replace("-", "_")
    if record is not None:
        private_ips = record.ipv4_addresses
        ipv4_prefixes = record.ipv4_prefixes
        ipv6_addresses = tuple(str(a) for a in record.ipv6_addresses)
        ipv6_prefixes = record.ipv6_prefixes
        groups = tuple(values.resource_id("sg", g) for g in record.security_group_ids)
        attachment = record.attachment_id
        description = values.data_text(record.description)
        source_dest_check = record.source_dest_check
    else:  # a plan built without the inventory's records: what the routing plan knows
        private_ips = tuple(a.ip for a in eni.ipv4_addresses)
        ipv4_prefixes = tuple(
            r.source
            for r in eni.rules
            if isinstance(r.source, IPv4Network) and r.source.prefixlen < 32
        )
        ipv6_addresses = tuple(str(a.ip) for a in eni.ipv6_addresses)
        ipv6_prefixes = tuple(
            r.source
            for r in eni.rules
            if isinstance(r.source, IPv6Network) and r.source.prefixlen < 128
        )
        groups, attachment, description, source_dest_check = (), None, "", True
    return EniResource(
        name=name,
        eni_id=eni_id,
        attachment_id=None if attachment is None else values.resource_id("eni-attach", attachment),
        subnet_id=values.resource_id("subnet", eni.subnet_id),
        security_group_ids=groups,
        private_ips=private_ips,
        ipv4_prefixes=ipv4_prefixes,
        ipv6_addresses=ipv6_addresses,
        ipv6_prefixes=ipv6_prefixes,
        device_index=eni.device_index,
        network_card_index=eni.network_card_index,
        description=description,
        tags={values.tag_key(k): values.tag_value(v) for k, v in tags.items()},
        source_dest_check_was=source_dest_check,
        routed=eni.eni_id in plan.routed_eni_ids,
    )


def _eni_blocks(plan: InstancePlan, eni: EniResource) -> list[hcl.Block | hcl.Comment]:
    interface = hcl.reference("aws_network_interface", eni.name)
    attachment = hcl.reference("aws_network_interface_attachment", eni.name)
    body: list[hcl.BodyItem] = [hcl.Attribute("subnet_id", eni.subnet_id)]
    if eni.security_group_ids:
        body.append(hcl.Attribute("security_groups", list(eni.security_group_ids)))
    else:
        body.append(hcl.Comment("security groups unknown (not in the inventory): add them"))
    body.append(hcl.Blank())
    body.append(hcl.Comment("every private IPv4 address, the primary first: order matters"))
    body.append(hcl.Attribute("private_ip_list_enabled", True))
    body.append(hcl.Attribute("private_ip_list", [str(a) for a in eni.private_ips]))
    if eni.ipv4_prefixes:
        body.append(hcl.Attribute("ipv4_prefixes", [str(p) for p in eni.ipv4_prefixes]))
    if eni.ipv6_addresses:
        body.append(hcl.Attribute("ipv6_addresses", list(eni.ipv6_addresses)))
    if eni.ipv6_prefixes:
        body.append(hcl.Attribute("ipv6_prefixes", [str(p) for p in eni.ipv6_prefixes]))
    body.append(hcl.Blank())
    if not eni.source_dest_check:
        body.append(
            hcl.Comment(
                "kept disabled: a VPC route targets this ENI or its instance (NAT, router,\n"
                "firewall); turning the check on would drop the traffic it forwards"
            )
        )
    elif not eni.source_dest_check_was:
        body.append(
            hcl.Comment(
                "the check is disabled on this ENI now: policy routing makes that "
                "unnecessary,\nunless the instance routes for others (NAT, firewall)"
            )
        )
    body.append(hcl.Attribute("source_dest_check", eni.source_dest_check))
    if eni.description:
        body.append(hcl.Attribute("description", eni.description))
    if eni.tags:
        body.append(hcl.Attribute("tags", dict(sorted(eni.tags.items()))))
    body.append(hcl.Blank())
    body.append(
        hcl.Comment(
            "the provider's import leaves these two unset (its read never sets them): without\n"
            "this the import plans as a change of each ENI (in state only). To change the\n"
            "addresses later, remove this block in the same change."
        )
    )
    body.append(
        hcl.Block(
            "lifecycle",
            body=(
                hcl.Attribute(
                    "ignore_changes",
                    [hcl.Expr("private_ip_list_enabled"), hcl.Expr("ipv6_address_list_enabled")],
                ),
            ),
        )
    )
    blocks: list[hcl.Block | hcl.Comment] = [
        hcl.Comment(
            f"{eni.eni_id}: network card {eni.network_card_index}, device {eni.device_index}"
        ),
        hcl.Block("import", body=(hcl.Attribute("to", interface), hcl.Attribute("id", eni.eni_id))),
        hcl.Block("resource", ("aws_network_interface", eni.name), tuple(body)),
    ]
    if eni.attachment_id is not None:
        blocks.append(
            hcl.Block(
                "import",
                body=(hcl.Attribute("to", attachment), hcl.Attribute("id", eni.attachment_id)),
            )
        )
    else:
        blocks.append(
            hcl.Comment(
                "attachment ID unknown (not in the inventory): import it before applying,\n"
                f"terraform import aws_network_interface_attachment.{eni.name} eni-attach-..."
            )
        )
    blocks.append(
        hcl.Block(
            "resource",
            ("aws_network_interface_attachment", eni.name),
            (
                hcl.Attribute("instance_id", plan.instance_id),
                hcl.Attribute(
                    "network_interface_id", hcl.reference("aws_network_interface", eni.name, "id")
                ),
                hcl.Attribute("device_index", eni.device_index),
                # only where not 0: AWS provider 5.x has no such argument
                *(
                    (hcl.Attribute("network_card_index", eni.network_card_index),)
                    if eni.network_card_index
                    else ()
                ),
            ),
        )
    )
    return blocks


def enis_tf(plan: InstancePlan) -> str:
    enis = eni_resources(plan)
    header = hcl.Comment(
        f"Written by eniplan {base.marker(plan).split(' ', 2)[2]}\n"
        f"The secondary ENIs of {plan.instance_id}"
        + (f" ({visible(plan.name)})" if plan.name else "")
        + ", adopted with import blocks (Terraform 1.5+,\n"
        "AWS provider 6.11+). Read README.md before terraform apply."
    )
    items: list[hcl.Block | hcl.Comment | hcl.Blank] = [
        header,
        hcl.Blank(),
    ]
    for eni in enis:
        items.extend(_eni_blocks(plan, eni))
    return hcl.dumps(items)


def user_data_tf(plan: InstancePlan, user_data_file: str, gzipped: bool) -> str:
    local = f"eniplan_user_data_{instance_label(plan)}"
    function = "filebase64" if gzipped else "file"
    attribute = "user_data_base64" if gzipped else "user_data"
    path = hcl.template(hcl.reference("path", "module"), f"/{user_data_file}")
    return hcl.dumps(
        [
            hcl.Comment(
                f"The static cloud-init user data of {plan.instance_id}: per-ENI policy routing\n"
                "installed at every boot. Wire it into the instance's aws_instance:\n"
                "\n"
                f'  resource "aws_instance" "..." {{\n'
                f"    {attribute} = local.{local}\n"
                "    # false (the default): a change stops and starts the instance, and\n"
                "    # cloud-init does not run user data again on an existing instance;\n"
                "    # true replaces the instance.\n"
                "    user_data_replace_on_change = false\n"
                "  }\n"
                "\n"
                "On an instance that already runs, apply the routing once as well (README.md)."
                + (
                    "\nThe user data is gzip-compressed (over 16 KB): hence filebase64()."
                    if gzipped
                    else ""
                )
            ),
            hcl.Block("locals", body=(hcl.Attribute(local, hcl.call(function, path)),)),
        ]
    )


def readme(plan: InstancePlan, names: dict[str, str], enis: tuple[EniResource, ...]) -> str:
    checks_off = [
        eni.eni_id for eni in enis if eni.source_dest_check and not eni.source_dest_check_was
    ]
    kept_off = [eni.eni_id for eni in enis if not eni.source_dest_check]
    lines = [
        f"# eniplan: Terraform for {plan.instance_id}"
        + (f" ({visible(plan.name)})" if plan.name else ""),
        "",
        f"Written by `eniplan render --target terraform` ({base.marker(plan)[2:]}).",
        "",
        "| file | what |",
        "|---|---|",
        f"| `{names['enis']}` | `import` blocks, `aws_network_interface` and "
        "`aws_network_interface_attachment` for each secondary ENI |",
        f"| `{names['user_data_tf']}` | a `local` with the user data, and how to wire it |",
        f"| `{names['user_data']}` | the static cloud-init user data (per-ENI policy routing) |",
        "",
        "Copy the files into the **root module** (import blocks are allowed only there);",
        "Terraform 1.5 or newer, AWS provider "
        + (
            "6.11 or newer (`network_card_index` on `aws_network_interface_attachment`)."
            if any(eni.network_card_index for eni in enis)
            else "5.x or 6.x."
        ),
        "eniplan's tests plan such snippets with hashicorp/aws 5.100.0 (6.x is not tested).",
        "",
        "## Review before `terraform apply`",
        "",
        "1. `terraform plan` must show the ENIs and attachments as *imported* with no change",
        '   ("N to import, 0 to add, 0 to change, 0 to destroy"), or only the changes you want.',
        "   The provider's import leaves `private_ip_list_enabled` and",
        "   `ipv6_address_list_enabled` unset, so each ENI ignores changes to those two",
        "   (`lifecycle`); to change its addresses later, remove that block in the same change.",
        "   A replacement (`-/+`) of an ENI or attachment would detach it: stop and compare",
        "   the attributes with the AWS console.",
        "2. `source_dest_check = true` on every ENI that no VPC route targets: policy routing",
        "   makes a disabled check unnecessary. Keep it disabled only on a NAT, router or",
        "   firewall"
        + (f" (disabled now on {', '.join(checks_off)})." if checks_off else ".")
        + (
            f" Kept `false` on {', '.join(kept_off)}: a VPC route targets it or the instance."
            if kept_off
            else ""
        ),
        "3. `security_groups`, `private_ip_list` (order matters: the first is the primary",
        "   address), prefixes and IPv6 addresses are as they were read; the `tags` and",
        "   `description` are copied so that Terraform does not remove them.",
        "4. If the primary ENI or the instance is already managed by another configuration",
        "   or module, import nothing twice: one ENI, one owner.",
        "5. User data: cloud-init runs user data at the first boot only. On this running",
        "   instance, changing `user_data` stops and starts it (or replaces it with",
        "   `user_data_replace_on_change = true`) without running the new user data. Apply",
        "   the routing once by hand, e.g. with the `iproute2` target:",
        "",
        "   ```sh",
        "   # with the same inventory options as for this directory",
        f"   eniplan render --instance-id {plan.instance_id} --target iproute2 \\",
        "       > eniplan-routing.sh",
        "   ```",
        "",
        "   and keep the user data for the instances that replace this one.",
        "6. `terraform show -json` of the saved plan, checked by `eniplan check-plan`,",
        "   verifies the result: every ENI attached, the user data installing policy routing.",
        "",
    ]
    return "\n".join(lines)


def render(plan: InstancePlan, options: base.RenderOptions) -> base.Rendering:
    """Static: the ENIs as the inventory has them; `options.persist` chooses how the
    cloud-init user data makes the routing persistent."""
    enis = eni_resources(plan)
    user_data = cloudinit.render(
        plan,
        base.RenderOptions(persist=options.persist, replace_user_data=options.replace_user_data),
    )
    (user_data_file,) = user_data.files
    gzipped = isinstance(user_data_file.content, bytes)
    names = file_names(plan.instance_id, gzipped)
    return base.Rendering(
        target=TARGET,
        instance_id=plan.instance_id,
        files=(
            base.RenderedFile(names["enis"], enis_tf(plan)),
            base.RenderedFile(
                names["user_data_tf"], user_data_tf(plan, names["user_data"], gzipped)
            ),
            base.RenderedFile(names["user_data"], user_data_file.content, 0o644),
            base.RenderedFile(names["readme"], readme(plan, names, enis)),
        ),
        notes=(
            *user_data.notes,
            *(
                f"{eni.eni_id}: source_dest_check kept false: a VPC route targets the ENI or "
                "the instance (NAT, router, firewall)"
                for eni in enis
                if not eni.source_dest_check
            ),
            "copy the files into the root module; review README.md before terraform apply",
        ),
    )
