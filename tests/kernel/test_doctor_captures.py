"""Real captures from the real kernel: a namespace holds every route attribute and rule
selector this machine's iproute2 can create; the doctor reads its text (`ip addr show`,
`ip rule show`, `ip -6 rule show`, `ip route show table all`) in every order and its JSON
(`ip -j`, live mode), refuses none of it, and both give the same model and verdicts."""

from __future__ import annotations

import json
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from eniplan.doctor import iptext
from eniplan.doctor.host import capture_live
from eniplan.doctor.model import HostState
from eniplan.doctor.simulate import Flow, decide
from tests.helpers.cli_runner import run
from tests.helpers.netns import Namespace

SETUP = (
    "link add e0 type veth peer name pe0",
    "link add e1 type veth peer name pe1",
    "link set e0 up",
    "link set pe0 up",
    "link set e1 up",
    "link set pe1 up",
    "addr add 10.0.0.10/24 brd + dev e0",
    "addr add 10.1.0.10/24 brd + dev e1",
    "addr add 2001:db8::10/64 dev e0 nodad",
    "addr add 2001:db8:1::10/64 dev e1 nodad",
    "route add default via 10.0.0.1 dev e0",
    "-6 route add default via fe80::1 dev e0",
    # per-ENI tables for e1
    "route add default via 10.1.0.1 dev e1 table 101 advmss lock 1400",
    "route add 10.1.0.0/24 dev e1 table 101 congctl lock cubic",
    "route add 10.5.2.0/24 via 10.1.0.1 dev e1 table 101 rto_min 5ms realm 5",
    "route add 10.5.4.0/24 via 10.1.0.1 dev e1 table 101 mtu lock 1300 window lock 100 "
    "rtt lock 20ms rttvar 5ms ssthresh 10 cwnd 10 initcwnd 10 initrwnd 10 reordering 3 "
    "features ecn quickack 1 fastopen_no_cookie 1 hoplimit 5",
    "route add 10.5.6.0/24 table 101 nexthop via 10.1.0.1 dev e1 weight 2 "
    "nexthop via 10.1.0.2 dev e1 realms 4",
    "route add 8.8.8.0/24 dev e0 table 101 tos 0x10 realms 3/4",
    "route add 10.7.0.0/24 encap ip id 5 dst 10.0.0.99 ttl 5 dev e0 table 101",
    "route add 10.8.0.0/24 encap seg6 mode encap segs 2001:db8::1,2001:db8::2 dev e0 table 101",
    "nexthop add id 7 via 10.1.0.1 dev e1",
    "route add 10.12.0.0/24 nhid 7 table 101",
    "route add default dev e1 table 51820",
    "-6 route add default via fe80::1 dev e1 table 101",
    "-6 route add 2001:db8:9::/64 encap ip6 id 5 dst 2001:db8::99 hoplimit 5 dev e0 table 101",
    "-6 route add 2001:db8:7::/64 encap seg6 mode inline segs 2001:db8::1 dev e0 table 101",
    "-6 route add 2600::/16 from 2001:db8:1::/64 via fe80::1 dev e1",
    "-6 route add 2001:db8:6::/64 via fe80::1 dev e0 expires 3600",
    # rules: every selector
    "rule add from 10.1.0.10 lookup 101 priority 101",
    "rule add tos 0x10 lookup 101 priority 200",
    "rule add ipproto tcp sport 1000 dport 443-445 lookup 101 priority 201",
    "rule add uidrange 100-200 lookup 101 priority 202",
    "rule add l3mdev priority 203",
    "rule add not dsfield 0x08 ipproto udp lookup 51820 priority 204",
    "rule add sport 1-2 lookup 101 priority 205",
    "rule add from 10.0.0.0/24 realms 1/2 lookup 101 priority 206",
    "rule add tun_id 5 lookup 101 priority 207",
    "rule add fwmark 0x1/0x3 nop priority 208",
    "rule add iif nothere unreachable priority 209",
    "rule add oif nothere goto 9999 priority 210",
    "rule add from all lookup main suppress_prefixlength 0 suppress_ifgroup 5 priority 211",
    "-6 rule add from 2001:db8:1::10 lookup 101 priority 101",
    "-6 rule add tos 0x10 lookup 101 priority 200",
    "-6 rule add not ipproto tcp dport 22 lookup 101 priority 201",
)


def _build(ns: Namespace) -> None:
    for command in SETUP:
        words = command.split()
        ns.run("ip", *words)


def _text(ns: Namespace) -> dict[str, str]:
    def show(*args: str) -> str:
        return ns.run("ip", *args).stdout

    return {
        "addr": show("addr", "show"),
        "rule4": show("rule", "show"),
        "rule6": show("-6", "rule", "show"),
        "route": show("route", "show", "table", "all"),
    }


def _key(state: HostState) -> tuple[Any, ...]:
    rules = sorted(
        (
            r.family,
            r.priority,
            r.action,
            r.table,
            r.invert,
            str(r.src),
            tuple((s.kind, s.value, s.high, s.mask) for s in r.selectors),
            r.attributes,
        )
        for r in state.rules
    )
    routes = sorted(
        (
            r.family,
            str(r.dst),
            r.table,
            r.type,
            r.tos,
            str(r.src),
            r.nhid,
            tuple((str(n.gateway), n.dev, n.weight) for n in r.nexthops),
        )
        for r in state.routes
        if not r.dst.is_link_local  # the kernel adds link-local routes as links come up
    )
    return tuple(rules), tuple(routes)


def test_real_captures_in_every_order_and_live_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Namespace("eniplan-cap") as ns:
        _build(ns)
        text = _text(ns)
        live = capture_live(ns.name)
    for name, content in text.items():
        (tmp_path / name).write_text(content)
    (tmp_path / "rule64").write_text(text["rule6"] + text["rule4"])
    # what iproute2 6.x printed, all of it read
    assert "advmss lock 1400" in text["route"] and "encap seg6" in text["route"]
    assert "rto_min lock 5ms" in text["route"] and "realm" in text["route"]
    routes = iptext.parse_routes(text["route"], "route")
    rules = iptext.parse_rules(text["rule6"] + text["rule4"], "rules")
    captured = HostState(links=iptext.parse_addr(text["addr"], "addr"), rules=rules, routes=routes)
    assert _key(captured) == _key(live)
    # every selector the kernel printed is one eniplan knows, in text and in JSON
    assert not [
        r for r in (*captured.rules, *live.rules) if "unknown" in {s.kind for s in r.selectors}
    ]
    # the same decisions, flows known and open, from the text and from the JSON
    for dst, src in (
        ("8.8.8.8", "10.1.0.10"),
        ("8.8.8.8", "10.0.0.10"),
        ("10.5.6.1", None),
        ("2600::1", "2001:db8:1::10"),
        ("2600::1", None),
    ):
        flow = Flow(ip_address(dst), ip_address(src) if src else None)
        ways = [
            tuple((d.conditions, d.outcome, d.dev, d.table) for d in (x, *x.alternatives))
            for x in (decide(captured, flow), decide(live, flow))
        ]
        assert ways[0] == ways[1], (dst, src)

    def doctor(*rule_files: str) -> dict[str, Any]:
        argv = ["doctor", "--ip-addr", str(tmp_path / "addr"), "--format", "json"]
        argv += [word for f in rule_files for word in ("--ip-rule", str(tmp_path / f))]
        argv += ["--ip-route", str(tmp_path / "route")]
        code, out, err = run(argv, capsys)
        assert code in (0, 1), err  # never refused
        document = json.loads(out)
        return {a["address"]: (a["verdict"], a["toward_internet"]) for a in document["addresses"]}

    first = doctor("rule4", "rule6")
    assert doctor("rule6", "rule4") == first
    assert doctor("rule64") == first
    verdict, internet = first["10.1.0.10/24"]
    # from e1's address: table 101 (e1) for most traffic; `tos 0x10` takes 8.8.8.0/24 via e0
    assert verdict == "depends" and internet["dev"] == "e1"
    assert any(alt["dev"] == "e0" for alt in internet["alternatives"])
    v6_verdict, v6_internet = first["2001:db8:1::10/64"]
    assert (v6_verdict, v6_internet["dev"], v6_internet["table"]) == ("ok", "e1", "101")


# --- several routes for one prefix: the neighbours decide, as in the kernel -----------------

NEIGHBOUR_STATES = ("none", "FAILED", "INCOMPLETE", "STALE", "REACHABLE", "PERMANENT")


def _neigh(ns: Namespace, family: str, address: str, dev: str, state: str) -> None:
    if state == "none":
        return
    lladdr = [] if state == "INCOMPLETE" else ["lladdr", "02:00:00:00:00:99"]
    ns.run("ip", family, "neigh", "replace", address, "dev", dev, *lladdr, "nud", state.lower())


@pytest.mark.parametrize("first", NEIGHBOUR_STATES)
@pytest.mark.parametrize("second", ("none", "FAILED", "STALE"))
def test_equal_defaults_follow_the_neighbours(first: str, second: str) -> None:
    with Namespace("eniplan-nei") as ns:
        for command in SETUP[:10]:
            ns.run("ip", *command.split())
        ns.run("ip", "route", "add", "default", "via", "10.0.0.1", "dev", "e0", "table", "5")
        ns.run("ip", "route", "append", "default", "via", "10.1.0.1", "dev", "e1", "table", "5")
        ns.run("ip", "route", "append", "default", "via", "10.0.0.2", "dev", "e0", "table", "5")
        ns.run("ip", "rule", "add", "lookup", "5", "priority", "5")
        ns.run("ip", "-6", "route", "add", "2600::/16", "via", "fe80::1", "dev", "e0")
        ns.run("ip", "-6", "route", "add", "2600::/16", "dev", "e1", "metric", "2048")
        _neigh(ns, "-4", "10.0.0.1", "e0", first)
        _neigh(ns, "-4", "10.1.0.1", "e1", second)
        _neigh(ns, "-6", "fe80::1", "e0", first)
        state = capture_live(ns.name)
        kernel = {}
        for dst in ("8.8.8.8", "2600::1"):
            answer = json.loads(ns.run("ip", "-j", "route", "get", dst).stdout)[0]
            kernel[dst] = (answer.get("gateway"), answer["dev"])
        text = ns.run("ip", "neigh", "show").stdout
    assert state.neighbours is not None
    captured = replace(state, neighbours=iptext.parse_neigh(text, "neigh") if text else ())
    for live_or_captured in (state, captured):
        for dst, answer in kernel.items():
            decision = decide(live_or_captured, Flow(ip_address(dst)))
            ways = {
                (str(d.gateway) if d.gateway else None, d.dev)
                for d in (decision, *decision.alternatives)
            }
            assert answer in ways, (dst, first, second, ways)
            first_way = (str(decision.gateway) if decision.gateway else None, decision.dev)
            if not decision.alternatives:
                assert first_way == answer, (dst, first, second)
    if first in ("FAILED", "INCOMPLETE") and second == "none":
        # the kernel passes over the first gateway, and so does the doctor, with no doubt
        assert kernel["8.8.8.8"] == ("10.1.0.1", "e1")
        decision = decide(captured, Flow(ip_address("8.8.8.8")))
        assert (decision.dev, decision.alternatives) == ("e1", ())
    if first == "FAILED":  # IPv6: even for a route of a higher metric
        assert kernel["2600::1"] == (None, "e1")
    # without the neighbours, every possible route is followed and the decision says so
    unknown = decide(replace(state, neighbours=None), Flow(ip_address("8.8.8.8")))
    assert len(unknown.alternatives) == 2
    assert "neighbours not captured" in unknown.alternatives[0].conditions[0]
