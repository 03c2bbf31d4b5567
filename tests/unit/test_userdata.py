"""User data analysis: gzip, MIME, eniplan's marker, agents the user data installs."""

from __future__ import annotations

import gzip
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from eniplan import userdata
from eniplan.model import Inventory
from eniplan.plan import PlanOptions, plan_instance
from eniplan.render import cloudinit, dynamic
from eniplan.render.base import RenderOptions

DIGEST = "ab" * 32
STATIC = (
    "#cloud-config\n"
    f"# eniplan 0.1.0 instance=i-0123456789abcdef0 plan=sha256:{DIGEST} persist=script\n"
    "runcmd: []\n"
)


def mime(*parts: tuple[str, str]) -> bytes:
    message = MIMEMultipart()
    for subtype, text in parts:
        message.attach(MIMEText(text, subtype))
    return message.as_bytes()


def test_unknown_and_empty_are_different() -> None:
    assert userdata.analyse(None) == userdata.UNKNOWN
    assert not userdata.analyse(None).known
    empty = userdata.analyse(b"")
    assert empty.known and empty.empty and empty.marker is None
    assert "unknown" in userdata.analyse(None).describe()
    assert empty.describe() == "no user data"


@pytest.mark.parametrize(
    "raw",
    [
        STATIC.encode(),
        gzip.compress(STATIC.encode()),
        mime(("x-shellscript", "#!/bin/sh\necho hi\n"), ("cloud-config", STATIC)),
        mime(("cloud-config", STATIC)).replace(
            b"Content-Type: multipart", b"content-type: multipart"
        ),
    ],
    ids=["plain", "gzip", "mime", "mime-lowercase-header"],
)
def test_static_marker_is_found_however_packed(raw: bytes) -> None:
    info = userdata.analyse(raw)
    assert info.marker is not None
    assert info.marker.static
    assert info.marker.digest == DIGEST
    assert info.marker.instance_id == "i-0123456789abcdef0"
    assert info.marker.persist == "script"
    assert info.marker.version == "0.1.0"


def test_gzip_inside_a_mime_part() -> None:
    from email.mime.application import MIMEApplication

    message = MIMEMultipart()
    message.attach(MIMEApplication(gzip.compress(STATIC.encode()), "gzip"))
    assert userdata.analyse(message.as_bytes()).marker is not None


@pytest.mark.parametrize(
    "line",
    [
        "# eniplan 0.2.0 mode=dynamic",
        "# eniplan 0.2.0 instance=i-0123456789abcdef0 mode=dynamic",
        f"# eniplan 0.2.0 plan=sha256:{DIGEST} mode=dynamic",
        "# eniplan 0.2.0",
    ],
)
def test_marker_without_digest_or_dynamic_is_not_static(line: str) -> None:
    info = userdata.analyse(f"#cloud-config\n{line}\n".encode())
    assert info.marker is not None
    assert not info.marker.static


@pytest.mark.parametrize(
    "text",
    [
        "#!/bin/sh\necho '# eniplan 0.1.0'\n",  # not a comment line of its own
        "#cloud-config\n# eniplan is great\n",  # no version
        "#cloud-config\n# eniplanner 0.1.0\n",
    ],
)
def test_no_marker(text: str) -> None:
    assert userdata.analyse(text.encode()).marker is None


def test_bad_fields_are_not_trusted() -> None:
    info = userdata.analyse(b"# eniplan 0.1.0 instance=i-XYZ plan=sha256:1234\n")
    assert info.marker is not None
    assert info.marker.instance_id is None
    assert info.marker.digest is None


def test_planning_options_are_read() -> None:
    line = (
        f"# eniplan 0.2.0 instance=i-0123456789abcdef0 plan=sha256:{DIGEST} persist=networkd "
        "table-base=20000 guard=off"
    )
    marker = userdata.analyse(f"#cloud-config\n{line}\n".encode()).marker
    assert marker is not None and marker.static and marker.options_known
    assert (marker.table_base, marker.guard, marker.persist) == (20000, False, "networkd")
    assert marker.options_problem == ""


def test_old_marker_has_no_options_and_no_problem() -> None:
    marker = userdata.analyse(STATIC.encode()).marker
    assert marker is not None and marker.static  # still static user data, drift-checked
    assert (marker.table_base, marker.guard, marker.options_problem) == (None, None, "")
    assert not marker.options_known


def test_real_dynamic_marker_is_read_with_its_options() -> None:
    marker = userdata.analyse(dynamic.user_data(table_base=20000, guard=False).encode()).marker
    assert marker is not None and marker.mode == "dynamic" and not marker.static
    assert (marker.table_base, marker.guard) == (20000, False)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ("table-base=99999 guard=on", "table-base='99999' is not an integer from 1000"),
        ("table-base=999 guard=on", "table-base='999' is not an integer"),
        ("table-base=010000 guard=on", "table-base='010000'"),
        ("table-base=1e4 guard=on", "table-base='1e4'"),
        ("table-base=-10000 guard=on", "table-base='-10000'"),
        ("table-base= guard=on", "table-base=''"),
        (f"table-base={'9' * 5000} guard=on", "table-base='99999999999999999999' is"),
        ("table-base=20000 guard=yes", "guard='yes' is not on or off"),
        ("table-base=20000 guard=", "guard='' is not on or off"),
        ("table-base=20000", "guard= missing"),
        ("guard=off", "table-base= missing"),
        ("table-base=20000 guard=off guard=on", "guard= given 2 times"),
        ("table-base=20000 table-base=20000 guard=on", "table-base= given 2 times"),
    ],
)
def test_malformed_options_are_unknown_not_a_crash(fields: str, problem: str) -> None:
    line = f"# eniplan 0.2.0 instance=i-0123456789abcdef0 plan=sha256:{DIGEST} {fields}"
    marker = userdata.analyse(f"#cloud-config\n{line}\n".encode()).marker
    assert marker is not None and marker.static and marker.digest == DIGEST
    assert (marker.table_base, marker.guard) == (None, None) and not marker.options_known
    assert problem in marker.options_problem


def test_marker_round_trip_through_the_renderer(sandbox_inventory: Inventory) -> None:
    instance = next(i for i in sandbox_inventory.instances if i.name == "multi-subnet")
    for table_base, guard in ((10000, True), (20000, False), (1000, True)):
        options = PlanOptions(table_base=table_base, guard=guard)
        plan = plan_instance(instance, sandbox_inventory, options)
        assert len(plan.enis) >= 2
        (file,) = cloudinit.render(plan, RenderOptions(persist="script")).files
        # over EC2's 16 KB the renderer gzips it, as cloud-init reads it: the marker is found
        raw = file.content.encode() if isinstance(file.content, str) else file.content
        marker = userdata.analyse(raw).marker
        assert marker is not None and marker.digest == plan.digest()
        assert (marker.table_base, marker.guard) == (table_base, guard)


@pytest.mark.parametrize(
    "text",
    [
        "#!/bin/bash\nyum install -y amazon-ec2-net-utils\n",
        "#!/bin/bash\nset -e\ndnf -y install amazon-ec2-net-utils jq\n",
        "#!/bin/sh\napt-get install -y amazon-ec2-net-utils\n",
        "#cloud-config\npackages:\n  - jq\n  - amazon-ec2-net-utils\n",
    ],
)
def test_user_data_that_installs_net_utils(text: str) -> None:
    info = userdata.analyse(text.encode())
    assert info.other_agent == "amazon-ec2-net-utils"
    assert "installs amazon-ec2-net-utils" in info.describe()


@pytest.mark.parametrize(
    "text",
    [
        "#!/bin/bash\n# yum install -y amazon-ec2-net-utils\n",  # commented out
        "#!/bin/bash\nyum remove -y amazon-ec2-net-utils\n",
        "#!/bin/bash\necho amazon-ec2-net-utils\n",
        "#!/bin/bash\nyum install -y nginx\n",
    ],
)
def test_conservative_about_other_agents(text: str) -> None:
    info = userdata.analyse(text.encode())
    assert info.other_agent is None
    assert info.describe() == "user data without policy routing"


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (userdata.MAX_DECOMPRESSED + 1))
    info = userdata.analyse(bomb)
    assert info.known and info.marker is None
    assert "decompressed" in info.problem


def test_corrupt_gzip_is_a_problem_not_a_crash() -> None:
    info = userdata.analyse(b"\x1f\x8b\x08\x00garbage")
    assert info.known and "corrupt" in info.problem
    assert "not readable" in info.describe()


def test_first_boot_rules_are_not_persistent_and_network_config_is() -> None:
    """The verdicts audit and check-plan share (test_check_plan_real.py runs the same
    files through check-plan)."""
    script = userdata.analyse(b"#!/bin/sh\nip rule add from 10.0.1.20 lookup 101\n")
    assert not script.covered and script.first_boot_rules
    assert "not persistent" in script.describe()
    commented = userdata.analyse(b"#!/bin/sh\n# ip rule add from 10.0.1.20 lookup 101\n")
    assert not commented.first_boot_rules
    for text, stack in (
        (b"#cloud-config\nwrite_files:\n- content: |\n    routing-policy:\n", "netplan"),
        (b"[Match]\nName=ens6\n[RoutingPolicyRule]\nFrom=10.0.1.21\n", "systemd-networkd"),
        (b"nmcli con mod x ipv4.routing-rules 'priority 5 from 10.0.1.21 table 5'\n", "Network"),
        (b"cat > /etc/sysconfig/network-scripts/rule-eth1 <<EOF\n", "network-scripts"),
    ):
        info = userdata.analyse(text)
        assert info.covered and stack in info.routing_config, text
    assert not userdata.analyse(b"#!/bin/sh\n# routing-policy: see the wiki\n").covered
