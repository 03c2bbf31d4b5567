"""Security groups and attachment IDs of ENIs (what the terraform target writes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eniplan.sources.files import read_inventory_paths
from eniplan.sources.shapes import build_inventory
from tests.helpers.awscli import ENIS, copy_region, load, write


def test_groups_and_attachment_ids_are_read(tmp_path: Path) -> None:
    directory = copy_region(tmp_path)
    inventory = build_inventory(read_inventory_paths([str(directory)]))
    for item in load(ENIS)["NetworkInterfaces"]:
        eni = inventory.enis[item["NetworkInterfaceId"]]
        assert eni.security_group_ids == tuple(g["GroupId"] for g in item.get("Groups", []))
        attachment = (item.get("Attachment") or {}).get("AttachmentId")
        if attachment and attachment.startswith("eni-attach-"):
            assert eni.attachment_id == attachment
        else:
            assert eni.attachment_id is None  # no attachment, or a service's (ela-attach-)
    assert any(eni.security_group_ids for eni in inventory.enis.values())
    assert any(eni.attachment_id for eni in inventory.enis.values())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Groups", [{"GroupId": "sg-1; rm -rf /", "GroupName": "x"}]),
        ("Groups", [{"GroupName": "no-id"}]),
        ("Attachment", {"AttachmentId": "eni-attach-${x}", "DeviceIndex": 1}),
    ],
)
def test_bad_groups_and_attachment_ids_are_refused(
    tmp_path: Path, field: str, value: object
) -> None:
    directory = copy_region(tmp_path)
    document = load(ENIS)
    document["NetworkInterfaces"][0][field] = value
    write(directory / f"{ENIS}.json", document)
    inventory = build_inventory(read_inventory_paths([str(directory)]))
    # that ENI is left out (and the instance that needs it), named by file and field
    assert re.search(rf"NetworkInterfaces\[0\]\.{field}", inventory.rejected[0])
    assert document["NetworkInterfaces"][0]["NetworkInterfaceId"] not in inventory.enis
