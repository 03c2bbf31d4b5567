"""systemd-networkd target: one `.network` file per managed ENI.

    /etc/systemd/network/09-eniplan-<table>.network

Each file matches its ENI by MAC and carries the whole design of plan/ for that ENI:
DHCPv4 for the ENI's primary IPv4, the other addresses as `Address=`, the per-ENI
`[RoutingPolicyRule]`s and `[Route]`s in table T, the netdev group (`[Link] Group=`) and,
in the primary ENI's file, the guard rule (`SuppressInterfaceGroup=`).

Choices (also written as comments into the files and returned as notes):

- **Names.** networkd applies the *first* `.network` file, in lexical order of the file
  name, that matches a link, and ignores the rest. cloud-init's networkd renderer writes
  `/etc/systemd/network/10-cloud-init-<ifname>.network` and netplan generates
  `/run/systemd/network/10-netplan-<id>.network`; a `10-eniplan-*` file would lose to the
  former, so eniplan uses the `09-` prefix. For the primary ENI, eniplan's file therefore
  replaces the OS's: it keeps DHCPv4 (and the MTU that EC2's DHCP announces) so the
  primary's connectivity stays what it was.
- **No second default route in main.** Secondary ENIs run DHCPv4 with `UseRoutes=no`
  (`UseGateway=` follows it), not with a higher `RouteMetric=`: a metric keeps a backup
  default in main that takes over when the primary's lease is lost and then sends
  traffic with the primary's source address out of a secondary ENI, where the source/dest
  check drops it. Their default route lives in table T only. `UseHostname=no`: the
  primary's lease names the host.
- **Default route.** `GatewayOnLink=yes`: the VPC router (subnet base + 1) is always on
  the link, and networkd then installs the route at once instead of waiting for a route
  to the gateway (the link route of table T waits for the DHCP address, its source).
- **IPv6 default.** `[IPv6AcceptRA] RouteTable=T` puts the routes learned from router
  advertisements, the default via the RA router included, into table T: the RA router is
  learned at run time, never written down. That moves *all* of the link's RA routes out of
  main, which is right for secondary ENIs (no second IPv6 default in main) but would leave
  main without an IPv6 default on the primary. So the primary keeps its RA routes in main,
  and its table T has no IPv6 default: traffic from the primary's IPv6 addresses finds no
  default in table T, falls through to main and leaves by the primary's RA default, which
  is the same path. Secondary ENIs without IPv6 get `IPv6AcceptRA=no`, so an RA cannot put
  an IPv6 default into main through them.
- **The guard** needs systemd >= 250 (`SuppressInterfaceGroup=`; `[Link] Group=` is 246).
  An older networkd ignores the unknown key and would install a plain
  `lookup main priority base-1`, which answers every lookup before the per-ENI rules and
  disables policy routing altogether. The guard is therefore written only for OS releases
  known to ship systemd >= 250 and left out, with a note, everywhere else.
- Everything, the guard included, is networkd's own configuration: no script, no ordering
  against networkd, and nothing "foreign" that ManageForeignRoutingPolicyRules=yes (the
  default) would allow networkd to remove.

Every value written is typed (int, bool, ipaddress objects, a checked MAC, or one of a
few fixed keywords), and the section writer refuses a value or comment that could break
out of its line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import TypeAlias

from eniplan import ownership, values
from eniplan.errors import InputError
from eniplan.plan import MANAGED, EniPlan, Guard, InstancePlan, Route
from eniplan.render.base import RenderedFile, Rendering, RenderOptions, marker

TARGET = "networkd"
NETWORK_DIR = "/etc/systemd/network"
FILE_PREFIX = "09-eniplan-"

# systemd versions: SuppressInterfaceGroup= in [RoutingPolicyRule] (NEWS of 250),
# [Link] Group= (246), [IPv6AcceptRA] and [DHCPv4] RouteTable= (232).
SYSTEMD_FOR_GUARD = 250

# The systemd that each OS release ships (only what eniplan's OS guess can name).
_SYSTEMD_BY_OS: dict[tuple[str, str], int] = {
    (ownership.UBUNTU, "18.04"): 237,
    (ownership.UBUNTU, "20.04"): 245,
    (ownership.UBUNTU, "22.04"): 249,
    (ownership.UBUNTU, "24.04"): 255,
    (ownership.UBUNTU, "24.10"): 256,
    (ownership.UBUNTU, "25.04"): 257,
    (ownership.DEBIAN, "10"): 241,
    (ownership.DEBIAN, "11"): 247,
    (ownership.DEBIAN, "12"): 252,
    (ownership.DEBIAN, "13"): 257,
    (ownership.RHEL_7, "7"): 219,
    (ownership.RHEL_7, "6"): 0,  # no systemd at all
    (ownership.RHEL_8_PLUS, "8"): 239,
    (ownership.RHEL_8_PLUS, "9"): 252,
    (ownership.RHEL_8_PLUS, "10"): 257,
    (ownership.AMAZON_LINUX_2, ""): 219,
    (ownership.AMAZON_LINUX_2023, ""): 252,
    (ownership.AMAZON_LINUX_1, ""): 0,
}


def _release(version: str) -> tuple[int, ...] | None:
    parts = version.split(".")
    return tuple(int(part) for part in parts) if all(p.isdigit() for p in parts) else None


def systemd_version(os_guess: ownership.OsGuess) -> int | None:
    """The systemd version the planned OS ships (at least), or None when eniplan cannot
    tell. A release newer than the table knows gets its family's newest entry: a later
    release of a distribution never ships an older systemd."""
    exact = _SYSTEMD_BY_OS.get((os_guess.family, os_guess.version))
    if exact is not None:
        return exact
    release = _release(os_guess.version)
    known = [
        (known_release, systemd)
        for (family, version), systemd in _SYSTEMD_BY_OS.items()
        if family == os_guess.family and (known_release := _release(version)) is not None
    ]
    if release is None or not known:
        return _SYSTEMD_BY_OS.get((os_guess.family, ""))
    older = [systemd for known_release, systemd in known if known_release <= release]
    return max(older) if older else None


# --- typed values and the section writer -----------------------------------------------


@dataclass(frozen=True)
class Mac:
    """A MAC address that went through values.mac_address."""

    value: str

    def __post_init__(self) -> None:
        if values.mac_address(self.value) != self.value:
            raise ValueError(f"{self.value!r} is not a normalised MAC address")


# The only words a file may contain that are not numbers, addresses or MACs.
KEYWORDS = frozenset({"ipv4", "ipv6", "both", "no", "link", "main"})


@dataclass(frozen=True)
class Keyword:
    value: str

    def __post_init__(self) -> None:
        if self.value not in KEYWORDS:
            raise ValueError(f"{self.value!r} is not one of the networkd keywords eniplan writes")


Value: TypeAlias = (
    bool
    | int
    | IPv4Address
    | IPv6Address
    | IPv4Network
    | IPv6Network
    | IPv4Interface
    | IPv6Interface
    | Mac
    | Keyword
)

_ADDRESS_TYPES = (IPv4Address, IPv6Address, IPv4Network, IPv6Network, IPv4Interface, IPv6Interface)
_FORBIDDEN = frozenset("\n\r\x00\x0b\x0c\x85\u2028\u2029")


def format_value(value: Value) -> str:
    """The text of one typed value; refuses anything that could end or continue a line."""
    if isinstance(value, bool):  # before int: bool is an int
        text = "yes" if value else "no"
    elif isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative number {value} in a networkd file")
        text = str(value)
    elif isinstance(value, _ADDRESS_TYPES):
        text = str(value)
        if "%" in text:  # an IPv6 scope ID is free text
            raise ValueError(f"address {text!r} carries a scope ID")
    elif isinstance(value, (Mac, Keyword)):
        text = value.value
    else:
        raise TypeError(f"untyped value {value!r} in a networkd file")
    check_line(text)
    return text


def check_line(text: str) -> str:
    """No newline (or other line break) inside, no trailing backslash (a continuation)."""
    if any(char in _FORBIDDEN for char in text) or text.endswith("\\"):
        raise ValueError(f"{text!r} would break out of its line in a networkd file")
    return text


@dataclass(frozen=True)
class Section:
    name: str
    settings: tuple[tuple[str, Value], ...]
    comment: str | None = None


def _identifier(text: str) -> str:
    if not text or not text.isascii() or not text.isalnum():
        raise ValueError(f"{text!r} is not a networkd section or key name")
    return text


def write_unit(first_line: str, comments: Sequence[str], sections: Iterable[Section]) -> str:
    """An INI-style systemd file: the marker line and comment lines, then `[Section]` blocks
    of `Key=value`."""
    if not first_line.startswith("# "):
        raise ValueError(f"{first_line!r} is not a comment line")
    lines = [check_line(first_line)]
    lines += [f"# {check_line(comment)}".rstrip() for comment in comments]
    for section in sections:
        lines.append("")
        if section.comment:
            lines.append(f"# {check_line(section.comment)}")
        lines.append(f"[{_identifier(section.name)}]")
        lines.extend(f"{_identifier(key)}={format_value(value)}" for key, value in section.settings)
    return "\n".join(lines) + "\n"


# --- what each ENI needs (shared with the netplan target) ------------------------------


def uses_dhcp4(eni: EniPlan) -> bool:
    """DHCPv4 brings up the ENI's primary IPv4 (the primary ENI's too: the OS's DHCP)."""
    return eni.primary_ipv4 is not None


def static_addresses(eni: EniPlan) -> tuple[IPv4Interface | IPv6Interface, ...]:
    """Addresses to configure statically: every planned one except the address DHCPv4
    brings (configuring it twice would let the lease's expiry remove the static one)."""
    ipv4 = tuple(
        address
        for address in eni.ipv4_addresses
        if not (uses_dhcp4(eni) and address.ip == eni.primary_ipv4)
    )
    return ipv4 + eni.ipv6_addresses


def has_ipv6(eni: EniPlan) -> bool:
    return bool(eni.ipv6_addresses) or any(route.via_ra for route in eni.routes)


def ra_route_table(eni: EniPlan) -> int | None:
    """The table that router advertisements feed: T for a secondary ENI with IPv6; None
    for the primary (its RA default stays in main) and for ENIs without IPv6."""
    if eni.is_primary or not any(route.via_ra for route in eni.routes):
        return None
    return eni.table


def accept_ra(eni: EniPlan) -> bool | None:
    """True with IPv6; False on a secondary without IPv6 (no RA default into main through
    it); None (networkd's default) on a primary without IPv6, as the OS had it."""
    if has_ipv6(eni):
        return True
    return None if eni.is_primary else False


def static_routes(eni: EniPlan) -> tuple[Route, ...]:
    """The routes to write; the RA default comes from `ra_route_table` instead."""
    return tuple(route for route in eni.routes if not route.via_ra)


def guard_written(plan: InstancePlan) -> bool:
    """The guard only where networkd is known to understand SuppressInterfaceGroup=."""
    version = systemd_version(plan.os)
    return plan.guard is not None and version is not None and version >= SYSTEMD_FOR_GUARD


def guard_eni(plan: InstancePlan) -> EniPlan:
    """The ENI whose configuration carries the guard rule: the primary (always attached)."""
    return next((eni for eni in plan.enis if eni.is_primary), min(plan.enis, key=_by_table))


def guard_family(plan: InstancePlan) -> Keyword:
    """The guard for IPv4, and for IPv6 too when the plan has IPv6 rules."""
    return Keyword("both" if any(rule.family == 6 for rule in plan.rules) else "ipv4")


def _by_table(eni: EniPlan) -> int:
    return eni.table


def guard_notes(plan: InstancePlan) -> tuple[str, ...]:
    if plan.guard is None or guard_written(plan):
        return ()
    version = systemd_version(plan.os)
    known = (
        f"{plan.os.family} {plan.os.version}".strip() + f" ships systemd {version}"
        if version is not None
        else f"the OS ({plan.os.family}) is not known to ship systemd >= {SYSTEMD_FOR_GUARD}"
    )
    return (
        f"main-table guard left out: {known}; SuppressInterfaceGroup= needs systemd >= "
        f"{SYSTEMD_FOR_GUARD}, and an older networkd would ignore it and install a plain "
        "'lookup main' rule ahead of every per-ENI rule. Per-ENI policy routing is complete "
        "without it; the iproute2 target can add the guard on any kernel.",
    )


def check_plan(plan: InstancePlan) -> None:
    if plan.status != MANAGED or not plan.enis:
        raise ValueError(f"{plan.instance_id}: only managed plans are rendered ({plan.status})")
    for eni in plan.enis:
        values.resource_id("eni", eni.eni_id)
        values.mac_address(eni.mac)


# --- the .network files ------------------------------------------------------------------


def network_path(eni: EniPlan) -> str:
    return f"{NETWORK_DIR}/{FILE_PREFIX}{eni.table}.network"


def rule_sections(eni: EniPlan) -> list[Section]:
    return [
        Section(
            "RoutingPolicyRule",
            (("From", rule.source), ("Table", rule.table), ("Priority", rule.priority)),
        )
        for rule in eni.rules
    ]


def guard_rule_section(plan: InstancePlan, guard: Guard) -> Section:
    return Section(
        "RoutingPolicyRule",
        (
            ("Table", Keyword("main")),
            ("Priority", guard.priority),
            ("SuppressInterfaceGroup", guard.group),
            ("Family", guard_family(plan)),
        ),
        comment=(f"guard: lookup main suppress_ifgroup {guard.group} priority {guard.priority}"),
    )


def route_section(route: Route) -> Section:
    settings: list[tuple[str, Value]] = [("Destination", route.destination)]
    if route.gateway is not None:
        settings += [("Gateway", route.gateway), ("GatewayOnLink", True)]
    elif route.family == 4:
        settings.append(("Scope", Keyword("link")))  # networkd ignores Scope= for IPv6
    if route.source is not None:
        settings.append(("PreferredSource", route.source))
    settings.append(("Table", route.table))
    return Section("Route", tuple(settings))


def network_file(plan: InstancePlan, eni: EniPlan) -> RenderedFile:
    role = "primary ENI" if eni.is_primary else "secondary ENI"
    comments = [
        f"{values.resource_id('eni', eni.eni_id)} ({role}), network card "
        f"{eni.network_card_index}, device {eni.device_index}: routing table {eni.table}",
        "Matched by MAC. The 09- prefix sorts before 10-cloud-init-*.network and",
        "10-netplan-*.network: networkd applies the first matching file only.",
    ]
    sections = [Section("Match", (("MACAddress", Mac(eni.mac)),))]
    if guard_written(plan):
        assert plan.guard is not None
        sections.append(
            Section("Link", (("Group", plan.guard.group),), comment="netdev group of the guard")
        )

    network: list[tuple[str, Value]] = [
        ("DHCP", Keyword("ipv4") if uses_dhcp4(eni) else Keyword("no"))
    ]
    network += [("Address", address) for address in static_addresses(eni)]
    ra = accept_ra(eni)
    if ra is not None:
        network.append(("IPv6AcceptRA", ra))
    sections.append(Section("Network", tuple(network)))

    if uses_dhcp4(eni):
        dhcp: list[tuple[str, Value]] = [("UseMTU", True)]
        comment = "DHCPv4 keeps the primary ENI's address, default route and MTU"
        if not eni.is_primary:
            dhcp += [("UseRoutes", False), ("UseHostname", False)]
            comment = "DHCPv4 for the address only: no second default route in main"
        sections.append(Section("DHCPv4", tuple(dhcp), comment=comment))

    table = ra_route_table(eni)
    if table is not None:
        sections.append(
            Section(
                "IPv6AcceptRA",
                (("RouteTable", table),),
                comment="the IPv6 default via the RA router, learned at run time, in table T",
            )
        )

    sections += rule_sections(eni)
    if guard_written(plan) and eni is guard_eni(plan):
        assert plan.guard is not None
        sections.append(guard_rule_section(plan, plan.guard))
    sections += [route_section(route) for route in static_routes(eni)]
    return RenderedFile(network_path(eni), write_unit(marker(plan), comments, sections), 0o644)


def notes(plan: InstancePlan) -> tuple[str, ...]:
    result = [
        "files are named 09-eniplan-<table>.network so that they sort before "
        "10-cloud-init-*.network and 10-netplan-*.network: networkd applies the first "
        "matching file, so eniplan's replaces the OS's for every ENI it manages; the "
        "primary ENI keeps DHCPv4.",
        "secondary ENIs: DHCPv4 with UseRoutes=no (no second default route in main); their "
        "default route is in their own table only.",
    ]
    if any(ra_route_table(eni) is not None for eni in plan.enis):
        result.append(
            "IPv6 default: [IPv6AcceptRA] RouteTable=T puts the RA router's default route "
            "into each secondary ENI's table."
        )
    if any(eni.is_primary and has_ipv6(eni) for eni in plan.enis):
        result.append(
            "the primary ENI's IPv6 default stays in main (RouteTable= would move it out of "
            "main); traffic from its IPv6 addresses falls through its table to main and "
            "leaves by the same RA default."
        )
    if guard_written(plan):
        result.append(
            "guard: [Link] Group= and a SuppressInterfaceGroup= rule in the primary ENI's "
            f"file (needs systemd >= {SYSTEMD_FOR_GUARD})."
        )
    result.extend(guard_notes(plan))
    return tuple(result)


def check_options(options: RenderOptions, target: str) -> None:
    if options.mode != "static":
        raise InputError(
            f"--mode {options.mode}: the {target} target writes static files from the plan; "
            "for ENIs discovered at boot use --target cloud-init --mode dynamic"
        )


def render(plan: InstancePlan, options: RenderOptions) -> Rendering:
    check_options(options, TARGET)
    check_plan(plan)
    files = tuple(network_file(plan, eni) for eni in sorted(plan.enis, key=_by_table))
    return Rendering(
        target=TARGET,
        instance_id=plan.instance_id,
        files=files,
        notes=notes(plan),
        activate=("networkctl reload",),
    )
