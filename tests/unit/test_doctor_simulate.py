"""The routing simulator and the verdicts on hand-made hosts: each case is one behaviour
of Linux policy routing, or one weakness of EC2Rescue's asymmetricroute that the doctor
must not repeat. (test_doctor_kernel.py checks the simulator against the real kernel.)"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eniplan.doctor import ec2rescue, iptext
from eniplan.doctor.host import routes_with_local
from eniplan.doctor.model import HostState
from eniplan.doctor.simulate import (
    BLACKHOLED,
    NO_ROUTE,
    PROHIBITED,
    ROUTE_UNREACHABLE,
    ROUTED,
    Flow,
    decide,
)
from eniplan.doctor.verdicts import DEPENDS, FAIL, OK, diagnose
from tests.helpers import FIXTURES


def host(
    links: list[tuple[str, list[str], int]], rules: str, routes: str, rules6: str = ""
) -> HostState:
    """links: (name, ["10.0.0.5/24 brd 10.0.0.255", "2001:db8::5/64", ...], group)."""
    lines = []
    for index, (name, addresses, group) in enumerate(links, 2):
        lines.append(
            f"{index}: {name}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP "
            f"group {group} qlen 1000"
        )
        lines.append(f"    link/ether 02:00:00:00:00:{index:02x} brd ff:ff:ff:ff:ff:ff")
        for address in addresses:
            family = "inet6" if ":" in address.split()[0] else "inet"
            label = f" {name}" if family == "inet" else ""
            lines.append(f"    {family} {address} scope global{label}")
            lines.append("       valid_lft forever preferred_lft forever")
    addr_text = "\n".join(lines) + "\n"
    defaults = "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n"
    rule_text = defaults + rules + "32767:\tfrom all lookup default\n"
    rule6_text = defaults + rules6
    parsed_links = iptext.parse_addr(addr_text, "addr")
    parsed_rules = iptext.parse_rules(_sorted(rule_text), "rule") + tuple(
        r.__class__(**{**r.__dict__, "family": 6})
        for r in iptext.parse_rules(_sorted(rule6_text), "rule6")
    )
    parsed_routes = iptext.parse_routes(routes, "route") if routes.strip() else ()
    return HostState(
        links=parsed_links,
        rules=parsed_rules,
        routes=routes_with_local(parsed_links, parsed_routes),
        raw_addr_text=addr_text,
        raw_rule_text=_sorted(rule_text),
    )


def _sorted(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    lines.sort(key=lambda line: int(line.split(":")[0]))
    return "\n".join(lines) + "\n"


def where(state: HostState, dst: str, src: str | None = None, **flow: object) -> tuple[object, ...]:
    decision = decide(state, Flow(ip_address(dst), ip_address(src) if src else None, **flow))  # type: ignore[arg-type]
    return (decision.outcome, decision.dev, decision.table)


SAME_SUBNET = [
    ("eth0", ["10.0.0.10/24 brd 10.0.0.255"], 0),
    ("eth1", ["10.0.0.20/24 brd 10.0.0.255"], 0),
]
MAIN = (
    "default via 10.0.0.1 dev eth0\n"
    "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.10\n"
    "10.0.0.0/24 dev eth1 proto kernel scope link src 10.0.0.20\n"
)
TABLE_101 = "default via 10.0.0.1 dev eth1 table 101\n10.0.0.0/24 dev eth1 table 101\n"


def test_main_table_only_sends_everything_out_of_eth0() -> None:
    state = host(SAME_SUBNET, "", MAIN)
    assert where(state, "8.8.8.8", "10.0.0.20") == (ROUTED, "eth0", "main")
    # equal prefix and metric: the first route listed wins, as in the kernel
    assert where(state, "10.0.0.50", "10.0.0.20") == (ROUTED, "eth0", "main")
    diagnosis = diagnose(state)
    assert {f.rule_id for f in diagnosis.findings} == {"ENI101", "ENI102"}
    assert [v.status for v in diagnosis.addresses] == [OK, FAIL]


def test_per_eni_table_fixes_it() -> None:
    state = host(SAME_SUBNET, "100:\tfrom 10.0.0.20 lookup 101\n", MAIN + TABLE_101)
    assert where(state, "8.8.8.8", "10.0.0.20") == (ROUTED, "eth1", "101")
    assert where(state, "10.0.0.50", "10.0.0.20") == (ROUTED, "eth1", "101")
    assert where(state, "8.8.8.8") == (ROUTED, "eth0", "main")  # unbound traffic unchanged
    diagnosis = diagnose(state)
    assert not [f for f in diagnosis.findings if f.severity == "high"]
    assert diagnosis.parity is not None and diagnosis.parity.status == "SUCCESS"


def test_substring_match_is_not_a_rule() -> None:
    """asymmetricroute greps 10.0.0.5 and finds the rule of 10.0.0.50."""
    links = [
        ("eth0", ["10.0.1.100/24 brd 10.0.1.255"], 0),
        ("eth1", ["10.0.0.5/24 brd 10.0.0.255"], 0),
        ("eth2", ["10.0.0.50/24 brd 10.0.0.255"], 0),
    ]
    routes = (
        "default via 10.0.1.1 dev eth0\n10.0.1.0/24 dev eth0\n"
        "10.0.0.0/24 dev eth1\n10.0.0.0/24 dev eth2\n"
        "default via 10.0.0.1 dev eth2 table 102\n10.0.0.0/24 dev eth2 table 102\n"
    )
    state = host(links, "100:\tfrom 10.0.0.50 lookup 102\n", routes)
    diagnosis = diagnose(state)
    assert diagnosis.parity is not None
    # the module is fooled ...
    assert (diagnosis.parity.status, diagnosis.parity.message) == (
        "SUCCESS",
        ec2rescue.OK_ALL_MATCHED,
    )
    eth1 = next(v for v in diagnosis.addresses if v.interface.name == "eth1")
    assert eth1.status == FAIL  # ... the doctor is not
    assert any("substring" in d.text for d in diagnosis.disagreements)


def test_counter_is_not_carried_over_and_subnets_are_walked_once() -> None:
    """Three ENIs in one subnet, the secondaries with correct rules: all is well, but the
    module lists the broadcast address twice and counts the primary twice."""
    links = [
        ("eth0", ["10.0.0.10/24 brd 10.0.0.255"], 0),
        ("eth1", ["10.0.0.20/24 brd 10.0.0.255"], 0),
        ("eth2", ["10.0.0.30/24 brd 10.0.0.255"], 0),
    ]
    routes = (
        MAIN
        + TABLE_101
        + "default via 10.0.0.1 dev eth2 table 102\n10.0.0.0/24 dev eth2 table 102\n"
    )
    rules = "100:\tfrom 10.0.0.20 lookup 101\n101:\tfrom 10.0.0.30 lookup 102\n"
    diagnosis = diagnose(host(links, rules, routes))
    assert diagnosis.parity is not None and diagnosis.parity.status == "FAILURE"
    assert diagnosis.parity.duplicate_broadcasts == ("10.0.0.255", "10.0.0.255")
    assert all(v.status == OK for v in diagnosis.addresses)
    assert not [f for f in diagnosis.findings if f.severity == "high"]
    assert any("never" in d.text for d in diagnosis.disagreements)


def test_ipv6_is_checked() -> None:
    links = [
        ("eth0", ["10.0.0.10/24 brd 10.0.0.255", "2001:db8::10/64"], 0),
        ("eth1", ["10.0.0.20/24 brd 10.0.0.255", "2001:db8::20/64"], 0),
    ]
    routes = (
        MAIN + TABLE_101 + "2001:db8::/64 dev eth0 metric 256\n2001:db8::/64 dev eth1 metric 256\n"
    )
    routes += "default via fe80::1 dev eth0 metric 1024 pref medium\n"
    state = host(links, "100:\tfrom 10.0.0.20 lookup 101\n", routes)
    assert where(state, "2600::1", "2001:db8::20") == (ROUTED, "eth0", "main")
    diagnosis = diagnose(state)
    assert diagnosis.parity is not None and diagnosis.parity.status == "SUCCESS"
    failing = [f for f in diagnosis.findings if f.severity == "high"]
    assert {f.details["address"] for f in failing} == {"2001:db8::20"}
    assert any("IPv6" in d.text for d in diagnosis.disagreements)


def test_rule_to_a_table_without_default_route_is_not_fine() -> None:
    routes = MAIN + "10.0.0.0/24 dev eth1 table 101\n"
    state = host(SAME_SUBNET, "100:\tfrom 10.0.0.20 lookup 101\n", routes)
    assert where(state, "10.0.0.50", "10.0.0.20") == (ROUTED, "eth1", "101")
    assert where(state, "8.8.8.8", "10.0.0.20") == (ROUTED, "eth0", "main")  # fell through
    diagnosis = diagnose(state)
    ids = {f.rule_id for f in diagnosis.findings}
    assert {"ENI101", "ENI103"} <= ids and "ENI102" not in ids
    assert diagnosis.parity is not None and diagnosis.parity.status == "SUCCESS"


def test_eniplan_guard_keeps_docker_and_redirects_eni_answers() -> None:
    """DESIGN §2: `lookup main suppress_ifgroup G` at base-1, ENIs in group G."""
    links = [
        ("eth0", ["10.0.0.10/24 brd 10.0.0.255"], 10000),
        ("eth1", ["10.0.1.20/24 brd 10.0.1.255"], 10000),
        ("docker0", ["172.17.0.1/16 brd 172.17.255.255"], 0),
    ]
    routes = (
        "default via 10.0.0.1 dev eth0\n10.0.0.0/24 dev eth0\n10.0.1.0/24 dev eth1\n"
        "172.17.0.0/16 dev docker0\n192.168.0.0/16 via 10.0.0.1 dev eth0\n"
        "default via 10.0.0.1 dev eth0 table 10000 proto 247\n10.0.0.0/24 dev eth0 table 10000\n"
        "default via 10.0.1.1 dev eth1 table 10001 proto 247\n10.0.1.0/24 dev eth1 table 10001\n"
    )
    rules = (
        "9999:\tfrom all lookup main suppress_ifgroup 10000 proto 247\n"
        "10000:\tfrom 10.0.0.10 lookup 10000 proto 247\n"
        "10001:\tfrom 10.0.1.20 lookup 10001 proto 247\n"
    )
    state = host(links, rules, routes)
    assert where(state, "172.17.0.5", "10.0.1.20") == (ROUTED, "docker0", "main")
    assert where(state, "8.8.8.8", "10.0.1.20") == (ROUTED, "eth1", "10001")
    assert where(state, "10.0.1.50", "10.0.1.20") == (ROUTED, "eth1", "10001")
    assert where(state, "192.168.1.1", "10.0.1.20") == (ROUTED, "eth1", "10001")
    assert where(state, "8.8.8.8") == (ROUTED, "eth0", "main")
    diagnosis = diagnose(state)
    assert [v.interface.name for v in diagnosis.addresses] == ["eth0", "eth1"]  # not docker0
    assert all(v.status == OK for v in diagnosis.addresses)
    owners = {info.rule.priority: info.owner for info in diagnosis.rules if info.rule.family == 4}
    assert owners[9999] == owners[10001] == "eniplan"
    assert any(f.rule_id == "ENI106" and "eniplan" in f.message for f in diagnosis.findings)


def test_suppress_prefixlength_goto_nop_not_and_fwmark() -> None:
    rules = (
        "10:\tfrom all lookup main suppress_prefixlength 0\n"
        "20:\tfrom all fwmark 0x0/0xff nop\n"
        "30:\tnot from 10.0.0.20 goto 40\n"
        "35:\tfrom all lookup 101\n"
        "40:\tfrom all fwmark 0x1 lookup 101\n"
    )
    state = host(SAME_SUBNET, rules, MAIN + TABLE_101)
    # the main default is suppressed (/0 <= 0); 10.0.0.20 is not jumped over 35
    assert where(state, "8.8.8.8", "10.0.0.20") == (ROUTED, "eth1", "101")
    # 10.0.0.10 jumps to 40 (mark 0 does not match 0x1), then main's default
    assert where(state, "8.8.8.8", "10.0.0.10") == (ROUTED, "eth0", "main")
    assert where(state, "8.8.8.8", "10.0.0.10", mark=1) == (ROUTED, "eth1", "101")
    # the /24 of main is longer than 0: kept
    assert where(state, "10.0.0.50", "10.0.0.20") == (ROUTED, "eth0", "main")


def test_error_actions_routes_throw_and_unmodelled_selectors() -> None:
    rules = (
        "5:\tfrom all to 9.0.0.0/8 prohibit\n"
        "6:\tfrom all ipproto tcp lookup 101\n"
        "7:\tfrom all to 7.0.0.0/8 lookup 102\n"
    )
    routes = MAIN + "unreachable 8.8.0.0/16\nblackhole 6.0.0.0/8\nthrow 7.0.0.0/8 table 102\n"
    state = host(SAME_SUBNET, rules, routes)
    assert where(state, "9.1.1.1", "10.0.0.10")[0] == PROHIBITED
    assert where(state, "8.8.8.8", "10.0.0.10")[0] == ROUTE_UNREACHABLE
    assert where(state, "6.1.1.1", "10.0.0.10")[0] == BLACKHOLED
    assert where(state, "7.1.1.1", "10.0.0.10") == (ROUTED, "eth0", "main")  # thrown back
    decision = decide(state, Flow(ip_address("1.1.1.1"), ip_address("10.0.0.10")))
    # the protocol of a reply is open: both ways are followed (table 101 is empty: main)
    assert decision.conditions == ("ipproto tcp: no",)
    assert [d.conditions for d in decision.alternatives] == [("ipproto tcp: yes",)]
    assert "6: from all ipproto tcp lookup 101: no route in table 101" in (
        decision.alternatives[0].steps
    )
    empty = host(SAME_SUBNET, "", "10.0.0.0/24 dev eth0\n")
    assert where(empty, "8.8.8.8", "10.0.0.10")[0] == NO_ROUTE


def test_metric_dead_nexthop_backtrack_and_source_selection() -> None:
    routes = (
        "default via 10.0.0.1 dev eth1 metric 200\n"
        "default via 10.0.0.1 dev eth0 metric 100\n"
        "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.10\n"
        "10.0.0.0/24 dev eth1 proto kernel scope link src 10.0.0.20\n"
        "8.8.8.0/24 \n\tnexthop via 10.0.0.2 dev eth1 weight 1 dead\n"
    )
    state = host(SAME_SUBNET, "", routes)
    decision = decide(state, Flow(ip_address("8.8.8.8")))
    assert (decision.dev, decision.route.metric if decision.route else None) == ("eth0", 100)
    assert decision.src == ip_address("10.0.0.10")  # the primary address of eth0
    eth1 = decide(state, Flow(ip_address("10.0.0.77"), oif="eth1"))
    assert (eth1.dev, eth1.src) == ("eth1", ip_address("10.0.0.20"))  # the route's src


def test_no_egress_at_all_is_not_a_failure() -> None:
    """A host without an IPv6 default route: its IPv6 addresses do not fail toward 2600::1."""
    links = [("eth0", ["10.0.0.10/24 brd 10.0.0.255", "2001:db8::10/64"], 0)]
    routes = (
        "default via 10.0.0.1 dev eth0\n10.0.0.0/24 dev eth0\n2001:db8::/64 dev eth0 pref medium\n"
    )
    diagnosis = diagnose(host(links, "", routes))
    assert all(v.status == OK for v in diagnosis.addresses)
    assert not diagnosis.findings


# --- parity on inputs where the module's logic is right ---------------------------------


@settings(max_examples=40, deadline=None)
@given(
    pairs=st.integers(1, 2),
    with_rules=st.lists(st.booleans(), min_size=3, max_size=3),
    singleton=st.booleans(),
)
def test_parity_where_the_module_is_right(
    pairs: int, with_rules: list[bool], singleton: bool
) -> None:
    """The module's assumptions hold: every duplicated subnet has exactly two ENIs, the
    primary (eth0) is the one without a rule, the others have an exact rule to a complete
    table or none, ENIs alone in a subnet have their rule, and no address is a substring of
    another. There the module fails exactly when the doctor finds a reply leaving wrong."""
    links: list[tuple[str, list[str], int]] = []
    rules, routes = "", "default via 10.0.0.1 dev eth0\n"
    subnets = [0] * 2 + ([1] * 2 if pairs == 2 else []) + ([7] if singleton else [])
    for i, subnet in enumerate(subnets):
        address = f"10.0.{subnet}.{101 + i}"
        links.append((f"eth{i}", [f"{address}/24 brd 10.0.{subnet}.255"], 0))
        routes += f"10.0.{subnet}.0/24 dev eth{i} proto kernel scope link src {address}\n"
        if i == 0 or not (subnet == 7 or with_rules[i - 1]):
            continue
        rules += f"{100 + i}:\tfrom {address} lookup {100 + i}\n"
        routes += f"default via 10.0.{subnet}.1 dev eth{i} table {100 + i}\n"
        routes += f"10.0.{subnet}.0/24 dev eth{i} table {100 + i}\n"
    diagnosis = diagnose(host(links, rules, routes))
    doctor_fails = any(f.severity == "high" for f in diagnosis.findings)
    assert diagnosis.parity is not None
    assert (diagnosis.parity.status == "FAILURE") == doctor_fails
    expected = ec2rescue.FAIL_UNMATCHED if doctor_fails else ec2rescue.OK_ONE_DEFAULT
    assert diagnosis.parity.message == expected


@pytest.mark.parametrize(
    ("rules", "routes", "status", "message"),
    [
        (
            "seed000-rule-before.txt",
            "seed000-route-before.txt",
            "FAILURE",
            ec2rescue.FAIL_UNMATCHED,
        ),
        ("seed000-rule-typo.txt", "seed000-route-before.txt", "FAILURE", ec2rescue.FAIL_UNMATCHED),
        ("seed000-rule-fixed.txt", "seed000-route-fixed.txt", "SUCCESS", ec2rescue.OK_ALL_MATCHED),
    ],
)
def test_parity_on_the_seed(rules: str, routes: str, status: str, message: str) -> None:

    fixtures = FIXTURES / "doctor"
    result = ec2rescue.asymmetricroute(
        (fixtures / "seed000-addr.txt").read_text(), (fixtures / rules).read_text()
    )
    assert (result.status, result.message) == (status, message)


def test_parity_no_duplicates_and_documented_example() -> None:

    fixtures = FIXTURES / "doctor"
    two_subnets = (
        "2: eth0: <UP> mtu 9001\n    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\n"
        "3: eth1: <UP> mtu 9001\n    inet 10.0.1.5/24 brd 10.0.1.255 scope global eth1\n"
    )
    result = ec2rescue.asymmetricroute(two_subnets, "0:\tfrom all lookup local\n")
    assert (result.status, result.message) == ("SUCCESS", ec2rescue.OK_NO_DUPLICATES)
    # the module's own documentation: eth1 has a rule, eth0 uses the default rule
    documented = ec2rescue.asymmetricroute(
        (fixtures / "seed002-addr.txt").read_text(), (fixtures / "seed002-rule.txt").read_text()
    )
    assert (documented.status, documented.message) == ("SUCCESS", ec2rescue.OK_ONE_DEFAULT)
    assert [(c.address, c.matched) for c in documented.checks] == [
        ("172.16.1.128", False),
        ("172.16.1.16", True),
    ]


def test_owners_by_layout() -> None:
    from eniplan.doctor import owners

    listing = (
        "0:\tfrom all lookup local\n"
        "10:\tfrom all iif vlan.eth.1 lookup 101\n"
        "512:\tfrom all to 10.0.97.30 lookup main\n"
        "1024:\tfrom all fwmark 0x80/0x80 lookup main\n"
        "1536:\tfrom 10.0.97.30 to 10.0.0.0/16 lookup 2\n"
        "9999:\tfrom all lookup main suppress_ifgroup 10000 proto 247\n"
        "10000:\tfrom 10.0.0.10 lookup 10000 proto 247\n"
        "10001:\tfrom 10.0.1.20 lookup 10001 proto static\n"
        "10001:\tfrom 10.0.1.21 lookup 10001 proto static\n"
        "10102:\tfrom 10.0.2.20 lookup 10102\n"
        "20000:\tfrom 10.0.5.5 lookup 7\n"
        "32764:\tfrom 10.0.1.20 lookup 101 proto static\n"
        "32765:\tfrom 10.0.0.10 lookup 100 proto static\n"
        "32766:\tfrom all lookup main\n"
        "32767:\tfrom all lookup default\n"
    )
    found = [(r.priority, owners.rule_owner(r)) for r in iptext.parse_rules(listing, "rules")]
    assert found == [
        (0, owners.KERNEL),
        (10, owners.VPC_CNI),
        (512, owners.VPC_CNI),
        (1024, owners.VPC_CNI),
        (1536, owners.VPC_CNI),
        (9999, owners.ENIPLAN),
        (10000, owners.ENIPLAN),
        (10001, owners.EC2_NET_UTILS),
        (10001, owners.EC2_NET_UTILS),
        (10102, owners.EC2_NET_UTILS),  # card 1, device 2
        (20000, owners.OTHER),
        (32764, owners.CLOUD_INIT),
        (32765, owners.CLOUD_INIT),
        (32766, owners.KERNEL),
        (32767, owners.KERNEL),
    ]


def test_amazon_linux_2023_with_ec2_net_utils() -> None:
    """What amazon-ec2-net-utils 2.x leaves on AL2023: per-ENI metrics in main, table
    10001 for the secondary ENI, a rule per address (its alias is a /32), none for the
    primary."""
    links = [
        ("ens5", ["10.0.0.10/24 brd 10.0.0.255"], 0),
        ("ens6", ["10.0.1.20/24 brd 10.0.1.255", "10.0.1.21/32"], 0),
    ]
    routes = (
        "default via 10.0.0.1 dev ens5 proto dhcp src 10.0.0.10 metric 512\n"
        "default via 10.0.1.1 dev ens6 proto dhcp src 10.0.1.20 metric 513\n"
        "10.0.0.0/24 dev ens5 proto kernel scope link src 10.0.0.10 metric 512\n"
        "10.0.1.0/24 dev ens6 proto kernel scope link src 10.0.1.20 metric 513\n"
        "default via 10.0.1.1 dev ens6 table 10001 proto dhcp src 10.0.1.20 metric 513\n"
        "10.0.1.0/24 dev ens6 table 10001 proto static scope link\n"
    )
    complete = (
        "10001:\tfrom 10.0.1.20 lookup 10001 proto static\n"
        "10001:\tfrom 10.0.1.21 lookup 10001 proto static\n"
    )
    diagnosis = diagnose(host(links, complete, routes))
    assert [(str(v.address.ip), str(v.subnet), v.status) for v in diagnosis.addresses] == [
        ("10.0.0.10", "10.0.0.0/24", OK),
        ("10.0.1.20", "10.0.1.0/24", OK),
        ("10.0.1.21", "10.0.1.0/24", OK),  # the /32 alias takes the ENI's subnet
    ]
    (agent,) = [f for f in diagnosis.findings if f.rule_id == "ENI106"]
    assert "amazon-ec2-net-utils" in agent.message and agent.details["tables"] == ["10001"]
    # the alias without its rule: replies from it leave through the primary ENI
    partial = diagnose(host(links, complete.splitlines()[0] + "\n", routes))
    alias = [v for v in partial.addresses if str(v.address.ip) == "10.0.1.21"]
    assert alias[0].status == FAIL and alias[0].internet.decision.dev == "ens5"


# --- selectors a reply's socket decides: modelled when known, both ways when open -------


def test_selectors_against_a_known_flow() -> None:
    rules = (
        "100:\tfrom all tos 0x10 lookup 101\n"
        "101:\tfrom all ipproto tcp dport 443-445 lookup 101\n"
        "102:\tfrom all sport 768/0xff00 lookup 101\n"
        "103:\tfrom all uidrange 100-200 lookup 101\n"
        "104:\tnot from all ipproto udp lookup 102\n"
        "105:\tfrom all tun_id 5 lookup 101\n"
        "106:\tfrom all lookup [l3mdev-table]\n"
    )
    routes = MAIN + TABLE_101 + "default via 10.0.0.1 dev eth1 table 102 tos 0x08\n"
    state = host(SAME_SUBNET, rules, routes)
    udp: dict[str, Any] = {"tos": 0, "ipproto": 17, "sport": 5, "dport": 53, "uid": 0}
    assert where(state, "8.8.8.8", **udp) == (ROUTED, "eth0", "main")
    assert where(state, "8.8.8.8", **{**udp, "tos": 0x10}) == (ROUTED, "eth1", "101")
    assert where(state, "8.8.8.8", **{**udp, "tos": 0x13}) == (ROUTED, "eth1", "101")  # ECN bits
    assert where(state, "8.8.8.8", **{**udp, "ipproto": 6, "dport": 444})[2] == "101"
    assert where(state, "8.8.8.8", **{**udp, "ipproto": 6, "dport": 446})[2] == "main"
    assert where(state, "8.8.8.8", **{**udp, "sport": 1023})[2] == "101"  # 1023 & 0xff00 == 768
    assert where(state, "8.8.8.8", **{**udp, "sport": 1280})[2] == "main"
    assert where(state, "8.8.8.8", **{**udp, "uid": 150})[2] == "101"
    # `not ipproto udp`: TCP goes to table 102, whose only route needs tos 0x08
    assert where(state, "8.8.8.8", **{**udp, "ipproto": 6, "dport": 80})[2] == "main"
    assert where(state, "8.8.8.8", **{**udp, "ipproto": 6, "dport": 80, "tos": 8})[2] == "102"
    # no tunnel metadata and no VRF on locally generated packets
    assert where(state, "8.8.8.8", **{**udp, "tun_id": 5})[2] == "101"


def test_open_selectors_are_followed_both_ways_and_not_applied_blindly() -> None:
    rules = "100:\tnot from all ipproto tcp lookup 101\n"
    state = host(SAME_SUBNET, rules, MAIN + TABLE_101)
    decision = decide(state, Flow(ip_address("8.8.8.8"), ip_address("10.0.0.20")))
    # `not ipproto tcp` with the protocol open: not TCP -> 101, TCP -> main
    ways = {d.conditions: d.dev for d in (decision, *decision.alternatives)}
    assert ways == {("ipproto tcp: no",): "eth1", ("ipproto tcp: yes",): "eth0"}
    diagnosis = diagnose(state)
    eth1 = next(v for v in diagnosis.addresses if v.interface.name == "eth1")
    assert eth1.internet.status == DEPENDS
    assert eth1.internet.reason == (
        "OK when not ipproto tcp; FAIL when ipproto tcp: leave through eth0, not eth1"
    )
    assert any("depends on what the reply's socket sets" in n for n in diagnosis.notes)
    assert not any(f.rule_id == "ENI101" for f in diagnosis.findings)  # no false FAIL


def test_exclusive_values_are_not_combined() -> None:
    """A packet has one DS field: `tos 0x10` and `tos 0x08` cannot both match."""
    rules = "100:\tfrom all tos 0x10 lookup 101\n101:\tfrom all tos 0x08 lookup 102\n"
    routes = MAIN + TABLE_101 + "default via 10.0.0.1 dev eth0 table 102\n"
    state = host(SAME_SUBNET, rules, routes)
    decision = decide(state, Flow(ip_address("8.8.8.8"), ip_address("10.0.0.10")))
    conditions = sorted(d.conditions for d in (decision, *decision.alternatives))
    assert conditions == [
        ("tos 0x10: no", "tos 0x08: no"),
        ("tos 0x10: no", "tos 0x08: yes"),
        ("tos 0x10: yes",),
    ]
    assert decision.complete


def test_ipv6_routes_of_one_prefix_without_a_gateway_do_not_depend_on_neighbours() -> None:
    """Two ENIs in one IPv6 subnet: `2001:db8::/64 dev eth0` and `dev eth1` (metric 256);
    no neighbour can make the kernel pass over a route without a gateway."""
    links = [("eth0", ["2001:db8::10/64"], 0), ("eth1", ["2001:db8::20/64"], 0)]
    routes = (
        "2001:db8::/64 dev eth0 proto kernel metric 256 pref medium\n"
        "2001:db8::/64 dev eth1 proto kernel metric 256 pref medium\n"
        "default via fe80::1 dev eth0 proto ra metric 1024 pref medium\n"
        "default via fe80::1 dev eth1 proto ra metric 1024 expires 1799sec pref medium\n"
    )
    state = host(links, "", routes)
    peer = decide(state, Flow(ip_address("2001:db8::99")))
    assert (peer.dev, peer.alternatives) == ("eth0", ())
    # RA defaults of one metric: the first unless its router's neighbour entry FAILED
    internet = decide(state, Flow(ip_address("2600::1")))
    assert [d.dev for d in (internet, *internet.alternatives)] == ["eth0", "eth1"]
