"""The text parsers on real `ip` output (the seeds, iproute2 3.x to 6.x spacing) and on
bad input: empty, truncated, another tool's output."""

from __future__ import annotations

from ipaddress import ip_address, ip_interface, ip_network

import pytest

from eniplan.doctor import ipjson, iptext
from eniplan.doctor.model import BLACKHOLE, GOTO, LOOKUP, NOP, PROHIBIT, UNREACHABLE
from eniplan.errors import InputError
from tests import helpers

FIXTURES = helpers.FIXTURES / "doctor"


def test_seed_addr_links_addresses_and_brd() -> None:
    links = iptext.parse_addr((FIXTURES / "seed000-addr.txt").read_text(), "addr.txt")
    assert [link.name for link in links] == ["lo", "eth0", "eth1"]
    lo, eth0, eth1 = links
    assert lo.is_loopback and not eth1.is_loopback
    assert eth1.mac == "0e:3b:ae:ab:4e:84"
    assert [str(a.address) for a in eth1.addresses] == [
        "10.0.0.254/24",
        "fe80::c3b:aeff:feab:4e84/64",
    ]
    v4 = eth1.addresses[0]
    assert v4.broadcast == ip_address("10.0.0.255") and v4.scope == "global"
    assert "dynamic" in v4.flags and v4.usable
    assert not eth1.addresses[1].usable  # link-local
    assert eth0.group == "0"


def test_addr_forms_group_altname_peer_secondary_and_at_suffix() -> None:
    text = (
        "3: ens6@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq master br0 "
        "state UP group 10000 qlen 1000\n"
        "    link/ether 02:aa:bb:cc:dd:ee brd ff:ff:ff:ff:ff:ff link-netnsid 0\n"
        "    altname enp0s6\n"
        "    altname eni-0123456789abcdef0\n"
        "    veth addrgenmode eui64 numtxqueues 1\n"
        "    inet 10.0.1.5/24 metric 100 brd 10.0.1.255 scope global dynamic ens6\n"
        "       valid_lft 3100sec preferred_lft 3100sec\n"
        "    inet 10.0.1.6/24 brd 10.0.1.255 scope global secondary ens6:1\n"
        "       valid_lft forever preferred_lft forever\n"
        "    inet 192.168.9.1 peer 192.168.9.2/32 scope global ens6\n"
        "       valid_lft forever preferred_lft forever\n"
        "    inet6 2600:1f18::5/128 scope global dynamic noprefixroute \n"
        "       valid_lft 440sec preferred_lft 140sec\n"
        "4: wg0: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1420 qdisc noqueue state UNKNOWN\n"
        "    link/none \n"
    )
    ens6, wg0 = iptext.parse_addr(text, "f")
    assert ens6.name == "ens6" and ens6.group == "10000" and ens6.index == 3
    assert ens6.altnames == ("enp0s6", "eni-0123456789abcdef0")
    assert [str(a.address) for a in ens6.addresses] == [
        "10.0.1.5/24",
        "10.0.1.6/24",
        "192.168.9.1/32",
        "2600:1f18::5/128",
    ]
    assert [a.secondary for a in ens6.addresses] == [False, True, False, False]
    assert ens6.addresses[2].peer == ip_network("192.168.9.2/32")
    assert wg0.kind == "none" and wg0.mac is None and not wg0.addresses


def test_ipv4_only_and_ipv6_only_listings() -> None:
    v6 = (
        "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 state UP qlen 1000\n"
        "    inet6 2001:db8::1/64 scope global \n"
        "       valid_lft forever preferred_lft forever\n"
    )
    (link,) = iptext.parse_addr(v6, "f")
    assert link.addresses[0].address == ip_interface("2001:db8::1/64")


def test_rules_every_selector_and_action() -> None:
    text = (
        "0:\tfrom all lookup local\n"
        "50:\tfrom all lookup main suppress_prefixlength 0\n"
        "60:\tnot from 1.2.3.4 fwmark 0x5/0xff iif lo oif d0 lookup main "
        "suppress_ifgroup 5 proto 247\n"
        "70:\tfrom all to 1.0.0.0/8 goto 32766\n"
        "71:\tfrom all to 2.0.0.0/8 prohibit\n"
        "72:\tfrom all to 3.0.0.0/8 blackhole\n"
        "73:\tfrom all to 4.0.0.0/8 unreachable\n"
        "74:\tfrom all fwmark 0x1 nop\n"
        "75:\tfrom all iif vlan5 [detached] lookup 5\n"
        "76:\tfrom all ipproto tcp dport 443 lookup 7\n"
        "77:\tfrom all goto 99 [unresolved]\n"
        "9999:\tfrom all lookup main suppress_ifgroup default\n"
        "10001:\tfrom 10.0.0.0/24 lookup 10001 proto static\n"
        "32766:\tfrom all lookup main \n"
        "32767:\tfrom all lookup 253 \n"
    )
    rules = {r.priority: r for r in iptext.parse_rules(text, "f")}
    assert all(r.family == 4 for r in rules.values())
    assert rules[50].suppress_prefixlength == 0 and rules[50].table == "main"
    guard = rules[60]
    assert guard.invert and guard.src == ip_network("1.2.3.4/32")
    assert (guard.fwmark, guard.fwmask, guard.iif, guard.oif) == (5, 0xFF, "lo", "d0")
    assert (guard.suppress_ifgroup, guard.protocol) == ("5", "247")
    assert (rules[70].action, rules[70].goto) == (GOTO, 32766)
    assert [rules[p].action for p in (71, 72, 73, 74)] == [PROHIBIT, BLACKHOLE, UNREACHABLE, NOP]
    assert rules[74].fwmask == 0xFFFFFFFF
    assert rules[75].iif == "vlan5"
    assert [s.describe() for s in rules[76].selectors] == ["ipproto tcp", "dport 443"]
    assert rules[76].action == LOOKUP
    assert rules[77].goto == 99
    assert rules[9999].suppress_ifgroup == "0"
    assert rules[10001].src == ip_network("10.0.0.0/24") and rules[10001].protocol == "static"
    assert rules[32767].table == "default"


def test_rules_ipv4_then_ipv6_in_one_file() -> None:
    text = (
        "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n"
        "0:\tfrom all lookup local\n10001:\tfrom 2600:1f18::5 lookup 10001\n"
        "32766:\tfrom all lookup main\n"
    )
    rules = iptext.parse_rules(text, "f")
    assert [(r.priority, r.family) for r in rules] == [
        (0, 4),
        (32766, 4),
        (32767, 4),
        (0, 6),
        (10001, 6),
        (32766, 6),
    ]
    # IPv6 first, then an IPv4 listing without addresses: the other family
    text = "0:\tfrom all lookup local\n5:\tfrom ::/0 lookup 5\n0:\tfrom all lookup local\n"
    assert [r.family for r in iptext.parse_rules(text, "f")] == [6, 6, 4]
    # a lone listing without any address: IPv4 has the kernel's `lookup default` rule
    v4 = (
        "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n"
    )
    assert {r.family for r in iptext.parse_rules(v4, "f")} == {4}
    v6 = "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n"
    assert {r.family for r in iptext.parse_rules(v6, "f")} == {6}


def test_routes_types_flags_multipath_and_families() -> None:
    text = (
        "default via 172.31.0.1 dev eth0 proto dhcp src 172.31.15.216 metric 100 \n"
        "default via 172.31.0.1 dev eth1  table 10001 \n"
        "172.31.0.0/20 dev eth1  proto kernel  scope link  src 172.31.0.218 linkdown\n"
        "unreachable 8.8.0.0/16 metric 5\n"
        "blackhole 9.9.9.0/24 table 100\n"
        "10.9.0.0/24 \n"
        "\tnexthop via 10.0.0.1 dev e0 weight 1 \n"
        "\tnexthop via 10.0.0.2 dev e1 weight 2 dead linkdown\n"
        "local 172.31.0.218 dev eth1 table local proto kernel scope host src 172.31.0.218 \n"
        "broadcast 172.31.15.255 dev eth1 table local proto kernel scope link src 172.31.0.218\n"
        "::1 dev lo proto kernel metric 256 pref medium\n"
        "2600:1f18::/64 dev eth0 proto ra metric 100 expires 2591999sec pref medium\n"
        "default via fe80::1 dev eth0 proto ra metric 1024 expires 1799sec mtu 9001 pref medium\n"
        "unreachable default dev lo table 10001 metric 4294967295 error -101 pref medium\n"
        "default dev eth1 table 9 metric 5\n"
    )
    routes = iptext.parse_routes(text, "f")
    first = routes[0]
    assert first.is_default and first.family == 4 and first.table == "main"
    assert first.nexthops[0].gateway == ip_address("172.31.0.1") and first.metric == 100
    assert first.prefsrc == ip_address("172.31.15.216") and first.protocol == "dhcp"
    assert routes[1].table == "10001"
    assert "linkdown" in routes[2].nexthops[0].flags and routes[2].scope == "link"
    assert (routes[3].type, routes[3].metric, routes[3].nexthops) == ("unreachable", 5, ())
    assert (routes[4].type, routes[4].table) == ("blackhole", "100")
    multipath = routes[5]
    assert [nh.dev for nh in multipath.nexthops] == ["e0", "e1"]
    assert multipath.nexthops[1].dead and multipath.nexthops[1].weight == 2
    assert (routes[6].type, routes[6].table) == ("local", "local")
    assert [r.family for r in routes[8:]] == [6, 6, 6, 6, 4]
    assert routes[10].dst == ip_network("::/0") and routes[10].nexthops[0].dev == "eth0"
    assert routes[11].type == "unreachable" and routes[11].is_default
    # `default dev eth1` without `pref` is IPv4, wherever it is in the file (wg-quick, ppp)
    assert routes[12].family == 4 and routes[12].dst == ip_network("0.0.0.0/0")


BAD_INPUT = [
    ("addr", "", "empty"),
    ("addr", "   \n\n", "empty"),
    ("addr", "eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 9001\n", "line 1"),
    ("addr", '[{"ifname": "eth0"}]\n', "line 1"),
    (
        "addr",
        "2: eth0: <BROADCAST,UP> mtu 9001 state UP\n    inet 10.0.0.5/24 brd 10.0.0.255 sc",
        "line 2",
    ),
    (
        "addr",
        "2: eth0: <BROADCAST,UP> mtu 9001 state UP\n    inet 10.0.0.5/24 scope global eth0\n",
        "line 2",
    ),
    ("addr", "2: eth0: <BROADCAST,MULTI", "line 1"),
    ("rule", "Kernel IP routing table\n", "line 1"),
    ("rule", "0:\tfrom all lookup local\n32766:\tfrom all look", "line 2"),
    ("rule", "0:\tfrom all lookup local\n32766:\tfrom all lookup\n", "line 2"),
    ("rule", "100:\tfrom 10.0.0.300 lookup 100\n", "line 1"),
    ("route", "Destination     Gateway         Genmask  Flags\n", "line 1"),
    ("route", "default via 10.0.0.1 dev eth0\n10.0.0.0/24 dev eth0 proto ker", "line 2"),
    ("route", "default via 10.0.0.1 dev\n", "line 1"),
    ("route", "default via 10.0.0.999 dev eth0\n", "line 1"),
    ("route", "\x00\x01binary", "binary"),
]


@pytest.mark.parametrize(("kind", "text", "fragment"), BAD_INPUT)
def test_bad_input_names_file_and_line(kind: str, text: str, fragment: str) -> None:
    parse = {"addr": iptext.parse_addr, "rule": iptext.parse_rules, "route": iptext.parse_routes}
    with pytest.raises(InputError) as error:
        parse[kind](text, "captured.txt")
    message = str(error.value)
    assert message.startswith("captured.txt: ") and fragment in message, message
    assert "\n" not in message


# --- every attribute iproute2 6.x prints; the family of each line from its content --------

# `ip route show table all` as iproute2 6.1 prints it on kernel 6.x (from namespaces; the
# mpls encapsulation, `rt_offload` and a newer word `rt_future` typed after the source)
ROUTES_6X = (
    "10.5.0.0/24 via 10.0.0.1 dev e0 table 101 advmss lock 1400 \n"
    "10.5.1.0/24 via 10.0.0.1 dev e0 table 101 congctl lock cubic \n"
    "10.5.2.0/24 via 10.0.0.1 dev e0 table 101 rto_min lock 5ms \n"
    "10.5.3.0/24 via 10.0.0.1 dev e0 table 101 realm 5 \n"
    "10.5.4.0/24 via 10.0.0.1 dev e0 table 101 mtu lock 1300 window lock 100 rtt lock 20ms "
    "rttvar 5ms ssthresh 10 cwnd 10 reordering 3 hoplimit 5 initcwnd 10 features ecn "
    "initrwnd 10 quickack 1 fastopen_no_cookie 1 \n"
    "10.5.6.0/24 table 101 \n"
    "\tnexthop via 10.0.0.1 dev e0 weight 2 \n"
    "\tnexthop via 10.0.0.2 realm 4 dev e0 weight 1 \n"
    "10.6.0.0/24 tos 0x10 dev e0 table 100 scope link realms 3/4 \n"
    "10.7.0.0/24  encap ip id 5 src 0.0.0.0 dst 10.0.0.99 ttl 5 tos 0 dev e0 table 100 "
    "scope link \n"
    "10.8.0.0/24  encap seg6 mode encap segs 2 [ 2001:db8::1 2001:db8::2 ] dev e0 table 100 "
    "scope link \n"
    "10.9.0.0/24  encap mpls  100/200 via 10.0.0.1 dev e0 table 100 \n"
    "10.12.0.0/24 nhid 7 via 10.0.0.1 dev e0 table 100 rt_offload rt_future \n"
    "default dev wg0 table 51820 scope link \n"
    "unreachable default table 9 \n"
    "2001:db8:5::/64 from 2001:db8::/64 via fe80::1 dev e0 table 200 metric 1024 pref medium\n"
    "2001:db8:6::/64 via fe80::1 dev e0 table 200 metric 1024 expires 99sec pref medium\n"
    "2001:db8:7::/64  encap seg6 mode inline segs 2 [ 2001:db8::1 :: ] dev e0 table 200 "
    "metric 1024 pref medium\n"
    "2001:db8:9::/64  encap ip6 id 5 src :: dst 2001:db8::99 hoplimit 5 tc 0 dev e0 "
    "table 101 metric 1024 pref medium\n"
    "default dev e0 table 200 metric 1024 pref medium\n"
    "unreachable default dev lo table 9 metric 4294967295 error -101 pref medium\n"
)


def test_every_route_attribute_of_iproute2_6_is_read_and_kept() -> None:
    routes = {str(r.dst) + r.table: r for r in iptext.parse_routes(ROUTES_6X, "route.txt")}
    advmss = routes["10.5.0.0/24101"]
    assert advmss.attributes == ("advmss lock 1400",) and "advmss lock 1400" in advmss.describe()
    assert routes["10.5.2.0/24101"].attributes == ("rto_min lock 5ms",)
    assert routes["10.5.1.0/24101"].attributes == ("congctl lock cubic",)
    assert routes["10.5.4.0/24101"].nexthops[0].gateway == ip_address("10.0.0.1")
    assert [nh.weight for nh in routes["10.5.6.0/24101"].nexthops] == [2, 1]
    tos = routes["10.6.0.0/24100"]
    assert tos.tos == 0x10 and "realms 3/4" in tos.attributes
    tunnel = routes["10.7.0.0/24100"]
    # the tunnel's own src/dst/tos are not the route's
    assert (tunnel.prefsrc, tunnel.tos, tunnel.nexthops[0].dev) == (None, 0, "e0")
    assert tunnel.attributes[0].startswith("encap ip id 5")
    mpls = routes["10.9.0.0/24100"]
    assert mpls.nexthops[0].gateway == ip_address("10.0.0.1")
    assert mpls.attributes == ("encap mpls 100/200",)
    offloaded = routes["10.12.0.0/24100"]
    assert offloaded.nhid == 7 and "rt_offload" in offloaded.flags
    assert "rt_future" in offloaded.attributes  # unknown: kept, not a reason to refuse
    # families from each line's content: `pref` only on IPv6, an address wherever there is one
    assert routes["0.0.0.0/051820"].family == 4 and routes["0.0.0.0/09"].type == "unreachable"
    assert routes["::/09"].family == 6 and routes["::/0200"].family == 6
    source = routes["2001:db8:5::/64200"]
    assert source.src == ip_network("2001:db8::/64") and source.family == 6
    assert routes["2001:db8:9::/64101"].nexthops[0].dev == "e0"


def test_route_family_does_not_depend_on_the_order_of_lines() -> None:
    lines = ROUTES_6X.replace("\n\t", "\t").splitlines()
    reordered = "\n".join(reversed(lines)).replace("\t", "\n\t") + "\n"
    key = sorted(
        (r.family, str(r.dst), r.table, r.type) for r in iptext.parse_routes(ROUTES_6X, "a")
    )
    assert key == sorted(
        (r.family, str(r.dst), r.table, r.type) for r in iptext.parse_routes(reordered, "b")
    )


def test_rule_selectors_of_newer_iproute2_are_read() -> None:
    text = (
        "0:\tfrom all lookup local\n"
        "5:\tfrom all dscp AF41 lookup 5\n"
        "6:\tfrom all dscp 0x8/0x38 lookup 6\n"
        "7:\tfrom all flowlabel 0x1234/0xff00 lookup 7\n"
        "8:\tfrom all ipproto udp sport 1000/0xff00 dport 53 lookup 8\n"
        "9:\tfrom all lookup [l3mdev-table]\n"
        "10:\tnot from all uidrange 1000-2000 fancy_selector 3 lookup 10\n"
        "11:\tfrom 2001:db8::/64 lookup 11 realms 1/2 \n"
    )
    rules = {r.priority: r for r in iptext.parse_rules(text, "f")}
    assert {r.family for r in rules.values()} == {6}
    (dscp,) = rules[5].selectors
    assert (dscp.kind, dscp.value, dscp.mask) == ("dscp", 34, 0x3F)
    assert (rules[6].selectors[0].value, rules[6].selectors[0].mask) == (8, 0x38)
    label = rules[7].selectors[0]
    assert (label.kind, label.value, label.mask) == ("flowlabel", 0x1234, 0xFF00)
    proto, sport, dport = rules[8].selectors
    assert (proto.value, sport.value, sport.mask, dport.value, dport.high) == (
        17,
        1000,
        0xFF00,
        53,
        53,
    )
    assert rules[9].selectors[0].kind == "l3mdev" and rules[9].table == "[l3mdev-table]"
    assert [s.kind for s in rules[10].selectors] == ["uid", "unknown", "unknown"]
    assert rules[10].invert and rules[11].attributes == ("realms 1/2",)


V4_RULES = (
    "0:\tfrom all lookup local\n32765:\tfrom all fwmark 0x1 lookup 7\n"
    "32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n"
)
V6_RULES = "0:\tfrom all lookup local\n32765:\tfrom all lookup 8\n32766:\tfrom all lookup main\n"
V6_WITH_ADDRESS = V6_RULES.replace("32765:\tfrom all", "32765:\tfrom 2001:db8::/64")


@pytest.mark.parametrize("v6", [V6_RULES, V6_WITH_ADDRESS])
def test_rule_families_from_content_whatever_the_order(v6: str) -> None:
    expected = {(4, 32765): "7", (6, 32765): "8"}

    def families(*texts: str) -> dict[tuple[int, int], str | None]:
        listings = tuple(
            listing
            for index, text in enumerate(texts)
            for listing in iptext.rule_listings(text, f"f{index}")
        )
        rules, _ = iptext.resolve_rule_families(listings)
        return {(r.family, r.priority): r.table for r in rules if r.priority == 32765}

    assert families(V4_RULES, v6) == expected
    assert families(v6, V4_RULES) == expected  # `ip -6 rule show` given first
    assert families(V4_RULES + v6) == expected
    assert families(v6 + V4_RULES) == expected  # concatenated, IPv6 first
    # alone: IPv6 without the kernel's `lookup default` rule, IPv4 with it
    assert families(v6) == {(6, 32765): "8"}
    assert families(V4_RULES) == {(4, 32765): "7"}


def test_rule_family_from_the_routes_of_its_tables_and_ambiguous_listings() -> None:
    listings = iptext.rule_listings(
        "0:\tfrom all lookup local\n5:\tfrom all lookup 5\n"
        "0:\tfrom all lookup local\n6:\tfrom all lookup 6\n",
        "f",
    )
    rules, notes = iptext.resolve_rule_families(listings, {"5": frozenset({6})})
    assert {(r.priority, r.family) for r in rules if r.priority} == {(5, 6), (6, 4)}
    assert "IPv6" in notes[0] and "tables" in notes[0]
    with pytest.raises(InputError, match="cannot tell which is IPv4"):
        iptext.resolve_rule_families(listings)
    defaults = "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n"
    rules, _ = iptext.resolve_rule_families(iptext.rule_listings(defaults * 2, "f"))
    assert sorted(r.family for r in rules) == [4, 4, 6, 6]  # the same: either way round
    three = iptext.rule_listings(defaults * 3, "f")
    with pytest.raises(InputError, match="third rule listing"):
        iptext.resolve_rule_families(three)


def test_live_json_of_newer_iproute2_selectors_and_encap() -> None:
    """`ip -j rule show` of iproute2 6.12+ (dscp, flowlabel, masks), a key no iproute2
    prints yet, and an `encap ip` route whose tunnel keys repeat the route's."""
    rules_json = (
        '[{"priority":5,"src":"all","table":"5","dscp":"AF42"},'
        '{"priority":6,"src":"all","table":"6","dscp":"16","dscp_mask":"0x30"},'
        '{"priority":7,"src":"all","table":"7","flowlabel":"0x11","flowlabel_mask":"0xff"},'
        '{"priority":8,"src":"all","table":"8","sport":768,"sport_mask":"0xff00",'
        '"dport_start":1,"dport_end":100},'
        '{"priority":9,"not":null,"src":"all","table":"9","shiny":"new"}]'
    )
    rules = {
        r.priority: r for r in ipjson.parse_rules(ipjson.load(rules_json, "rules"), 6, "rules")
    }
    assert [(s.kind, s.value, s.mask) for s in rules[5].selectors] == [("dscp", 36, 0x3F)]
    assert [(s.value, s.mask) for s in rules[6].selectors] == [(16, 0x30)]
    assert [(s.kind, s.value, s.mask) for s in rules[7].selectors] == [("flowlabel", 0x11, 0xFF)]
    sport, dport = rules[8].selectors
    assert (sport.value, sport.mask, dport.value, dport.high) == (768, 0xFF00, 1, 100)
    assert rules[9].invert and [s.describe() for s in rules[9].selectors] == ["shiny new"]
    assert rules[9].selectors[0].kind == "unknown"
    routes_json = (
        '[{"type":"unicast","dst":"10.7.0.0/24","encap":"ip","id":5,"src":"0.0.0.0",'
        '"dst":"10.0.0.99","ttl":5,"tos":0,"dev":"e0","scope":"link","flags":[]},'
        '{"dst":"10.6.0.0/24","tos":"0x10","dev":"e0","flags":[],"flow":{"from":"3","to":"4"}},'
        '{"dst":"2600::/16","from":"2001:db8::/64","gateway":"fe80::1","dev":"e1",'
        '"metric":1024,"flags":[],"pref":"medium"}]'
    )
    routes = ipjson.parse_routes(ipjson.load(routes_json, "routes"), 4, "routes")
    tunnel, tos = routes
    assert str(tunnel.dst) == "10.7.0.0/24" and tunnel.src is None and tunnel.tos == 0
    assert tunnel.attributes[0].startswith("encap ip id 5 src 0.0.0.0 dst 10.0.0.99")
    assert tos.tos == 0x10 and any(a.startswith("flow ") for a in tos.attributes)
    (source,) = ipjson.parse_routes(ipjson.load(routes_json, "routes"), 6, "routes")
    assert str(source.src) == "2001:db8::/64"
