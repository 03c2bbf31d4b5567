"""The inventory as people and machines read it: rich tables, and JSON."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from eniplan import __version__
from eniplan.model import Eni, Instance, Inventory
from eniplan.terminal import visible

INVENTORY_JSON_VERSION = 1


# --- JSON ------------------------------------------------------------------------------


def eni_json(eni: Eni, inventory: Inventory) -> dict[str, Any]:
    subnet = inventory.subnets.get(eni.subnet_id)
    return {
        "eni_id": eni.eni_id,
        "mac": eni.mac,
        "network_card_index": eni.network_card_index,
        "device_index": eni.device_index,
        "subnet_id": eni.subnet_id,
        "subnet_cidr": str(subnet.cidr) if subnet and subnet.cidr else None,
        "subnet_ipv6_cidrs": [str(c) for c in subnet.ipv6_cidrs] if subnet else [],
        "router": str(subnet.router) if subnet and subnet.router else None,
        "vpc_id": eni.vpc_id,
        "primary_ipv4": str(eni.primary_ipv4) if eni.primary_ipv4 else None,
        "secondary_ipv4s": [str(a) for a in eni.secondary_ipv4s],
        "ipv4_prefixes": [str(p) for p in eni.ipv4_prefixes],
        "ipv6_addresses": [str(a) for a in eni.ipv6_addresses],
        "ipv6_prefixes": [str(p) for p in eni.ipv6_prefixes],
        "source_dest_check": eni.source_dest_check,
        "interface_type": eni.interface_type,
        "description": eni.description,
        "requester_managed": eni.requester_managed,
        "status": eni.status,
        "tags": dict(eni.tags),
    }


def instance_json(instance: Instance, inventory: Inventory) -> dict[str, Any]:
    image = inventory.image(instance)
    return {
        "instance_id": instance.instance_id,
        "name": instance.name,
        "account_id": instance.account_id,
        "region": instance.region,
        "availability_zone": instance.availability_zone,
        "instance_type": instance.instance_type,
        "state": instance.state,
        "vpc_id": instance.vpc_id,
        "source_dest_check": instance.source_dest_check,
        "image": {
            "image_id": instance.image_id,
            "known": image is not None,
            "name": image.name if image else None,
            "description": image.description if image else None,
            "platform_details": (image.platform_details if image else "")
            or instance.platform_details,
        },
        "tags": dict(instance.tags),
        "enis": [eni_json(eni, inventory) for eni in instance.enis],
    }


def inventory_json(inventory: Inventory) -> dict[str, Any]:
    return {
        "eniplan_version": __version__,
        "schema_version": INVENTORY_JSON_VERSION,
        "partial": inventory.partial,
        "problems": [
            {"account": p.account, "region": p.region, "code": p.code, "message": p.message}
            for p in inventory.problems
        ],
        "instances": [instance_json(i, inventory) for i in inventory.instances],
        "summary": summary(inventory),
    }


def summary(inventory: Inventory) -> dict[str, int]:
    return {
        "instances": len(inventory.instances),
        "multi_eni_instances": sum(1 for i in inventory.instances if len(i.enis) > 1),
        "enis": sum(len(i.enis) for i in inventory.instances),
        "subnets": len(inventory.subnets),
        "accounts": len({i.account_id for i in inventory.instances}),
        "regions": len({(i.account_id, i.region) for i in inventory.instances}),
    }


def summary_line(inventory: Inventory) -> str:
    counts = summary(inventory)
    text = (
        f"{counts['instances']} instances ({counts['multi_eni_instances']} with several ENIs), "
        f"{counts['enis']} ENIs, {counts['subnets']} subnets"
    )
    if inventory.partial:
        text += f"; partial: {len(inventory.problems)} account/region(s) could not be read"
    return text


# --- tables ----------------------------------------------------------------------------


def _addresses(eni: Eni) -> str:
    parts = [str(eni.primary_ipv4)] if eni.primary_ipv4 else []
    parts += [str(a) for a in eni.secondary_ipv4s]
    parts += [f"{p} (prefix)" for p in eni.ipv4_prefixes]
    parts += [str(a) for a in eni.ipv6_addresses]
    parts += [f"{p} (prefix)" for p in eni.ipv6_prefixes]
    return ", ".join(parts)


def _subnet(eni: Eni, inventory: Inventory) -> str:
    subnet = inventory.subnets.get(eni.subnet_id)
    if subnet is None:
        return eni.subnet_id
    cidr = str(subnet.cidr) if subnet.cidr else "IPv6-only"
    name = subnet.tags.get("Name")
    return f"{cidr} ({visible(name)})" if name else cidr


_COLUMNS = ("  card:dev", "ENI", "MAC", "subnet", "addresses", "src/dst")


def _eni_cells(eni: Eni, inventory: Inventory) -> tuple[str, str, str, str, str, Text]:
    device = "-" if eni.device_index is None else str(eni.device_index)
    check = Text("on") if eni.source_dest_check else Text("OFF", style="bold yellow")
    kind = [] if eni.interface_type == "interface" else [visible(eni.interface_type)]
    kind += ["requester-managed"] if eni.requester_managed else []
    eni_text = eni.eni_id + (f" ({', '.join(kind)})" if kind else "")
    return (
        f"  {eni.network_card_index}:{device}",
        eni_text,
        eni.mac,
        _subnet(eni, inventory),
        _addresses(eni),
        check,
    )


def eni_table(instance: Instance, inventory: Inventory, width: int | None = None) -> RenderableType:
    """The instance's ENIs: one row each when the row fits `width`; otherwise one block
    each (IDs, MAC and check on a line, then the subnet and the addresses, wrapped between
    addresses), so nothing is cut or dropped in a narrow terminal."""
    rows = [_eni_cells(eni, inventory) for eni in instance.enis]
    widths = [
        max([len(_COLUMNS[n])] + [len(str(row[n])) for row in rows]) for n in range(len(_COLUMNS))
    ]
    if width is None or sum(widths) + 2 * (len(widths) - 1) <= width:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in _COLUMNS:
            table.add_column(column, no_wrap=True)
        for row in rows:
            table.add_row(*row)
        return table
    blocks = Table.grid(padding=(0, 1))
    blocks.add_column(no_wrap=True)
    blocks.add_column(overflow="fold")
    for position, slot, eni_id, mac, subnet, addresses, check in (
        (n, *row) for n, row in enumerate(rows)
    ):
        line = Text(f"{eni_id}  {mac}  src/dst ")
        line.append_text(check)
        if position:
            blocks.add_row("", "")
        blocks.add_row(slot, line)
        blocks.add_row("", Text(f"subnet {subnet}"))
        blocks.add_row("", Text(addresses or "no address", style="" if addresses else "dim"))
    return blocks


def instance_heading(instance: Instance, inventory: Inventory) -> Text:
    image = inventory.image(instance)
    image_text = (
        visible(image.name) if image and image.name else f"{instance.image_id} (unknown image)"
    )
    heading = Text()
    heading.append(visible(instance.name or instance.instance_id), style="bold")
    if instance.name:
        heading.append(f" {instance.instance_id}")
    heading.append(f"  {instance.instance_type}, {instance.state}, {image_text}", style="dim")
    if not instance.source_dest_check:
        heading.append("  source/dest check OFF", style="bold yellow")
    return heading


def print_inventory(
    console: Console, inventory: Inventory, notes: dict[str, str] | None = None
) -> None:
    """Instance by instance, grouped by account and region."""
    notes = notes or {}
    if not inventory.instances:
        console.print("No instances matched.")
    for (account, region), group in groupby(
        inventory.instances, key=lambda i: (i.account_id, i.region)
    ):
        console.rule(f"account {account}  region {region}", style="dim")
        for instance in group:
            console.print(instance_heading(instance, inventory))
            if instance.instance_id in notes:
                console.print(Text(f"  {visible(notes[instance.instance_id])}", style="italic"))
            console.print(eni_table(instance, inventory, console.width))
            console.print()
    console.print(summary_line(inventory))
