"""The lab's IMDS over loopback HTTP: IMDSv2 semantics and the instance's tree."""

from __future__ import annotations

from eniplan.lab.imds import MetadataServer, metadata_tree
from eniplan.model import Inventory
from tests.helpers.builders import instance_named


def test_the_lab_imds_serves_the_instance_with_imdsv2(sandbox_inventory: Inventory) -> None:
    instance = instance_named(sandbox_inventory, "multi-subnet")
    tree = metadata_tree(instance, sandbox_inventory)
    with MetadataServer(tree) as imds:
        import urllib.error
        import urllib.request

        def call(method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
            request = urllib.request.Request(imds.url + path, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, ""

        assert call("GET", "/latest/meta-data/instance-id", {})[0] == 401
        assert call("PUT", "/latest/api/token", {})[0] == 400
        ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
        status, token = call("PUT", "/latest/api/token", ttl)
        assert status == 200
        auth = {"X-aws-ec2-metadata-token": token}
        assert call("GET", "/latest/meta-data/instance-id", auth) == (200, instance.instance_id)
        status, listing = call("GET", "/latest/meta-data/network/interfaces/macs/", auth)
        assert status == 200
        assert sorted(listing.split()) == sorted(f"{eni.mac}/" for eni in instance.enis)
