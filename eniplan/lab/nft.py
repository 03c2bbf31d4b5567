"""The VPC's enforcement and the lab's counters, as one nftables `bridge` table (pure text).

It sits in the vpc namespace on the prerouting hook of the subnets' bridges, so it sees
every frame that enters from a port (an ENI's transmissions):

- counters, before any drop, for every ENI address A: `tx_<ifname>_<A>`, packets from
  A to a probing host (a peer or the remote host: replies) that left through ENI
  <ifname> (per-interface transmit counters by source);
  `direct_<A>` and `via_<A>`, packets from A to the same-subnet peer addressed to the
  peer's MAC or to the router's;
- the source/dest check (unless the topology turns it off, or the inventory shows it
  disabled on that ENI): an IPv4 frame entering from
  an ENI's port whose source is not one of that ENI's addresses or delegated prefixes is
  dropped (and counted in `srcdst_<ifname>`);
- ARP ownership: ARP from an ENI's port that claims an address the ENI does not own is
  dropped (`arp_<ifname>`); the VPC answers ARP for an address's owner only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eniplan.lab.topology import Topology

FAMILY = "bridge"
TABLE = "eniplan_lab"


def _name(address: IPv4Address) -> str:
    return str(address).replace(".", "_")


def tx_counter(ifname: str, address: IPv4Address) -> str:
    return f"tx_{ifname}_{_name(address)}"


def direct_counter(address: IPv4Address) -> str:
    return f"direct_{_name(address)}"


def via_counter(address: IPv4Address) -> str:
    return f"via_{_name(address)}"


def srcdst_counter(ifname: str) -> str:
    return f"srcdst_{ifname}"


def arp_counter(ifname: str) -> str:
    return f"arp_{ifname}"


def _set(items: Iterable[IPv4Address | IPv4Network | str]) -> str:
    return "{ " + ", ".join(str(item) for item in items) + " }"


def ruleset(topology: Topology, *, replace: bool = False) -> str:
    """The table for `topology`; `replace`: atomically swap out the lab's previous one."""
    counters: list[str] = []
    rules: list[str] = []
    probers = _set((*(lan.peer.ip for lan in topology.lans), topology.remote.ip))
    for eni in topology.enis:
        lan = topology.lan(eni)
        for address in eni.addresses:
            for port in topology.enis:
                name = tx_counter(port.ifname, address)
                counters.append(name)
                rules.append(
                    f'ip saddr {address} ip daddr {probers} iifname "{port.port}" '
                    f'counter name "{name}"'
                )
            for name, mac in (
                (direct_counter(address), lan.peer_mac),
                (via_counter(address), lan.router_mac),
            ):
                counters.append(name)
                rules.append(
                    f"ip saddr {address} ip daddr {lan.peer.ip} ether daddr {mac} "
                    f'counter name "{name}"'
                )
    for eni in topology.enis:
        if topology.source_dest_check and eni.source_dest_check:
            name = srcdst_counter(eni.ifname)
            counters.append(name)
            rules.append(
                # 0.0.0.0: DHCP before the ENI has its address (lab --boot), as EC2 allows
                f'iifname "{eni.port}" ip saddr != '
                f"{_set((*eni.addresses, *eni.prefixes, '0.0.0.0'))} "
                f'counter name "{name}" drop'
            )
        name = arp_counter(eni.ifname)
        counters.append(name)
        rules.append(
            f'iifname "{eni.port}" arp saddr ip != {_set((*eni.addresses, "0.0.0.0"))} '
            f'counter name "{name}" drop'
        )
    lines = []
    if replace:
        lines += [f"table {FAMILY} {TABLE}", f"delete table {FAMILY} {TABLE}"]
    lines.append(f"table {FAMILY} {TABLE} {{")
    lines += [f"  counter {name} {{ }}" for name in counters]
    lines += [
        "  chain prerouting {",
        "    type filter hook prerouting priority -200; policy accept;",
        *(f"    {rule}" for rule in rules),
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def parse_counters(listing: Mapping[str, Any]) -> dict[str, int]:
    """Packets per counter from `nft -j list counters table bridge eniplan_lab`."""
    packets: dict[str, int] = {}
    for item in listing.get("nftables", []):
        counter = item.get("counter") if isinstance(item, dict) else None
        if isinstance(counter, dict) and counter.get("table") == TABLE:
            packets[str(counter["name"])] = int(counter.get("packets", 0))
    return packets


def list_counters_args() -> tuple[str, ...]:
    return ("list", "counters", "table", FAMILY, TABLE)
