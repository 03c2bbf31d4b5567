"""eniplan.values: every string from AWS, IMDS or a file is checked before it is used."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from eniplan import values
from eniplan.sources import records
from eniplan.sources.records import RecordError

# Characters that would change the meaning of a shell script, a YAML/INI/HCL file or a log
# line if an ID, a MAC or a region name carrying them reached a renderer.
METACHARACTERS = list(" \t\n\r\v\f\x00;|&$`'\"\\<>(){}[]*?!#~%=,^@/:\x1b\x7f\u2028\x85")

SAFE_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
SAFE_ID = re.compile(r"[a-z-]+-[0-9a-f]{8}(?:[0-9a-f]{9})?")
SAFE_REGION = re.compile(r"[a-z0-9-]+")


def _with_metacharacter() -> st.SearchStrategy[str]:
    """Any text with at least one metacharacter somewhere in it."""
    return st.tuples(
        st.text(max_size=30), st.sampled_from(METACHARACTERS), st.text(max_size=30)
    ).map("".join)


def _hex(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789abcdef", min_size=size, max_size=size)


def _rejects(check: Callable[[object], object], value: object) -> bool:
    try:
        check(value)
    except ValueError:
        return True
    return False


# --- resource IDs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("i", "i-0c541472eb4304c4b"),
        ("i", "i-1a2b3c4d"),
        ("eni", "eni-0385f207b6d94400c"),
        ("subnet", "subnet-0585fdd9aadbe4c57"),
        ("vpc", "vpc-0122061905576ec92"),
        ("ami", "ami-0e85de1223347157d"),
        ("rtb", "rtb-095379591a4e6651a"),
        ("eni-attach", "eni-attach-006fa70231fb105cf"),
        ("sg", "sg-0ce4eeaefb46d46c9"),
    ],
)
def test_resource_id_accepts_8_and_17_hex_digits(kind: str, value: str) -> None:
    assert values.resource_id(kind, value) == value


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("i", "i-xyz"),
        ("i", "i-0C541472EB4304C4B"),  # AWS IDs are lowercase
        ("i", "i-0c541472eb4304c4"),  # 16 digits
        ("i", "i-0c541472eb4304c4bb"),  # 18 digits
        ("i", "i-1a2b3c4"),
        ("i", "eni-0385f207b6d94400c"),  # another kind
        ("eni", "i-0c541472eb4304c4b"),
        ("i", " i-0c541472eb4304c4b"),
        ("i", "i-0c541472eb4304c4b\n"),
        ("i", "i-0c541472eb4304c4b;reboot"),
        ("i", ""),
        ("i", None),
        ("i", 1234),
        ("i", ["i-0c541472eb4304c4b"]),
    ],
)
def test_resource_id_rejects(kind: str, value: object) -> None:
    with pytest.raises(ValueError, match=r"is not a valid \w+(-\w+)?- ID"):
        values.resource_id(kind, value)


@given(kind=st.sampled_from(["i", "eni", "subnet", "vpc", "ami", "rtb"]), digits=_hex(17))
def test_resource_id_round_trips(kind: str, digits: str) -> None:
    assert values.resource_id(kind, f"{kind}-{digits}") == f"{kind}-{digits}"
    assert values.resource_id(kind, f"{kind}-{digits[:8]}") == f"{kind}-{digits[:8]}"


@given(_with_metacharacter())
def test_resource_id_rejects_metacharacters(value: str) -> None:
    assert _rejects(lambda v: values.resource_id("i", v), value)


@given(st.text(max_size=40))
@example("i-0c541472eb4304c4b")
def test_resource_id_output_is_always_safe(value: str) -> None:
    try:
        result = values.resource_id("i", value)
    except ValueError:
        return
    assert SAFE_ID.fullmatch(result)


# --- MAC addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0e:1a:37:16:c5:22", "0e:1a:37:16:c5:22"),
        ("0E:3B:AE:AB:4E:84", "0e:3b:ae:ab:4e:84"),
        ("02:Ab:cD:eF:01:23", "02:ab:cd:ef:01:23"),
        # as read from /sys/class/net/eth0/address: surrounding whitespace is dropped
        ("0e:1a:37:16:c5:22\n", "0e:1a:37:16:c5:22"),
    ],
)
def test_mac_address_normalised(value: str, expected: str) -> None:
    assert values.mac_address(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "02:zz:cd:ef:01:23",
        "02-ab-cd-ef-01-23",
        "02abcdef0123",
        "02:ab:cd:ef:01",
        "02:ab:cd:ef:01:23:45",
        "2:ab:cd:ef:01:23",
        "02:ab:cd:ef:01:23;reboot",
        "02:ab:cd:ef:01:23\nip link set eth0 down",
        "02:ab:cd:ef:01 :23",
        "",
        None,
        0x02ABCDEF0123,
    ],
)
def test_mac_address_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="is not a MAC address"):
        values.mac_address(value)


@given(st.binary(min_size=6, max_size=6), st.lists(st.booleans(), min_size=12, max_size=12))
def test_mac_address_any_case_normalises_to_lowercase(raw: bytes, upper: list[bool]) -> None:
    lowercase = ":".join(f"{byte:02x}" for byte in raw)
    digits = iter(upper)
    mixed = "".join(char.upper() if char != ":" and next(digits) else char for char in lowercase)
    assert values.mac_address(mixed) == lowercase


@given(_with_metacharacter())
def test_mac_address_output_never_carries_metacharacters(value: str) -> None:
    try:
        result = values.mac_address(value)
    except ValueError:
        return
    # Only whitespace around a MAC is tolerated (and stripped); the result is always clean.
    assert SAFE_MAC.fullmatch(result)
    assert value.strip().lower() == result


@given(
    st.binary(min_size=6, max_size=6),
    st.integers(min_value=1, max_value=16),
    st.sampled_from([c for c in METACHARACTERS if not c.isspace()] + ["\n", " ", "\t"]),
)
def test_mac_address_rejects_metacharacter_inside(raw: bytes, position: int, meta: str) -> None:
    mac = ":".join(f"{byte:02x}" for byte in raw)
    assert _rejects(values.mac_address, mac[:position] + meta + mac[position:])


# --- regions and zones -----------------------------------------------------------------


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "eu-central-2",
        "ap-southeast-4",
        "il-central-1",
        "us-gov-west-1",
        "cn-north-1",
        "cn-northwest-1",
        "us-iso-east-1",
        "us-isob-east-1",
    ],
)
def test_region_name_accepts(region: str) -> None:
    assert values.region_name(region) == region


@pytest.mark.parametrize(
    "value",
    [
        "us-east-1a",  # a zone
        "US-EAST-1",
        "us-east",
        "useast1",
        "us-east-1\n",
        "us-east-1;id",
        "us-east-1 ",
        "$(id)",
        "",
        None,
        1,
    ],
)
def test_region_name_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="is not an AWS region name"):
        values.region_name(value)


@given(_with_metacharacter())
def test_region_name_rejects_metacharacters(value: str) -> None:
    assert _rejects(values.region_name, value)


@given(st.text(max_size=30))
def test_region_name_output_is_always_safe(value: str) -> None:
    try:
        result = values.region_name(value)
    except ValueError:
        return
    assert SAFE_REGION.fullmatch(result)


@pytest.mark.parametrize(
    ("zone", "region"),
    [
        ("us-east-1a", "us-east-1"),
        ("us-west-2-lax-1a", "us-west-2"),  # local zone
        ("us-east-1-bos-1a", "us-east-1"),
        ("us-east-1-wl1-bos-wlz-1", "us-east-1"),  # wavelength zone
        ("ap-northeast-1-wl1-nrt-wlz-1", "ap-northeast-1"),
        ("us-gov-west-1a", "us-gov-west-1"),
        ("cn-north-1a", "cn-north-1"),
        ("cn-northwest-1b", "cn-northwest-1"),
        ("eu-central-2c", "eu-central-2"),
        ("us-isob-east-1a", "us-isob-east-1"),
    ],
)
def test_region_of_zone(zone: str, region: str) -> None:
    assert values.availability_zone(zone) == zone
    assert values.region_of_zone(zone) == region


@pytest.mark.parametrize(
    "zone", ["us-east-1", "use1-az4", "us-east-1A", "us-east-1a\n", "us-east-1a;id", ""]
)
def test_region_of_zone_rejects(zone: str) -> None:
    with pytest.raises(ValueError, match="is not an availability zone"):
        values.region_of_zone(zone)
    with pytest.raises(ValueError, match="is not an availability zone"):
        values.availability_zone(zone)


_REGIONS = st.builds(
    lambda geo, partition, direction, number: f"{geo}{partition}-{direction}-{number}",
    st.sampled_from(["us", "eu", "ap", "ca", "sa", "me", "af", "il", "mx", "cn"]),
    st.sampled_from(["", "-gov", "-iso", "-isob", "-isof"]),
    st.sampled_from(["east", "west", "central", "north", "south", "southeast", "northwest"]),
    st.integers(min_value=1, max_value=14),
)


@given(
    _REGIONS,
    st.sampled_from(
        ["a", "b", "f", "-lax-1a", "-bos-1a", "-wl1-bos-wlz-1", "-wl1-sfo-wlz-1", "-dfw-2a"]
    ),
)
def test_region_of_zone_recovers_the_region(region: str, suffix: str) -> None:
    assert values.region_name(region) == region
    assert values.region_of_zone(region + suffix) == region


# --- tags and text ---------------------------------------------------------------------


# Any string EC2 accepts as a tag (or a description) is data: control characters, line
# breaks and bidi controls included. Outputs escape them; reading never stops on them.
ODD_BUT_LEGAL = [
    "line\nbreak",
    "carriage\rreturn",
    "tab\tinside",
    "nul\x00",
    "escape \x1b[31mred",
    "del\x7f",
    "next line \x85",  # C1 control
    "csi \x9b",
    "line separator \u2028",
    "bidi \u202eevil",
    "[bold]markup[/bold] [/x]",
]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "centos-seed-001",
        "Ünïcödé ✓ 名前",
        "a" * values.TAG_VALUE_MAX,
        "k8s.io/role=node",
        *ODD_BUT_LEGAL,
    ],
)
def test_tag_value_accepts(value: str) -> None:
    assert values.tag_value(value) == value
    assert values.data_text(value) == value


@pytest.mark.parametrize(
    "value", ["a" * (values.TAG_VALUE_MAX + 1), "lone surrogate \ud800", 42, None, True, ["x"]]
)
def test_tag_value_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="is not a tag value"):
        values.tag_value(value)


@given(st.text(max_size=20), st.characters(categories=["Cc"]), st.text(max_size=20))
def test_control_characters_are_data_in_tags_not_in_aws_made_text(
    before: str, control: str, after: str
) -> None:
    value = before + control + after
    assert values.tag_value(value) == value
    assert values.tag_key(value) == value
    assert values.data_text(value) == value
    assert _rejects(values.text, value)  # an instance type or a state is never like that


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=256))
def test_tag_value_accepts_any_characters(value: str) -> None:
    assert values.tag_value(value) == value


def test_tag_key_bounds() -> None:
    assert values.tag_key("k" * values.TAG_KEY_MAX) == "k" * values.TAG_KEY_MAX
    assert values.tag_key("a\nb") == "a\nb"
    for bad in ("", "k" * (values.TAG_KEY_MAX + 1), None, 1):
        with pytest.raises(ValueError, match="is not a tag key"):
            values.tag_key(bad)


def test_a_lone_surrogate_is_not_text_aws_makes() -> None:
    """Text people write refuses one (no character); a type or state does too: a boto3
    dict reaches the records without a JSON decoder that would have refused it."""
    with pytest.raises(ValueError, match="printable text"):
        values.text("interface\ud800")
    with pytest.raises(RecordError, match="Platform"):
        records.decode({"ImageId": "ami-0123456789abcdef0", "Platform": "\udfff"}, records.Image)
    image = records.decode(
        {"ImageId": "ami-0123456789abcdef0", "Platform": "windows"}, records.Image
    )
    assert image.Platform == "windows"


def test_text_bounds() -> None:
    assert values.text("x" * 10, 10) == "x" * 10
    with pytest.raises(ValueError, match="at most 10 characters"):
        values.text("x" * 11, 10)
    with pytest.raises(ValueError, match="printable text"):
        values.text(b"bytes")


# --- accounts and role ARNs ------------------------------------------------------------


def test_account_id() -> None:
    assert values.account_id("111122223333") == "111122223333"
    for bad in ("11112222333", "1111222233334", "11112222333x", 111122223333, None, ""):
        with pytest.raises(ValueError, match="is not an AWS account ID"):
            values.account_id(bad)


@pytest.mark.parametrize(
    ("arn", "account"),
    [
        ("arn:aws:iam::444455556666:role/eniplan-read", "444455556666"),
        ("arn:aws-us-gov:iam::111122223333:role/path/to/Role+x=y,z.a@b-c", "111122223333"),
        ("arn:aws-cn:iam::111122223333:role/r", "111122223333"),
    ],
)
def test_role_arn(arn: str, account: str) -> None:
    assert values.role_arn(arn) == arn
    assert values.account_of_role_arn(arn) == account


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::44445555666:role/r",
        "arn:aws:iam::444455556666:user/r",
        "arn:aws:iam::444455556666:role/",
        "arn:aws:iam::444455556666:role/r;id",
        "arn:aws:iam::444455556666:role/r\n",
        "arn:aws:iam::444455556666:role/$(id)",
        "arn:aws:sts::444455556666:assumed-role/r/s",
    ],
)
def test_role_arn_rejects(arn: str) -> None:
    with pytest.raises(ValueError, match="is not an IAM role ARN"):
        values.role_arn(arn)


def test_role_names_ous_and_member_roles() -> None:
    for name in ("eniplan-read", "audit/eniplan-read", "a_b+c=d,e.f@g-h"):
        assert values.role_name(name) == name
    for bad in ("", "r;id", "r/", "/r", "a" * 65, "r\n", "$(id)", None):
        with pytest.raises(ValueError, match="is not an IAM role name"):
            values.role_name(bad)
    for ou in ("ou-ab12-abcdef12", "r-ab12"):
        assert values.org_parent(ou) == ou
    for bad in ("ou-x", "OU-AB12-ABCDEF12", "ou-ab12-abcdef12;", "o-abcdefghij", None):
        with pytest.raises(ValueError, match="is not an organizational unit ID"):
            values.org_parent(bad)
    arn = "arn:aws-us-gov:organizations::111122223333:account/o-abcdefghij/444455556666"
    assert values.partition_of_arn(arn) == "aws-us-gov"
    assert values.partition_of_arn(None) == "aws"
    assert values.partition_of_region("cn-north-1") == "aws-cn"
    assert values.partition_of_region("eu-west-1") == "aws"
    assert (
        values.member_role_arn("aws-cn", "444455556666", "audit/r")
        == "arn:aws-cn:iam::444455556666:role/audit/r"
    )


# --- addresses and networks ------------------------------------------------------------


def test_ipv4_address() -> None:
    assert values.ipv4_address("172.31.15.216") == IPv4Address("172.31.15.216")
    for bad in (
        "10.0.0.300",
        "10.0.0",
        "010.0.0.1",  # leading zeros: octal in some parsers
        "10.0.0.1/32",
        "10.0.0.1\n",
        " 10.0.0.1",
        "2600:1f18::1",
        167772161,
        None,
    ):
        with pytest.raises(ValueError, match="is not an IPv4 address"):
            values.ipv4_address(bad)


def test_ipv6_address() -> None:
    value = "2600:1f18:47a3:9e00:9c1a:2b3c:4d5e:6f70"
    assert values.ipv6_address(value) == IPv6Address(value)
    assert values.ipv6_address("2600:1F18::1") == IPv6Address("2600:1f18::1")
    for bad in (
        "2600:1f18::g",
        "10.0.0.1",
        "2600:1f18::/64",
        "fe80::1%eth0",  # a scope ID is free text that ipaddress keeps
        "fe80::1%$(reboot)",
        "fe80::1%x;id",
        "2600:1f18::1\n",
        None,
    ):
        with pytest.raises(ValueError, match="is not an IPv6 address"):
            values.ipv6_address(bad)


def test_ipv4_network_is_strict() -> None:
    assert values.ipv4_network("172.31.0.0/20") == IPv4Network("172.31.0.0/20")
    for bad in (
        "172.31.0.5/20",  # host bits set
        "172.31.24.17/28",
        "172.31.0.0",  # no prefix length
        "172.31.0.0/33",
        "172.31.0.0/20\n",
        "2600:1f18::/64",
        None,
    ):
        with pytest.raises(ValueError, match="is not an IPv4 CIDR block"):
            values.ipv4_network(bad)


def test_ipv6_network() -> None:
    block = "2600:1f18:47a3:9e00::/64"
    assert values.ipv6_network(block) == IPv6Network(block)
    for bad in (
        "2600:1f18:47a3:9e00::1/64",
        "2600:1f18:47a3:9e00::",
        "fe80::%eth0/64",
        "fe80::%$(id)/64",
        "10.0.0.0/8",
    ):
        with pytest.raises(ValueError, match="is not an IPv6 CIDR block"):
            values.ipv6_network(bad)


def test_ip_network() -> None:
    assert values.ip_network("10.0.0.0/8") == IPv4Network("10.0.0.0/8")
    assert values.ip_network("::/0") == IPv6Network("::/0")
    for bad in ("10.0.0.1/8", "10.0.0.0", "fe80::%x/64", None):
        with pytest.raises(ValueError, match="is not a CIDR block"):
            values.ip_network(bad)


@given(st.ip_addresses(v=4))
def test_ipv4_address_round_trips(address: IPv4Address) -> None:
    assert values.ipv4_address(str(address)) == address


@given(st.ip_addresses(v=6))
def test_ipv6_address_round_trips(address: IPv6Address) -> None:
    assert values.ipv6_address(str(address)) == address
    assert values.ipv6_address(address.exploded) == address


@given(st.ip_addresses(v=4), st.integers(min_value=0, max_value=32))
def test_ipv4_network_round_trips(address: IPv4Address, length: int) -> None:
    network = IPv4Network(f"{address}/{length}", strict=False)
    assert values.ipv4_network(str(network)) == network
    assert values.ip_network(str(network)) == network
    if address != network.network_address:
        assert _rejects(values.ipv4_network, f"{address}/{length}")


@given(st.ip_addresses(v=6), st.integers(min_value=0, max_value=128))
def test_ipv6_network_round_trips(address: IPv6Address, length: int) -> None:
    network = IPv6Network(f"{address}/{length}", strict=False)
    assert values.ipv6_network(str(network)) == network
    if address != network.network_address:
        assert _rejects(values.ipv6_network, f"{address}/{length}")


@given(_with_metacharacter())
def test_address_output_is_always_safe(value: str) -> None:
    """Whatever an address validator accepts prints as hex digits, dots, colons and a slash."""
    allowed = set(string.hexdigits + ".:/")
    for check in (
        values.ipv4_address,
        values.ipv6_address,
        values.ipv4_network,
        values.ipv6_network,
        values.ip_network,
    ):
        try:
            result = check(value)
        except ValueError:
            continue
        assert set(str(result)) <= allowed, (check.__name__, value, result)
