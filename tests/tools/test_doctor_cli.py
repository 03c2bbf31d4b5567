"""The doctor's IMDSv2 reader against a fake IMDS over loopback HTTP: a token first and on
every request, giving up when IMDS is unreachable, interfaces tied to their ENIs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eniplan.doctor import host
from eniplan.lab.imds import MACS, TOKEN_PATH
from tests.helpers.fake_imds import FakeImds

INTERFACES = {
    "02:00:00:00:00:02": {
        "device-number": "0",
        "interface-id": "eni-0123456789abcdef0",
        "local-ipv4s": "10.0.0.10\n",
        "subnet-ipv4-cidr-block": "10.0.0.0/24",
    },
    "02:00:00:00:00:03": {
        "device-number": "1",
        "network-card": "0",
        "interface-id": "eni-0fedcba9876543210",
        "local-ipv4s": "10.0.0.20\n10.0.0.21",
        "subnet-ipv4-cidr-block": "10.0.0.0/24",
        "ipv6s": "2001:db8::20",
    },
}
TREE = {
    "instance-id": "i-0123456789abcdef0",
    **{
        f"{MACS}{mac}/{key}": value
        for mac, fields in INTERFACES.items()
        for key, value in fields.items()
    },
}


@pytest.fixture
def fake_imds() -> Iterator[FakeImds]:
    with FakeImds(TREE) as imds:
        yield imds


def test_imds_v2_token_first_and_on_every_request(fake_imds: FakeImds) -> None:
    fetch = host.imds_fetcher([fake_imds.url])
    assert fetch is not None
    info = host.read_imds(fetch)
    assert info.instance_id == "i-0123456789abcdef0"
    assert [(e.mac, e.device_number) for e in info.enis] == [
        ("02:00:00:00:00:02", 0),
        ("02:00:00:00:00:03", 1),
    ]
    second = info.enis[1]
    assert [str(a) for a in second.local_ipv4s] == ["10.0.0.20", "10.0.0.21"]
    assert str(second.subnet_ipv4) == "10.0.0.0/24" and second.interface_id
    method, path, _ = fake_imds.requests[0]
    assert (method, path) == ("PUT", TOKEN_PATH)
    gets = [headers for method, _, headers in fake_imds.requests if method == "GET"]
    assert gets and all(h.get("x-aws-ec2-metadata-token") in fake_imds.tokens for h in gets)


def test_imds_unreachable_gives_up() -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert host.imds_fetcher([f"http://127.0.0.1:{port}"], timeout=0.5) is None


def test_imds_ties_interfaces_to_enis_and_finds_missing_addresses(
    fake_imds: FakeImds,
) -> None:
    from eniplan.doctor import iptext
    from eniplan.doctor.model import HostState
    from eniplan.doctor.verdicts import diagnose

    addr = (
        "2: ens5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 state UP\n"
        "    link/ether 02:00:00:00:00:02 brd ff:ff:ff:ff:ff:ff\n"
        "    inet 10.0.0.10/24 brd 10.0.0.255 scope global ens5\n"
        "       valid_lft forever preferred_lft forever\n"
        "3: ens6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 state UP\n"
        "    link/ether 02:00:00:00:00:03 brd ff:ff:ff:ff:ff:ff\n"
        "    inet 10.0.0.20/24 brd 10.0.0.255 scope global ens6\n"
        "       valid_lft forever preferred_lft forever\n"
        "4: docker0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP\n"
        "    link/ether 02:42:00:00:00:01 brd ff:ff:ff:ff:ff:ff\n"
        "    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\n"
        "       valid_lft forever preferred_lft forever\n"
    )
    routes = "default via 10.0.0.1 dev ens5\n10.0.0.0/24 dev ens5\n10.0.0.0/24 dev ens6\n"
    state = HostState(
        links=iptext.parse_addr(addr, "addr"),
        rules=iptext.parse_rules("0:\tfrom all lookup local\n32766:\tfrom all lookup main\n", "r"),
        routes=iptext.parse_routes(routes, "routes"),
    )
    fetch = host.imds_fetcher([fake_imds.url])
    assert fetch is not None
    diagnosis = diagnose(state, host.read_imds(fetch))
    assert [i.name for i in diagnosis.interfaces] == ["ens5", "ens6"]
    assert ("docker0", "not an ENI (its MAC is not in the instance metadata)") in (
        diagnosis.skipped_links
    )
    missing = [f for f in diagnosis.findings if f.rule_id == "ENI105"]
    assert len(missing) == 1 and missing[0].details["missing"] == ["10.0.0.21", "2001:db8::20"]
    assert missing[0].eni_ids == ("eni-0fedcba9876543210",)
    assert all(f.instance_id == "i-0123456789abcdef0" for f in diagnosis.findings)
