"""`eniplan doctor` as users meet it, on captured files: exit codes, JSON, one-line errors,
IMDS values checked, captures in any order (live: tests/kernel; IMDS over HTTP: tests/tools)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from eniplan.doctor import host
from tests import helpers
from tests.helpers import REPO
from tests.helpers.cli_runner import assert_one_line_error, run

FIXTURES = helpers.FIXTURES / "doctor"


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
    readme = (REPO / "README.md").read_text()
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
