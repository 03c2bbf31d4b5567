"""`eniplan doctor` as users meet it: captured files, live in a network namespace, IMDSv2,
exit codes, JSON, one-line errors."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cli_runner import assert_one_line_error, run
from netns import Namespace, requires_netns

from eniplan.sources import host

FIXTURES = Path(__file__).parent / "fixtures" / "doctor"


def captured(rules: str, routes: str, addr: str = "seed000-addr.txt") -> list[str]:
    return [
        "doctor",
        "--ip-addr",
        str(FIXTURES / addr),
        "--ip-rule",
        str(FIXTURES / rules),
        "--ip-route",
        str(FIXTURES / routes),
    ]


def test_seed_without_policy_routing_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(captured("seed000-rule-before.txt", "seed000-route-before.txt"), capsys)
    assert code == 1
    assert "10.0.0.254/24" in out and "FAIL" in out and "ENI101" in out
    assert "asymmetricroute" in out and "[FAILURE]" in out
    code, _, _ = run(
        [*captured("seed000-rule-before.txt", "seed000-route-before.txt"), "--fail-on", "never"],
        capsys,
    )
    assert code == 0


def test_seed_fixed_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = [*captured("seed000-rule-fixed.txt", "seed000-route-fixed.txt"), "--format", "json"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    document = json.loads(out)
    assert document["command"] == "doctor"
    by_address = {a["address"]: a for a in document["addresses"]}
    eth1 = by_address["10.0.0.254/24"]
    assert eth1["verdict"] == "ok" and eth1["toward_internet"]["dev"] == "eth1"
    assert eth1["toward_internet"]["table"] == "200"
    assert eth1["toward_peer"]["destination"] == "10.0.0.4"
    assert document["parity"]["status"] == "SUCCESS"
    assert document["summary"]["failing"] == 0
    # -o writes the same document atomically
    target = tmp_path / "doctor.json"
    code, out, _ = run([*argv, "-o", str(target)], capsys)
    assert code == 0 and out == "" and json.loads(target.read_text()) == document


def test_typo_in_the_article_fix_is_caught(capsys: pytest.CaptureFixture[str]) -> None:
    """Seed 000's rules name 10.0.0.100/.200, not the addresses: tables 100/200 are empty."""
    argv = [*captured("seed000-rule-typo.txt", "seed000-route-before.txt"), "--format", "json"]
    code, out, _ = run(argv, capsys)
    assert code == 1
    findings = json.loads(out)["findings"]
    assert {"ENI101", "ENI102"} <= {f["rule_id"] for f in findings}
    stray = sorted(f["details"]["address"] for f in findings if f["rule_id"] == "ENI107")
    assert stray == ["10.0.0.100", "10.0.0.200"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "empty"),
        ("eth0      Link encap:Ethernet  HWaddr 0e:1a:37:16:c5:22\n", "line 1"),
        ("default via 10.0.0.1 dev eth0\n10.0.0.0/24 dev eth0 proto ker", "line 2"),
    ],
)
def test_bad_route_file_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, fragment: str
) -> None:
    bad = tmp_path / "route.txt"
    bad.write_text(content)
    argv = [
        "doctor",
        "--ip-addr",
        str(FIXTURES / "seed000-addr.txt"),
        "--ip-rule",
        str(FIXTURES / "seed000-rule-before.txt"),
        "--ip-route",
        str(bad),
    ]
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, str(bad), fragment)


def test_ipv6_rules_in_a_second_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rule6 = tmp_path / "rule6.txt"
    rule6.write_text("0:\tfrom all lookup local\n32766:\tfrom all lookup main\n")
    argv = [*captured("seed000-rule-fixed.txt", "seed000-route-fixed.txt"), "--format", "json"]
    code, out, _ = run([*argv, "--ip-rule", str(rule6)], capsys)
    assert code == 0
    document = json.loads(out)
    assert sorted({(r["family"], r["priority"]) for r in document["rules"]})[-2:] == [
        (6, 0),
        (6, 32766),
    ]
    assert not any("IPv6 rules" in note for note in document["notes"])
    code, _, err = run([*argv, "--ip-rule", str(FIXTURES / "seed000-rule-fixed.txt")], capsys)
    assert_one_line_error(code, err, "IPv4 rules given twice")


def test_captured_needs_all_three(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["doctor", "--ip-addr", str(FIXTURES / "seed000-addr.txt")], capsys)
    assert_one_line_error(code, err, "--ip-route")
    code, _, err = run(captured("missing.txt", "seed000-route-before.txt"), capsys)
    assert_one_line_error(code, err, "missing.txt")


# --- live, in a network namespace ------------------------------------------------------


@requires_netns
@pytest.mark.netns
def test_live_in_a_namespace_before_and_after_policy_routing() -> None:
    """The doctor reads `ip -j` in a namespace (run through `ip netns exec`), and its
    verdict changes when per-ENI routing is applied."""
    import subprocess

    with Namespace("eniplan-doc") as ns:
        for name, address in (("ens5", "10.0.0.10/24"), ("ens6", "10.0.0.20/24")):
            ns.run("ip", "link", "add", name, "type", "veth", "peer", "name", f"p{name}")
            ns.run("ip", "link", "set", f"p{name}", "up")
            ns.run("ip", "link", "set", name, "up")
            ns.run("ip", "addr", "add", address, "brd", "+", "dev", name)  # as DHCP does
        ns.run("ip", "route", "add", "default", "via", "10.0.0.1", "dev", "ens5")

        def doctor() -> tuple[int, dict[str, Any]]:
            result = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns.name,
                    sys.executable,
                    "-m",
                    "eniplan",
                    "doctor",
                    "--no-imds",
                    "--format",
                    "json",
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
                cwd=Path(__file__).resolve().parent.parent,
            )
            assert result.returncode in (0, 1), result.stderr
            return result.returncode, json.loads(result.stdout)

        code, before = doctor()
        assert code == 1
        verdicts = {a["interface"]: a["verdict"] for a in before["addresses"]}
        assert verdicts == {"ens5": "ok", "ens6": "fail"}
        assert before["parity"]["status"] == "FAILURE"
        ns.run("ip", "route", "add", "default", "via", "10.0.0.1", "dev", "ens6", "table", "10001")
        ns.run("ip", "route", "add", "10.0.0.0/24", "dev", "ens6", "table", "10001")
        ns.run("ip", "rule", "add", "from", "10.0.0.20", "lookup", "10001", "priority", "10001")
        code, after = doctor()
        assert code == 0, after["findings"]
        owners = {r["priority"]: r["owner"] for r in after["rules"] if r["family"] == 4}
        assert owners[10001] == "amazon-ec2-net-utils"  # its layout: table = priority = 10001


# --- IMDSv2 ------------------------------------------------------------------------------

TOKEN = "AQAEAFakeToken=="
MACS = {
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


class FakeImds(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, dict[str, str]]]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: str = "") -> None:
        self.send_response(code)
        self.end_headers()
        self.wfile.write(body.encode())

    def do_PUT(self) -> None:
        self.requests.append(("PUT", self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path == "/latest/api/token" and self.headers.get(
            "X-aws-ec2-metadata-token-ttl-seconds"
        ):
            self._send(200, TOKEN)
        else:
            self._send(400)

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            self._send(401)  # IMDSv2 only: no token, no data
            return
        path = self.path.removeprefix("/latest/meta-data/")
        if path == "instance-id":
            self._send(200, "i-0123456789abcdef0")
        elif path == "network/interfaces/macs/":
            self._send(200, "".join(f"{mac}/\n" for mac in MACS))
        elif path.startswith("network/interfaces/macs/"):
            mac, _, key = path.removeprefix("network/interfaces/macs/").partition("/")
            value = MACS.get(mac, {}).get(key)
            self._send(200, value) if value is not None else self._send(404)
        else:
            self._send(404)


@pytest.fixture
def fake_imds() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), FakeImds)
    FakeImds.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_imds_v2_token_first_and_on_every_request(fake_imds: str) -> None:
    fetch = host.imds_fetcher([fake_imds])
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
    method, path, _ = FakeImds.requests[0]
    assert (method, path) == ("PUT", "/latest/api/token")
    gets = [headers for method, _, headers in FakeImds.requests if method == "GET"]
    assert gets and all(h.get("x-aws-ec2-metadata-token") == TOKEN for h in gets)


def test_imds_unreachable_gives_up_quickly() -> None:
    import socket
    import time

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    assert host.imds_fetcher([f"http://127.0.0.1:{port}"], timeout=0.5) is None
    assert time.monotonic() - started < 3


def test_imds_ties_interfaces_to_enis_and_finds_missing_addresses(fake_imds: str) -> None:
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
    fetch = host.imds_fetcher([fake_imds])
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


def test_no_ip_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from eniplan.errors import InputError

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="iproute2"):
        host.capture_live()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("local-ipv4s", "10.0.0.20\n10.0.0.1;reboot"),
        ("interface-id", "eni-$(id)"),
        ("subnet-ipv4-cidr-block", "10.0.0.0/33"),
        ("device-number", "1x"),
    ],
)
def test_imds_values_are_validated(key: str, value: str) -> None:
    from eniplan.errors import InputError

    mac = "02:00:00:00:00:03"
    data = {"network/interfaces/macs/": f"{mac}/", f"network/interfaces/macs/{mac}/{key}": value}
    with pytest.raises(InputError, match=f"IMDS {mac}/{key}"):
        host.read_imds(data.get)


# --- captures in any order: the family of every line from its content ----------------------

WG_ADDR = (
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default\n"
    "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
    "    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n"
    "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP group default\n"
    "    link/ether 02:00:00:00:00:02 brd ff:ff:ff:ff:ff:ff\n"
    "    inet 10.0.0.10/24 brd 10.0.0.255 scope global eth0\n"
    "       valid_lft forever preferred_lft forever\n"
    "    inet6 2001:db8::10/64 scope global \n       valid_lft forever preferred_lft forever\n"
    "3: wg0: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1420 qdisc noqueue state UNKNOWN group default\n"
    "    link/none \n"
    "    inet 10.9.0.2/32 scope global wg0\n       valid_lft forever preferred_lft forever\n"
)
# wg-quick: its IPv4 rules name no address, nor do the kernel's IPv6 rules
WG_RULE4 = (
    "0:\tfrom all lookup local\n32764:\tfrom all lookup main suppress_prefixlength 0\n"
    "32765:\tnot from all fwmark 0xca6c lookup 51820\n32766:\tfrom all lookup main\n"
    "32767:\tfrom all lookup default\n"
)
WG_RULE6 = "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n"
WG_ROUTE6 = (
    "2001:db8::/64 dev eth0 proto kernel metric 256 pref medium\n"
    "default via fe80::1 dev eth0 proto ra metric 1024 pref medium\n"
)
WG_ROUTE4 = (
    "default dev wg0 table 51820 scope link \n"
    "default via 10.0.0.1 dev eth0 \n10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.10 \n"
)


def test_captures_in_any_order_give_the_same_verdicts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = {
        "addr": WG_ADDR,
        "r4": WG_RULE4,
        "r6": WG_RULE6,
        "r46": WG_RULE4 + WG_RULE6,
        "r64": WG_RULE6 + WG_RULE4,
        "t46": WG_ROUTE4 + WG_ROUTE6,
        "t64": WG_ROUTE6 + WG_ROUTE4,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    def verdicts(rules: list[str], routes: list[str]) -> dict[str, Any]:
        argv = ["doctor", "--ip-addr", str(tmp_path / "addr"), "--format", "json"]
        argv += [word for r in rules for word in ("--ip-rule", str(tmp_path / r))]
        argv += [word for r in routes for word in ("--ip-route", str(tmp_path / r))]
        code, out, err = run(argv, capsys)
        assert code in (0, 1), err
        document = json.loads(out)
        return {
            a["address"]: (a["verdict"], a["toward_internet"]["dev"], a["toward_internet"]["table"])
            for a in document["addresses"]
        }

    expected = verdicts(["r4", "r6"], ["t46"])
    # IPv4 to the internet goes through wg-quick's table 51820 (wg0), IPv6 through main
    assert expected["10.0.0.10/24"][1:] == ("wg0", "51820")
    assert expected["2001:db8::10/64"][1:] == ("eth0", "main")
    for rules, routes in (
        (["r6", "r4"], ["t64"]),
        (["r46"], ["t64"]),
        (["r64"], ["t46"]),
        (["r64"], ["t64"]),
    ):
        assert verdicts(rules, routes) == expected, (rules, routes)


def test_readme_capture_recipe_has_no_duplicates() -> None:
    """`ip route show table all` prints both families on iproute2 4.x and newer: the
    README's recipe must not append `ip -6 route show table all` to it as well."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### `eniplan doctor`") :]
    section = section[: section.index("\n### ")]
    assert "ip route show table all" in section
    assert "ip -6 route show table all >>" not in section


TWO_DEFAULTS_ADDR = (
    "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP group default\n"
    "    link/ether 02:00:00:00:00:02 brd ff:ff:ff:ff:ff:ff\n"
    "    inet 10.0.0.10/24 brd 10.0.0.255 scope global eth0\n"
    "       valid_lft forever preferred_lft forever\n"
    "3: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP group default\n"
    "    link/ether 02:00:00:00:00:03 brd ff:ff:ff:ff:ff:ff\n"
    "    inet 10.1.0.10/24 brd 10.1.0.255 scope global eth1\n"
    "       valid_lft forever preferred_lft forever\n"
)
TWO_DEFAULTS_ROUTE = (
    "default via 10.0.0.1 dev eth0 \ndefault via 10.1.0.1 dev eth1 \n"
    "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.10 \n"
    "10.1.0.0/24 dev eth1 proto kernel scope link src 10.1.0.10 \n"
)


def test_ip_neigh_decides_between_equal_defaults(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "addr").write_text(TWO_DEFAULTS_ADDR)
    (tmp_path / "rule").write_text(WG_RULE4)
    (tmp_path / "route").write_text(TWO_DEFAULTS_ROUTE)
    (tmp_path / "neigh").write_text(
        "10.0.0.1 dev eth0 FAILED \n10.1.0.1 dev eth1 lladdr 02:00:00:00:01:01 REACHABLE \n"
    )
    argv = ["doctor", "--ip-addr", str(tmp_path / "addr"), "--ip-rule", str(tmp_path / "rule")]
    argv += ["--ip-route", str(tmp_path / "route"), "--format", "json", "--fail-on", "never"]

    def internet(*extra: str) -> dict[str, tuple[str, str]]:
        code, out, err = run([*argv, *extra], capsys)
        assert code == 0, err
        return {
            a["address"]: (a["toward_internet"]["status"], a["toward_internet"]["dev"])
            for a in json.loads(out)["addresses"]
        }

    # without `ip neigh`: the kernel takes eth0's gateway unless its neighbour failed
    assert internet() == {"10.0.0.10/24": ("depends", "eth0"), "10.1.0.10/24": ("depends", "eth0")}
    # with it: 10.0.0.1 FAILED, so every reply leaves through eth1
    assert internet("--ip-neigh", str(tmp_path / "neigh")) == {
        "10.0.0.10/24": ("fail", "eth1"),
        "10.1.0.10/24": ("ok", "eth1"),
    }
    (tmp_path / "bad").write_text("10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 SHINY\n")
    code, _, err = run([*argv, "--ip-neigh", str(tmp_path / "bad")], capsys)
    assert_one_line_error(code, err, "bad: line 1", "SHINY")
