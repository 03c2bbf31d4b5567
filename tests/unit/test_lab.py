"""What `eniplan lab` would build, without building it: names, addresses, the nftables table,
the files a target installs, the targets an instance's OS cannot run, the report."""

from __future__ import annotations

import os
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from eniplan.lab import demo_section, install, nft, proofs, report, topology
from eniplan.lab.proofs import Outcome
from eniplan.lab.shell import LabError
from eniplan.lab.topology import design
from eniplan.model import Inventory
from eniplan.plan import MANAGED, InstancePlan, PlanOptions
from eniplan.render.common import SETTLE_PATH
from eniplan.render.iproute2 import SCRIPT_PATH
from tests.helpers.builders import instance_named
from tests.helpers.cli_runner import run

SAME_SUBNET = "web-balanced"  # two ENIs in one subnet: the classic case


def test_design_wires_every_eni_with_its_mac_and_a_free_peer(
    sandbox_plans: dict[str, InstancePlan],
) -> None:
    plan = sandbox_plans["multi-subnet"]
    lab = design(plan, "run1")
    assert [eni.mac for eni in lab.enis] == [eni.mac for eni in plan.enis]
    assert [eni.ifname for eni in lab.enis] == ["ens5", "ens6"]
    assert len(lab.lans) == 2  # one bridge per subnet
    owned = topology.owned_addresses(plan)
    for lan, eni in zip(lab.lans, plan.enis, strict=True):
        assert eni.subnet_cidr is not None
        assert lan.cidr == eni.subnet_cidr
        assert lan.router.ip == eni.subnet_cidr.network_address + 1
        assert lan.peer.ip in lan.cidr and lan.peer.ip not in owned
        assert int(lan.peer.ip) - int(lan.cidr.network_address) >= 4  # EC2's reserved
    # every address the ENI owns, and its delegated prefix
    second = lab.enis[1]
    assert {str(a) for a in second.addresses} == {"10.0.1.50", "10.0.1.51", "10.0.1.52"}
    assert second.prefixes == (IPv4Network("10.0.1.96/28"),)
    # the lab's own networks overlap no subnet of the instance
    for network in (lab.remote.network, lab.static_net, lab.container.network):
        assert not any(network.overlaps(lan.cidr) for lan in lab.lans)
    # unique names per run, all under the lab's prefix
    other = design(plan, "run2")
    assert set(lab.namespaces).isdisjoint(other.namespaces)
    assert all(name.startswith("eniplan-lab-run1-") for name in lab.namespaces)
    assert len(set(lab.namespaces)) == len(lab.namespaces)


def test_design_avoids_blocks_the_subnets_use(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans[SAME_SUBNET]
    eni = plan.enis[0]
    assert eni.subnet_cidr is not None
    # an instance whose subnet is the first documentation block
    cidr = IPv4Network("198.51.100.0/24")
    moved = [_moved(e, cidr, cidr.network_address + 10 + i) for i, e in enumerate(plan.enis)]
    lab = design(_with_enis(plan, moved), "run3")
    assert not lab.remote.network.overlaps(cidr)
    assert lab.remote.network.overlaps(IPv4Network("192.0.2.0/24"))


def _moved(eni: Any, cidr: IPv4Network, address: IPv4Address) -> Any:
    from dataclasses import replace
    from ipaddress import IPv4Interface

    from eniplan.plan import Rule

    return replace(
        eni,
        subnet_cidr=cidr,
        router=cidr.network_address + 1,
        primary_ipv4=address,
        ipv4_addresses=() if eni.is_primary else (IPv4Interface(f"{address}/{cidr.prefixlen}"),),
        rules=(Rule(IPv4Network(address), eni.table, eni.table),),
        routes=(),
    )


def _with_enis(plan: InstancePlan, enis: list[Any]) -> InstancePlan:
    from dataclasses import replace

    return replace(plan, enis=tuple(enis))


def test_design_refuses_what_it_cannot_emulate(sandbox_plans: dict[str, InstancePlan]) -> None:
    from dataclasses import replace

    plan = sandbox_plans[SAME_SUBNET]
    ipv6_only = replace(plan.enis[1], primary_ipv4=None, subnet_cidr=None, router=None)
    with pytest.raises(LabError, match="IPv6-only"):
        design(_with_enis(plan, [plan.enis[0], ipv6_only]), "run4")
    with pytest.raises(LabError, match="nothing-to-do"):
        design(sandbox_plans["bastion"], "run5")


def test_rewired_design_keeps_names_and_peers(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans[SAME_SUBNET]
    first = design(plan, "run6")
    second = design(_with_enis(plan, [plan.enis[0]]), "run6", previous=first)
    assert second.namespaces == first.namespaces
    assert second.lans == first.lans
    assert second.enis == first.enis[:1]


def test_nft_table_enforces_the_vpc(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["multi-subnet"]
    lab = design(plan, "run7")
    text = nft.ruleset(lab)
    for eni in lab.enis:
        owned = ", ".join(str(a) for a in (*eni.addresses, *eni.prefixes))
        # 0.0.0.0: a DHCP client before it has its address (lab --boot)
        assert f'iifname "{eni.port}" ip saddr != {{ {owned}, 0.0.0.0 }}' in text
        arp = ", ".join(str(a) for a in eni.addresses)
        assert f'iifname "{eni.port}" arp saddr ip != {{ {arp}, 0.0.0.0 }}' in text
    assert text.count(" drop") == 2 * len(lab.enis)
    # without the source/dest check: ARP ownership stays, the IPv4 source is free
    from dataclasses import replace

    open_lab = replace(lab, source_dest_check=False)
    assert "ip saddr !=" not in nft.ruleset(open_lab)
    assert nft.ruleset(open_lab).count(" drop") == len(lab.enis)
    assert nft.ruleset(lab, replace=True).startswith(
        "table bridge eniplan_lab\ndelete table bridge eniplan_lab\n"
    )


def test_nft_honours_a_source_dest_check_disabled_in_the_inventory(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan]
) -> None:
    instance = instance_named(sandbox_inventory, "app-check-disabled")
    unchecked = [eni.mac for eni in instance.enis if not eni.source_dest_check]
    assert len(unchecked) == 1
    lab = design(sandbox_plans["app-check-disabled"], "run8", unchecked=unchecked)
    text = nft.ruleset(lab)
    for eni in lab.enis:
        assert (f'iifname "{eni.port}" ip saddr !=' in text) is (eni.mac not in unchecked)


def test_nft_counters_parse() -> None:
    listing = {
        "nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"counter": {"table": "eniplan_lab", "name": "via_10_0_0_5", "packets": 3}},
            {"counter": {"table": "other", "name": "x", "packets": 9}},
        ]
    }
    assert nft.parse_counters(listing) == {"via_10_0_0_5": 3}


ROUTES = "ip -4 route show table all: "
RULES = "ip -4 rule show: "
STATE = [
    f"{RULES}10000:\tfrom 10.0.2.10 lookup 10000 proto static",
    f"{RULES}10001:\tfrom 10.0.2.11 lookup 10001 proto static",
    f"{ROUTES}default via 10.0.2.1 dev ens5 table 10000 proto static onlink ",
    f"{ROUTES}10.0.2.0/24 dev ens5 proto kernel scope link src 10.0.2.10 metric 100 ",
    f"{ROUTES}10.0.2.0/24 dev ens6 proto kernel scope link src 10.0.2.11 metric 100 ",
]


def test_state_changes_ignore_only_the_order_of_equal_routes() -> None:
    """Idempotence: two ENIs' DHCP routes to one subnet, re-added in the other order by
    `netplan apply` (measured in the boot lab), are the same state; anything else is not."""
    swapped = [*STATE[:3], STATE[4], STATE[3]]
    assert proofs.state_changes(STATE, swapped) == ()
    assert proofs.state_changes(STATE, STATE[:-1]) == (f"-{STATE[4]}",)
    assert proofs.state_changes(STATE, [*STATE, STATE[2]]) == (f"+{STATE[2]}",)  # twice
    changed = STATE[3].replace("metric 100", "metric 200")
    assert proofs.state_changes(STATE, [*STATE[:3], changed, STATE[4]]) == (
        f"-{STATE[3]}",
        f"+{changed}",
    )
    # rules are tried in the order listed: a rule moved is a change, as is one changed
    assert proofs.state_changes(STATE, [STATE[1], STATE[0], *STATE[2:]]) != ()
    rule = STATE[1].replace("lookup 10001", "lookup 10002")
    assert proofs.state_changes(STATE, [STATE[0], rule, *STATE[2:]]) == (f"-{STATE[1]}", f"+{rule}")
    many = [f"{ROUTES}192.0.2.{n} dev ens5 " for n in range(10)]
    assert proofs.state_changes(STATE, [*STATE, *many], limit=3) == (
        *(f"+{line}" for line in many[:3]),
        "... 7 more",
    )


def test_cloud_init_user_data_installs_and_boots_from_files(
    sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    install.install("cloud-init", sandbox_plans[SAME_SUBNET], tmp_path)
    script = tmp_path / SCRIPT_PATH.lstrip("/")
    assert script.read_text().startswith("#!/bin/sh\n")
    assert os.access(script, os.X_OK)
    unit = tmp_path / "etc/systemd/system/eniplan-routing.service"
    assert f"ExecStart=/bin/sh {SETTLE_PATH} {SCRIPT_PATH}" in unit.read_text()
    assert (tmp_path / SETTLE_PATH.lstrip("/")).read_text().startswith("#!/bin/sh\n")
    # booting runs what the unit's ExecStart says, in the instance's view (its arguments
    # name the instance's files at their own paths)
    argv = ["/bin/sh", SETTLE_PATH, SCRIPT_PATH]
    assert install.boot_commands(tmp_path) == [install.instance_view(tmp_path, argv)]
    unit.write_text(unit.read_text().replace(SCRIPT_PATH, "/opt/other"))
    argv = ["/bin/sh", SETTLE_PATH, "/opt/other"]
    assert install.boot_commands(tmp_path) == [install.instance_view(tmp_path, argv)]


def test_iproute2_installs_the_script(
    sandbox_plans: dict[str, InstancePlan], tmp_path: Path
) -> None:
    install.install("iproute2", sandbox_plans[SAME_SUBNET], tmp_path)
    # at its own path in the instance's view: the script's lock is in the instance's /run
    assert install.boot_commands(tmp_path) == [install.instance_view(tmp_path, [SCRIPT_PATH])]


def test_user_data_paths_stay_inside_the_root(tmp_path: Path) -> None:
    text = "#cloud-config\nwrite_files:\n- path: /etc/../../x\n  permissions: '0644'\n"
    with pytest.raises(LabError, match="not an absolute path inside"):
        install.run_cloud_init(text, tmp_path)
    with pytest.raises(LabError, match="enables no systemd unit"):
        install.run_cloud_init("#cloud-config\nwrite_files: []\n", tmp_path)
    with pytest.raises(LabError, match="not #cloud-config"):
        install.run_cloud_init("#!/bin/sh\n", tmp_path)


def test_select_instance_wants_exactly_one_managed(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan]
) -> None:
    managed = sum(plan.status == MANAGED for plan in sandbox_plans.values())
    assert managed > 1
    with pytest.raises(LabError, match=f"{managed} selected instances need policy routing"):
        proofs.select_instance(sandbox_inventory, PlanOptions())
    single = sandbox_inventory.select(tags=[("Name", "bastion")])
    with pytest.raises(LabError, match="none of the 1 selected"):
        proofs.select_instance(single, PlanOptions())
    chosen = sandbox_inventory.select(tags=[("Name", SAME_SUBNET)])
    assert proofs.select_instance(chosen, PlanOptions()).name == SAME_SUBNET


def test_not_root_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, out, err = run(["lab", "--sandbox", "--tag", f"Name={SAME_SUBNET}"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("eniplan: error: eniplan lab needs root")


@pytest.mark.parametrize(
    ("name", "target", "runnable"),
    [("centos7-same-24", "iproute2", False), ("centos7-same-24", "cloud-init", False),
     ("centos7-same-24", "dynamic", False), ("app-check-disabled", "iproute2", False),
     ("rhel-same-20", "dynamic", False), ("rhel-same-20", "iproute2", True),
     ("rhel-same-20", "cloud-init", True), ("multi-subnet", "dynamic", True),
     ("web-balanced", "iproute2", True), ("web-balanced", "dynamic", True)],
)  # fmt: skip
def test_unrunnable_follows_the_instance_os(
    sandbox_plans: dict[str, InstancePlan], name: str, target: str, runnable: bool
) -> None:
    reason = install.unrunnable(target, sandbox_plans[name].os)
    assert (reason is None) is runnable
    if reason and name == "rhel-same-20":
        assert "Python is 3.6" in reason
    elif reason:
        assert "predates rule protocols" in reason


@pytest.mark.parametrize(
    ("name", "target", "why"),
    [("centos7-same-24", "iproute2", "rhel-7 (AMI ami-0c7e1d2f3a4b5c6d7 (CentOS Linux 7"),
     ("centos7-same-24", "dynamic", "predates rule protocols (Linux 4.17)"),
     ("centos7-same-24", "cloud-init", "--persist script"),
     ("rhel-same-20", "dynamic", "rhel-8+ (AMI ami-0a1b2c3d4e5f60718 (RHEL-8.8.0"),
     ("rhel-same-20", "cloud-init --mode dynamic", "rhel-8+ (AMI ami-0a1b2c3d4e5f60718")],
)  # fmt: skip
def test_lab_refuses_a_target_the_instance_os_cannot_run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    target: str,
    why: str,
) -> None:
    built: list[object] = []
    monkeypatch.setattr("eniplan.lab.check_environment", lambda: None)  # no root needed
    monkeypatch.setattr(proofs, "Lab", lambda *args: built.append(args))  # would build
    argv = ("lab", "--sandbox", "--tag", f"Name={name}", "--target", *target.split())
    code, out, err = run([*argv], capsys)
    assert code == 2 and out == "" and built == []
    assert err.count("\n") == 1  # the alias's note comes after a report only
    assert err.startswith("eniplan: error: i-") and f"({name!r}) runs " in err
    said = "cloud-init --mode dynamic" if target == "dynamic" else target
    assert why in err and f"--target {said} cannot run there" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [(["--mode", "dynamic", "--target", "iproute2"],
      "--mode dynamic: only --target cloud-init has an agent, not iproute2"),
     (["--mode", "dynamic", "--target", "netplan", "--boot"],
      "--mode dynamic: only --target cloud-init has an agent, not netplan")],
)  # fmt: skip
def test_dynamic_mode_is_cloud_init_only(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    monkeypatch.setattr("eniplan.lab.check_environment", lambda: None)  # no root needed
    code, out, err = run(["lab", "--sandbox", "--tag", f"Name={SAME_SUBNET}", *argv], capsys)
    assert (code, out, err) == (2, "", f"eniplan: error: {expected}\n")


def test_dynamic_mode_without_a_target_is_cloud_init() -> None:
    from eniplan.inventory import InventoryRequest
    from eniplan.lab.run import LabRequest
    from eniplan.sources.awsoptions import AwsOptions

    request = LabRequest(InventoryRequest(AwsOptions()), PlanOptions(), mode="dynamic")
    assert request.applied() == "dynamic"
    assert LabRequest(InventoryRequest(AwsOptions()), PlanOptions(), "dynamic").applied() == (
        "dynamic"
    )
    assert LabRequest(InventoryRequest(AwsOptions()), PlanOptions()).applied() == "iproute2"


def test_demo_section_says_how_to_run_it_without_root(
    monkeypatch: pytest.MonkeyPatch, sandbox_inventory: Inventory
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    console = Console(record=True, width=120)
    demo_section(console, sandbox_inventory)
    text = console.export_text()
    assert "needs root" in text
    assert f"sudo eniplan lab --sandbox --tag Name={SAME_SUBNET}" in text


def test_report_table_and_json() -> None:
    rows = tuple(
        proofs.ProofRow(
            number=index,
            key=key,
            title=title,
            before=Outcome(2, ("10.0.0.254 (ens6) from the peer: no answer",))
            if index < 5
            else None,
            after=Outcome(2),
        )
        for index, (key, title) in enumerate(proofs.PROOFS, start=1)
    )
    lab_report = proofs.LabReport(
        instance_id="i-0123456789abcdef0",
        name="web",
        target="iproute2",
        enis=(),
        rows=rows,
        timings=(("build", 0.1), ("total", 2.5)),
        apply_output="",
    )
    console = Console(record=True, width=140)
    report.print_report(console, lab_report, verbose=True)
    text = console.export_text()
    assert "FAIL 1/2" in text and "PASS 2/2" in text
    assert "1 before: 10.0.0.254 (ens6) from the peer: no answer" in text
    assert "all proofs hold after applying" in text and "timings: build 0.10 s" in text
    data = report.report_json(lab_report)
    assert data["passed"] is True
    assert [p["proof"] for p in data["proofs"]] == [key for key, _ in proofs.PROOFS]
    assert data["proofs"][4]["before"] is None
    assert data["proofs"][0]["before"]["failures"] == ["10.0.0.254 (ens6) from the peer: no answer"]
    failing = proofs.LabReport(
        **{
            **lab_report.__dict__,
            "rows": (proofs.ProofRow(1, "reachable", "t", None, Outcome(2, ("x",))),),
        }
    )
    assert failing.passed is False
