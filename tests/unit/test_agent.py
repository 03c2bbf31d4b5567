"""The dynamic-mode agent without IMDS: its value checks and plan refusals, standing aside, the
user data that carries it (16 KB, gzip), compact Python."""

from __future__ import annotations

import ast
import gzip
import re
import sys
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from eniplan import __version__
from eniplan.agent import main as agent
from eniplan.cli import main as cli_main
from eniplan.plancore import EniFacts, PlanError, plan_enis
from eniplan.render import compact, dynamic
from tests.helpers.dynamic import user_data_files


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


@pytest.mark.parametrize(
    ("url", "good"),
    [("http://host:abc", False), ("https://169.254.169.254", False), ("169.254.169.254", False),
     ("http://h/latest/meta-data", False), ("http://h:1$(reboot)", False),
     ("http://127.0.0.1:9", True), ("http://[fd00:ec2::254]", True), ("http://imds.test/", True)],
)  # fmt: skip
def test_an_imds_url_is_checked_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, good: bool
) -> None:
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/setup-policy-routes").write_text("")  # a good URL: stands aside
    status = agent.main(["--root", str(tmp_path), "--lock", str(tmp_path / "lock"),
                         "--imds", url])  # fmt: skip
    err = capsys.readouterr().err
    assert (status, "standing aside" in err) == ((0, True) if good else (2, False))
    if not good:
        assert err == f"eniplan-agent: --imds {url!r}: expected http://HOST[:PORT]\n"


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
from dataclasses import dataclass, field

# a comment line
TEMPLATE = """first

# not a comment: inside a string
last"""


class Error(Exception):
    """Only a docstring (the class needs a body)."""


@dataclass
class Point:
    """Docstring."""

    x_coordinate: int  # a dataclass's fields keep their names
    labels: dict[str, str | None] = field(default_factory=dict)


def helper(values: dict[str, int], *rest: str, pattern: re.Pattern[str] | None = None) -> int:
    """Docstring.

    # with a hash
    """
    total = sum(len(key) * value for key, value in values.items())
    return total + len(rest) + (0 if pattern is None else 1)


def entry(name: str) -> str:
    point = Point(x_coordinate=helper({name: 2}, "a", pattern=re.compile("x")))
    point.labels[f"{name!r}"] = f"{'q'}{TEMPLATE[:5]}"
    if not point.labels:
        raise Error("empty")
    return f"{point.x_coordinate}:{point.labels}"
'''


def test_compact_python_renames_all_but_what_others_import(monkeypatch: pytest.MonkeyPatch) -> None:
    text = compact.python(SAMPLE, keep={"entry"})
    ast.parse(text, feature_version=(3, 7))  # the oldest python3 the agent runs on
    assert "entry" in text and "helper" not in text and "total" not in text  # renamed
    # kept: a dataclass's fields, parameters (a caller may name them), keyword arguments
    assert "x_coordinate" in text and "labels" in text and "values" in text
    assert "pattern=" in text and "default_factory=" in text
    assert "Docstring" not in text and "# " not in text.replace("# not a comment", "")
    assert "dict[str, int]" not in text and "re.Pattern" not in text  # annotations gone
    assert len(text) < 0.6 * len(SAMPLE)
    results = []
    for code in (SAMPLE, text):
        module = ModuleType("eniplan_sample")  # (dataclass looks its module up)
        monkeypatch.setitem(sys.modules, module.__name__, module)
        exec(compile(code, "sample", "exec"), module.__dict__)
        entry = module.__dict__["entry"]
        assert callable(entry)
        results.append(entry("n"))
    assert results[0] == results[1] == "4:{\"'n'\": 'qfirst'}"


TYPED = """from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


@dataclass
class Pair:
    first: Sequence[int]
    second: Any = None


def first_of(values: Sequence[T], default: T, *, strict: bool = False) -> T:
    return values[0] if values or strict else default


def entry(name: str) -> str:
    pair = Pair(first=[len(name)])
    return f"{first_of(pair.first, 0, strict=True)}:{pair.second}"
"""


def test_compact_python_drops_what_only_annotations_use_and_renames_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Type checkers' imports go (a dataclass field keeps a `0` as its annotation); the
    parameters that no call names by keyword are renamed, those some call names are not."""
    keywords = compact.keyword_names([TYPED])
    assert keywords == {"first", "strict"}
    text = compact.python(TYPED, keep={"entry"}, keywords=keywords)
    assert "typing" not in text and "Sequence" not in text and "TypeVar" not in text
    assert "first:0" in text and "second:0=None" in text  # dataclass fields, as fields
    assert "values" not in text and "default" not in text and "name" not in text
    assert "strict" in text  # a keyword-only parameter, and named by a call
    results = []
    for code in (TYPED, text):
        module = ModuleType("eniplan_typed")
        monkeypatch.setitem(sys.modules, module.__name__, module)
        exec(compile(code, "typed", "exec"), module.__dict__)
        results.append(module.__dict__["entry"]("abc"))
    assert results[0] == results[1] == "3:None"
    assert compact.keyword_names(["f(**{'a': 1})"]) is None  # names not known
    for typed in (
        "class P(NamedTuple):\n    x: int\n",
        "@dataclass\nclass P:\n    x: ClassVar[int]\n",
    ):
        with pytest.raises(AssertionError):  # their annotations must stay (not shipped)
            compact.python(typed)
    assert compact.keyword_names(["def f(**kw):\n    g(**kw)\n"]) == set()  # passed on


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('x = 1\nlog("ENI \u2014 x")\n', "line 2 is not ASCII"),
        ('log("caf\\u00e9")\n', "not ASCII once minified"),
    ],
)
def test_compact_python_refuses_what_is_not_ascii(source: str, message: str) -> None:
    """In a Latin-1 locale an em dash makes the agent's print() and `sh -c` raise, and an
    e-acute reaches sh as another byte: the shipped modules stay ASCII."""
    with pytest.raises(ValueError, match=re.escape(message)):
        compact.python(source)
    assert compact.python('log("\\x80")\n') == "log('\\x80')\n"  # an escape stays one
    with pytest.raises(ValueError, match="line 2 is not ASCII"):
        compact.sh("#!/bin/sh\necho 'caf\u00e9'\n")


def test_the_minified_agent_is_the_same_from_any_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-minifier writes f-strings for the Python that runs it: from 3.12 (PEP 701) it
    may nest a string in its own quotes, which the agent's oldest Python (3.7) refuses.
    Told it runs on 3.12, it writes the agent's modules as it does here."""
    import python_minifier.expression_printer
    import python_minifier.f_string

    here = {name: dynamic.module_text(name) for name, _ in dynamic.MODULES}
    for module in (python_minifier.expression_printer, python_minifier.f_string):
        monkeypatch.setattr(module, "sys", SimpleNamespace(version_info=(3, 12, 0)))
    assert {name: dynamic.module_text(name) for name, _ in dynamic.MODULES} == here


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
