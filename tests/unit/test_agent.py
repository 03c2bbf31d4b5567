"""The dynamic-mode agent without IMDS: its value checks and plan refusals, standing aside, the
user data that carries it (16 KB, gzip), compact Python."""

from __future__ import annotations

import ast
import gzip
import re
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from eniplan import __version__
from eniplan.agent import main as agent
from eniplan.cli import main as cli_main
from eniplan.plancore import EniFacts, PlanError, plan_enis
from eniplan.render import compact, dynamic
from tests.helpers.dynamic import user_data_files, without_docs


def test_an_ipv6_only_eni_is_settled() -> None:
    raw = {"interface-id": "eni-0123456789abcdef0", "device-number": "1",
           "subnet-id": "subnet-0123456789abcdef0", "ipv6s": "2600:1f18::5",
           "subnet-ipv6-cidr-blocks": "2600:1f18::/64"}  # fmt: skip
    facts = agent.eni_facts("02:00:00:00:00:01", raw)
    assert facts.subnet_cidr is None and facts.primary_ipv4 is None


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("usr/bin/setup-policy-routes", ""),
        ("usr/lib/systemd/system/policy-routes@.service", ""),
        ("etc/sysconfig/network-scripts/ec2net-functions", ""),
        (
            "etc/netplan/50-cloud-init.yaml",
            "network:\n  ethernets:\n    ens6:\n      routing-policy:\n",
        ),
    ],
)
def test_it_stands_aside_where_another_agent_routes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str, text: str
) -> None:
    file = tmp_path / path
    file.parent.mkdir(parents=True)
    file.write_text(text)
    # no IMDS at all: standing aside asks it nothing
    status = agent.main(["--root", str(tmp_path), "--lock", str(tmp_path / "lock"),
                         "--imds", "http://127.0.0.1:9"])  # fmt: skip
    assert status == 0
    assert "standing aside" in capsys.readouterr().err


def test_plain_netplan_is_no_other_agent(tmp_path: Path) -> None:
    netplan = tmp_path / "etc/netplan/50-cloud-init.yaml"
    netplan.parent.mkdir(parents=True)
    netplan.write_text("network:\n  ethernets:\n    ens5:\n      dhcp4: true\n")
    assert agent.other_owner(tmp_path) is None


def test_the_user_data_is_gzip_under_16_kb_and_the_same_for_all(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    cli_main(["render", "--target", "cloud-init", "--mode", "dynamic"])
    out, err = capsysbinary.readouterr()
    text = gzip.decompress(out).decode()
    assert text == dynamic.user_data()
    assert len(out) < dynamic.USER_DATA_LIMIT
    assert f"gzip-compressed to {len(out)} bytes" in err.decode()
    lines = text.splitlines()
    assert lines[0] == "#cloud-config"
    assert lines[1] == f"# eniplan {__version__} mode=dynamic table-base=10000 guard=on"
    cli_main(["render", "--target", "cloud-init", "--mode", "dynamic"])
    assert capsysbinary.readouterr().out == out  # reproducible: byte-identical every time
    print(f"dynamic user data: {len(text)} bytes of text, {len(out)} bytes gzip-compressed")


@pytest.mark.parametrize("argv", [["--sandbox"], ["--instance-id", "i-0123456789abcdef0"],
                                  ["--persist", "netplan"], ["--persist", "auto"],
                                  ["--force"]])  # fmt: skip
def test_dynamic_mode_takes_no_inventory(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main(["render", "--target", "cloud-init", "--mode", "dynamic", *argv])
    assert exited.value.code == 2
    assert "does not apply" in capsys.readouterr().err


def test_dynamic_to_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli_main(["render", "--target", "cloud-init", "--mode", "dynamic", "--table-base", "20000",
              "--no-guard", "-o", str(tmp_path)])  # fmt: skip
    written = gzip.decompress((tmp_path / "dynamic" / "user-data").read_bytes()).decode()
    assert written == dynamic.user_data(20000, False)
    assert "table-base=20000 guard=off" in written.splitlines()[1]
    assert "--table-base 20000 --no-guard" in user_data_files(written)[dynamic.UNIT]


def test_only_cloud_init_is_dynamic(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main(["render", "--target", "iproute2", "--mode", "dynamic"])
    assert exited.value.code == 2


SAMPLE = '''"""Module docstring."""

from __future__ import annotations

import re  # trailing comment

# a comment line
TEMPLATE = """first

# not a comment: inside a string
last"""


class Error(Exception):
    """Only a docstring: its text goes, its quotes stay (the class needs a body)."""


class Point:
    """Docstring."""

    x: int  # class annotations stay
    y: int = 0


def f(
    a: dict[str, int],  # why
    *rest: str,
    b: re.Pattern[str] | None = None,
    **more: object,
) -> tuple[
    int, str
]:
    """Docstring.

    # with a hash
    """
    return len(a), "#" + TEMPLATE
'''


def test_compact_python_cuts_and_keeps_the_code() -> None:

    text = compact.python(SAMPLE)
    assert ast.dump(ast.parse(text)) == without_docs(SAMPLE)
    assert '"""first\n\n# not a comment: inside a string\nlast"""' in text
    assert 'class Error(Exception):\n """"""\n' in text and "Module docstring" not in text
    assert compact.python('"""Only a docstring."""\n') == '""""""\n'
    assert "x: int\n" in text and "dict[str" not in text and "tuple[" not in text
    assert "#" not in text.replace("# not a comment", "").replace('"#"', "")
    assert "\n\n" not in text.replace("first\n\n#", "")
    with pytest.raises(ValueError, match="ASCII"):
        compact.python("x = 'é'\n")


def _facts(device: int, cidr: str, *addresses: str) -> EniFacts:
    return EniFacts(
        eni_id=f"eni-{device:017x}",
        mac=f"02:00:00:00:00:{device:02x}",
        network_card_index=0,
        device_index=device,
        subnet_id=f"subnet-{device:017x}",
        subnet_cidr=IPv4Network(cidr),
        primary_ipv4=IPv4Address(addresses[0]),
        secondary_ipv4s=tuple(IPv4Address(a) for a in addresses[1:]),
    )


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (_facts(1, "10.0.1.0/24", "10.0.1.1"), "10.0.1.1, is this instance's own address"),
        (_facts(1, "10.0.1.0/24", "10.0.1.9", "10.0.0.1"), "outside its subnet"),
        (_facts(1, "10.0.0.0/24", "10.0.0.9", "10.0.0.5"), "10.0.0.5 is on two ENIs"),
        (_facts(1, "10.0.1.8/31", "10.0.1.8"), "no router address"),
    ],
)
def test_a_plan_that_would_cut_the_path_to_imds_is_refused(second: EniFacts, message: str) -> None:
    """IMDS answers through the primary's table: its router must be one in the subnet and
    none of the instance's addresses, and no address may be on two ENIs."""
    first = _facts(0, "10.0.0.0/24", "10.0.0.5")
    assert len(plan_enis("i-0123456789abcdef0", [first, _facts(1, "10.0.1.0/24", "10.0.1.9")],
                         10000)) == 2  # fmt: skip
    with pytest.raises(PlanError, match=re.escape(message)):
        plan_enis("i-0123456789abcdef0", [first, second], 10000)


def test_the_notes_say_which_systemd_the_units_need() -> None:
    files = user_data_files(dynamic.user_data())
    unit = files[dynamic.UNIT]
    assert "Type=oneshot" in unit and "Restart=on-failure" in unit and "RestartSteps=" in unit
    notes = " ".join(dynamic.render().notes)
    assert "systemd 244 or later (Restart= on a oneshot service" in notes
    assert "RestartSteps= and RestartMaxDelaySec= need 254" in notes
