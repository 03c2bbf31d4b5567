"""The dynamic-mode agent: its IMDSv2 client against a fake IMDS (faults included), its
plan (= the static planner's), its value checks, standing aside, and the user data that
carries it (cloud-init schema, 16 KB, the compacted modules are the same code)."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from eniplan.agent import main as agent
from eniplan.agent.imds import BadAnswer, Imds, ImdsError
from eniplan.model import Inventory
from eniplan.plan import InstancePlan
from eniplan.plancore import EniFacts, plan_enis
from eniplan.render import common, compact, dynamic, iproute2
from tests.helpers import REPO
from tests.helpers.dynamic import cloud_init_crawl, install_agent, launch, user_data_files
from tests.helpers.fake_imds import FakeImds, metadata_tree

MANAGED = ["centos7-same-24", "rhel-same-20", "web-balanced", "app-check-disabled", "multi-subnet"]
MACS = "network/interfaces/macs/"


def tree_of(inventory: Inventory, plan: InstancePlan) -> dict[str, str]:
    instance = inventory.instance(plan.instance_id)
    assert instance is not None
    return metadata_tree(instance, inventory)


@pytest.fixture
def multi(sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan]) -> FakeImds:
    return FakeImds(tree_of(sandbox_inventory, sandbox_plans["multi-subnet"]))


def client(imds: FakeImds, **kwargs: Any) -> Imds:
    return Imds([imds.url], **kwargs)


def read_enis(imds: Imds) -> tuple[str, list[EniFacts]]:
    """(primary MAC, the settled ENIs in (card, device) order) of a boot run's first read."""
    reading = agent.gather(imds, None, "boot")
    assert not reading.unsettled, reading.unsettled
    enis = sorted(reading.facts.values(), key=lambda e: (e.network_card_index, e.device_index))
    return reading.primary, enis


# --- the fake IMDS itself behaves as IMDSv2 ----------------------------------------------


def _raw(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_fake_imds_has_imdsv2_semantics(multi: FakeImds) -> None:
    with multi:
        token_url = multi.url + "/latest/api/token"
        assert _raw(multi.url + "/latest/meta-data/mac") == 401  # IMDSv1: refused
        assert _raw(token_url, "PUT") == 400  # no TTL
        assert _raw(token_url, "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "0"}) == 400
        ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "1"}
        assert _raw(token_url, "PUT", {**ttl, "X-Forwarded-For": "10.0.0.9"}) == 403
        request = urllib.request.Request(token_url, method="PUT", headers=ttl)
        with urllib.request.urlopen(request, timeout=5) as response:
            token = response.read().decode()
        wrong = {"X-aws-ec2-metadata-token": "not-a-token"}
        assert _raw(multi.url + "/latest/meta-data/mac", headers=wrong) == 401
        good = {"X-aws-ec2-metadata-token": token}
        assert _raw(multi.url + "/latest/meta-data/mac", headers=good) == 200
        time.sleep(1.1)  # the TTL has passed
        assert _raw(multi.url + "/latest/meta-data/mac", headers=good) == 401


# --- the agent's plan is the static planner's --------------------------------------------


def _variables(script: str) -> list[str]:
    """The plan's sh variables, without comments: what the engine reads."""
    head = script.split("# --- the engine")[0] if "# --- the engine" in script else script
    lines = [line.split("  #")[0] for line in head.splitlines()]
    return [line for line in lines if re.match(r"[A-Z_a-z0-9]+=", line)]


@pytest.mark.parametrize("name", MANAGED)
def test_the_agents_plan_is_the_static_plan(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan], name: str
) -> None:
    plan = sandbox_plans[name]
    with FakeImds(tree_of(sandbox_inventory, plan)) as imds:
        primary, enis = read_enis(client(imds))
    assert primary == next(eni.mac for eni in plan.enis if eni.is_primary)
    plans = plan_enis(plan.instance_id, enis, plan.table_base)
    assert plans == plan.enis
    # and the engine gets the very variables the iproute2 target writes
    ours = agent.script(plan.instance_id, plans, plan.table_base, plan.guard is not None)
    assert _variables(ours) == _variables(iproute2.script(plan))
    assert ours.endswith(iproute2.ENGINE)


def test_no_guard_and_another_table_base(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan]
) -> None:
    plan = sandbox_plans["multi-subnet"]
    with FakeImds(tree_of(sandbox_inventory, plan)) as imds:
        _, enis = read_enis(client(imds))
    plans = plan_enis(plan.instance_id, enis, 20000)
    assert [eni.table for eni in plans] == [20000 + eni.table - 10000 for eni in plan.enis]
    text = agent.script(plan.instance_id, plans, 20000, False)
    assert "\nGUARD=  #" in text and "\nGROUP=20000 GUARD_PRIO=19999  #" in text


# --- the client: IMDSv2 only, retries, deadline, endpoints --------------------------------


def _gets_without_token(imds: FakeImds) -> list[str]:
    return [p for m, p, h in imds.requests if m == "GET" and "x-aws-ec2-metadata-token" not in h]


@pytest.mark.parametrize("faults", [[500], [503, 503], [429, 429, 429], [500, 429, 502]])
def test_server_errors_and_throttling_are_retried(multi: FakeImds, faults: list[int]) -> None:
    multi.faults = list(faults)
    with multi:
        imds = client(multi, deadline=10)
        assert imds.get("mac") is not None
    assert imds.requests == len(faults) + 2  # the faults, then a token and the GET
    assert not _gets_without_token(multi)


def test_a_timeout_is_retried(multi: FakeImds) -> None:
    multi.faults, multi.timeout_delay = ["timeout"], 0.6
    with multi:
        imds = client(multi, deadline=10, timeout=0.2)
        assert imds.get("instance-id") is not None


def test_the_deadline_ends_the_retries(multi: FakeImds) -> None:
    multi.faults = [503] * 1000
    with multi:
        imds = client(multi, deadline=0.5)
        with pytest.raises(ImdsError, match="deadline"):
            imds.get("mac")
    assert multi.faults  # faults left unanswered: the deadline, not the 1,000 faults, ended it
    assert not _gets_without_token(multi)


@pytest.mark.parametrize("status", [403, 405, 400])
def test_never_imdsv1_when_no_token_is_given(multi: FakeImds, status: int) -> None:
    multi.faults = [status]  # the token PUT is refused (IMDSv2 disabled, hop limit, ...)
    with multi, pytest.raises(ImdsError):
        client(multi).get("mac")
    assert [method for method, _, _ in multi.requests] == ["PUT"]


def test_a_revoked_token_is_renewed(multi: FakeImds) -> None:
    with multi:
        imds = client(multi)
        assert imds.get("mac")
        multi.tokens.clear()  # revoked (or expired)
        assert imds.get("instance-id")
    assert [m for m, _, _ in multi.requests] == ["PUT", "GET", "GET", "PUT", "GET"]


def test_the_second_endpoint_when_the_first_is_unreachable(multi: FakeImds) -> None:
    with multi:
        imds = Imds(["http://127.0.0.1:9", multi.url], deadline=10, timeout=0.5)
        assert imds.get("mac")
        assert imds.endpoints[0] == multi.url


def test_one_connection_for_a_whole_read(multi: FakeImds) -> None:
    with multi, client(multi) as imds:
        _, enis = read_enis(imds)
    assert imds.requests == 4 + 10 * len(enis)  # token, instance-id, mac, listing, 10 a ENI
    assert multi.connections == 1 and imds.connections == 1


def test_a_dripping_answer_is_cut_off_and_read_again(multi: FakeImds) -> None:
    multi.faults, multi.drip_delay = ["drip"], 0.2
    with multi, client(multi, deadline=10, timeout=0.5) as imds:
        assert imds.get("instance-id") is not None  # the drip (over 20 s) was cut at 0.5 s
    assert imds.connections == 2  # the cut one, then a fresh one


def test_the_deadline_bounds_a_run_that_drips(multi: FakeImds) -> None:
    multi.faults, multi.drip_delay = ["drip"] * 100, 0.1  # each byte in time, never done
    with (
        multi,
        client(multi, deadline=1.5, timeout=1.0) as imds,
        pytest.raises(ImdsError, match="deadline"),  # unbounded: 100 answers dripping
    ):
        imds.get("instance-id")


@pytest.mark.parametrize("fault", ["cut", "garbled"])
def test_an_answer_cut_short_or_garbled_is_read_again(multi: FakeImds, fault: str) -> None:
    with multi, client(multi, deadline=10) as imds:
        imds.get("mac")  # the token first
        multi.faults = [fault]
        assert imds.get("instance-id") == multi.tree["instance-id"]  # not half of it
    assert imds.requests == 4 and imds.connections == 2  # the faulty one, then a fresh one


@pytest.mark.parametrize("fault", ["big", "latin1"])
def test_an_answer_no_value_can_come_from_is_a_bad_answer(multi: FakeImds, fault: str) -> None:
    with multi, client(multi) as imds:
        imds.get("mac")  # the token first
        multi.faults = [fault]
        with pytest.raises(BadAnswer):
            imds.get("instance-id")
        assert imds.get("instance-id")  # the next answer is read on a sound connection


def test_requests_are_paced(multi: FakeImds) -> None:
    with multi, client(multi, interval=agent.PACE) as imds:
        started = time.monotonic()
        for _ in range(20):
            imds.get("mac")
        seconds = time.monotonic() - started
    # 19 at once (a short read is not slowed), then one as each leaves its 1.05 s
    assert imds.requests == 21 and 1.05 <= seconds < 2.0  # never 21 in a second


def test_the_pace_goes_on_across_runs(multi: FakeImds, tmp_path: Path) -> None:
    """Runs take turns under the agent's lock: a run that follows one which sent 19
    requests waits for them to leave the window (two runs never send 21 in a second)."""
    pace = str(tmp_path / "agent.lock.pace")
    with multi:
        with client(multi, interval=agent.PACE, pace_file=pace) as first:
            for _ in range(18):
                first.get("mac")  # 19 with the token
        started = time.monotonic()
        with client(multi, interval=agent.PACE, pace_file=pace) as second:
            second.get("mac")  # its token waits for the first run's first request to leave
        assert time.monotonic() - started > 0.5
        Path(pace).write_text("garbage 1e300")  # unreadable or future times: no wait
        with client(multi, interval=agent.PACE, pace_file=pace) as third:
            third.get("mac")
        assert first.requests == 19 and third.requests == 2


def _crawl(root: Path, tree: dict[str, str], change: Any = None) -> None:
    """cloud-init's crawl of `tree` at this boot under `root` (`change` edits it first)."""
    crawl = cloud_init_crawl(tree)
    if change is not None:
        change(crawl["ds"]["meta-data"])  # type: ignore[index]
    path = root / agent.CRAWL
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(crawl))


def test_the_boot_run_takes_the_enis_from_cloud_inits_crawl(
    multi: FakeImds, tmp_path: Path
) -> None:
    """Four requests (token, instance-id, mac, listing) and every ENI's keys from the
    crawl: the same facts as from IMDS."""
    with multi:
        with client(multi) as imds:
            from_imds = agent.gather(imds, None, "boot")
        assert multi.requests and not from_imds.crawled
        _crawl(tmp_path, multi.tree)
        multi.requests.clear()
        with client(multi) as imds:
            reading = agent.gather(imds, None, "boot", tmp_path)
        assert len(multi.requests) == 4
    assert reading.crawled and imds.requests == 4
    assert reading.facts == from_imds.facts and reading.raw == from_imds.raw
    assert len(reading.facts) == 2 and not reading.unsettled


def _other_mac(meta: dict[str, Any]) -> None:
    macs = meta["network"]["interfaces"]["macs"]
    macs["02:00:00:00:00:99"] = macs.pop(sorted(macs)[-1])


def _not_text(meta: dict[str, Any]) -> None:
    next(iter(meta["network"]["interfaces"]["macs"].values()))["local-ipv4s"] = {"not": "text"}


DOUBTS: dict[str, tuple[Any, dict[str, str]]] = {
    "instance": (lambda meta: meta.update({"instance-id": "i-0123456789abcdef0"}), {}),
    "primary": (lambda meta: meta.update({"mac": "02:00:00:00:00:99"}), {}),
    "other-mac": (_other_mac, {}),
    "fewer-macs": (lambda meta: meta["network"]["interfaces"]["macs"].popitem(), {}),
    "no-tree": (lambda meta: meta.pop("network"), {}),
    "not-text": (_not_text, {}),
    "kept-cache-cfg-d": (None, {"etc/cloud/cloud.cfg.d/90-keep.cfg": "manual_cache_clean: 1"}),
    "kept-cache-cfg": (None, {"etc/cloud/cloud.cfg": "manual_cache_clean: True\n"}),
    "kept-cache-marker": (None, {"var/lib/cloud/instance/manual-clean": ""}),
    "not-json": (None, {agent.CRAWL: "{not json"}),
}


@pytest.mark.parametrize("doubt", DOUBTS)
def test_any_doubt_about_the_crawl_reads_imds(multi: FakeImds, tmp_path: Path, doubt: str) -> None:
    change, files = DOUBTS[doubt]
    _crawl(tmp_path, multi.tree, change)
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    with multi, client(multi) as imds:
        reading = agent.gather(imds, None, "boot", tmp_path)
    assert not reading.crawled and imds.requests == 4 + 10 * 2
    assert len(reading.facts) == 2 and not reading.unsettled


def test_a_crawled_value_is_validated_as_imds_values_are(multi: FakeImds, tmp_path: Path) -> None:
    second = sorted(k.split("/")[3] for k in multi.tree if k.startswith(MACS))[-1]

    def bad(meta: dict[str, Any]) -> None:
        meta["network"]["interfaces"]["macs"][second]["local-ipv4s"] = ["10.0.0.300"]

    _crawl(tmp_path, multi.tree, bad)
    with multi, client(multi) as imds:
        reading = agent.gather(imds, None, "boot", tmp_path)
        why = f"IMDS {MACS}{second}/local-ipv4s: '10.0.0.300' is not valid"
        assert reading.unsettled == {second: why}
        here = {mac: f"ens{5 + i}" for i, mac in enumerate(sorted(reading.listed))}
        agent.settle(imds, reading, here, lambda: None)  # read again, from IMDS
    assert not reading.unsettled and len(reading.facts) == 2


def _tree(
    inventory: Inventory, plans: dict[str, InstancePlan]
) -> tuple[InstancePlan, dict[str, str]]:
    plan = plans["multi-subnet"]
    return plan, tree_of(inventory, plan)


def test_a_late_eni_is_read_again_alone(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan]
) -> None:
    """A hotplugged ENI listed late: only the listing and that ENI are read again."""
    plan, tree = _tree(sandbox_inventory, sandbox_plans)
    late = plan.enis[1].mac
    here = {eni.mac: f"ens{5 + i}" for i, eni in enumerate(plan.enis)}
    with FakeImds(tree) as fake, client(fake) as imds:
        fake.late = {late: 3}  # listed from the fourth listing on
        reading = agent.gather(imds, None, "boot")
        assert late not in reading.listed
        reading.unsettled[late] = "not listed"
        first = len(fake.requests)
        agent.settle(imds, reading, here, lambda: None)
        again = [path for _, path, _ in fake.requests[first:]]
    assert late in reading.facts and not reading.unsettled
    assert all(path.endswith(("/macs/", "/mac")) or late in path for path in again), again
    assert len(again) == 3 * 2 + 10  # mac and listing per wait, then its 10 keys


def test_a_stale_device_number_is_read_again(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan]
) -> None:
    plan, tree = _tree(sandbox_inventory, sandbox_plans)
    second = plan.enis[1].mac
    here = {eni.mac: f"ens{5 + i}" for i, eni in enumerate(plan.enis)}
    routed: list[bool] = []
    with FakeImds(tree) as fake, client(fake) as imds:
        fake.stale = {second: ("0", 2)}  # the primary's number, for two reads
        reading = agent.gather(imds, None, "boot")
        agent.settle(imds, reading, here, lambda: routed.append(True))
    assert routed == [True]  # the primary was routed before the wait
    enis, _, problems = agent.compose(reading, None, here, plan.table_base)
    assert not problems and plan_enis(plan.instance_id, enis, plan.table_base) == plan.enis


def test_a_device_number_that_stays_stale_is_not_settled_at_the_deadline(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan]
) -> None:
    plan, tree = _tree(sandbox_inventory, sandbox_plans)
    second = plan.enis[1].mac
    here = {eni.mac: f"ens{5 + i}" for i, eni in enumerate(plan.enis)}
    with FakeImds(tree) as fake, client(fake, deadline=0.6) as imds:
        fake.stale = {second: ("0", 10**6)}
        reading = agent.gather(imds, None, "boot")
        agent.settle(imds, reading, here, lambda: None)
    assert "device-number: card 0 device 0 is the primary's" in reading.unsettled[second]


@pytest.mark.parametrize("lie", ["02:00:00:00:00:99", "second"])
def test_a_lie_about_the_primary_changes_nothing(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan], lie: str
) -> None:
    """`mac` names a MAC IMDS does not list, or a secondary ENI: nothing is applied."""
    plan, tree = _tree(sandbox_inventory, sandbox_plans)
    tree["mac"] = plan.enis[1].mac if lie == "second" else lie
    here = {eni.mac: f"ens{5 + i}" for i, eni in enumerate(plan.enis)}
    routed: list[bool] = []
    with FakeImds(tree) as fake, client(fake, deadline=0.6) as imds:
        reading = agent.gather(imds, None, "boot")
        with pytest.raises(agent.AgentError, match=r"IMDS mac: .* at the deadline"):
            agent.settle(imds, reading, here, lambda: routed.append(True))
    assert not routed


# --- every value is checked before use ----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("local-ipv4s", "10.0.0.5; reboot"),
        ("local-ipv4s", "10.0.0.5/24"),
        ("subnet-ipv4-cidr-block", "10.0.1.7/24"),  # host bits
        ("subnet-ipv4-cidr-block", "10.0.1.0"),
        ("ipv6s", "fe80::1%eth0"),
        ("ipv6-prefix", "$(id)"),
        ("interface-id", "eni-123' x"),
        ("subnet-id", "subnet-XYZ"),
        ("device-number", "1e3"),
        ("device-number", "٣"),  # a digit, but not 0-9
        ("network-card", "-1"),
        ("device-number", "1 2"),
    ],
)
def test_a_bad_value_unsettles_its_eni_alone(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan], key: str, bad: str
) -> None:
    plan, tree = _tree(sandbox_inventory, sandbox_plans)
    second = plan.enis[1].mac
    tree[f"{MACS}{second}/{key}"] = bad
    with FakeImds(tree) as fake, client(fake) as imds:
        reading = agent.gather(imds, None, "boot")
    assert list(reading.unsettled) == [second]
    assert reading.unsettled[second].startswith(f"IMDS {MACS}{second}/{key}: ")
    assert list(reading.facts) == [plan.enis[0].mac]


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (["local-ipv4s"], "local-ipv4s: missing"),
        (["subnet-ipv4-cidr-block"], "subnet-ipv4-cidr-block: missing"),  # not "IPv6-only"
        (["local-ipv4s", "subnet-ipv4-cidr-block", "ipv6s"], "local-ipv4s: missing"),
        (["device-number"], "device-number: missing"),
        (["interface-id"], "interface-id: missing"),
    ],
)
def test_missing_data_is_named_and_never_taken_as_truth(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan],
    missing: list[str], message: str,
) -> None:  # fmt: skip
    plan, tree = _tree(sandbox_inventory, sandbox_plans)
    second = plan.enis[1].mac
    for key in missing:
        tree.pop(f"{MACS}{second}/{key}", None)
    with FakeImds(tree) as fake, client(fake) as imds:
        reading = agent.gather(imds, None, "boot")
    assert reading.unsettled == {second: f"IMDS {MACS}{second}/{message}"}


def test_an_unsettled_eni_keeps_what_was_installed(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan]
) -> None:
    plan, tree = _tree(sandbox_inventory, sandbox_plans)
    second = plan.enis[1].mac
    here = {eni.mac: f"ens{5 + i}" for i, eni in enumerate(plan.enis)}
    with FakeImds(tree) as fake, client(fake) as imds:
        before = agent.gather(imds, None, "boot")
    routed = {mac: {"keys": raw, "status": "routed"} for mac, raw in before.raw.items()}
    old: dict[str, Any] = {"instance_id": plan.instance_id, "primary": plan.enis[0].mac,
                           "enis": routed}  # fmt: skip
    del tree[f"{MACS}{second}/local-ipv4s"]  # a 404 now
    with FakeImds(tree) as fake, client(fake) as imds:
        reading = agent.gather(imds, old, "reconcile")
    requests = [path for _, path, _ in fake.requests]
    assert len(requests) == 2 + 4 * 2  # token, listing, the four keys that can change
    enis, _, problems = agent.compose(reading, old, here, plan.table_base)
    assert plan_enis(plan.instance_id, enis, plan.table_base) == plan.enis  # all kept
    assert problems == {second: f"IMDS {MACS}{second}/local-ipv4s: missing"}
    # and an ENI the listing leaves out while its link is here is kept too
    del tree[f"{MACS}{second}/device-number"], tree[f"{MACS}{second}/interface-id"]
    for key in [k for k in tree if second in k]:
        del tree[key]
    with FakeImds(tree) as fake, client(fake) as imds:
        reading = agent.gather(imds, old, "reconcile")
    enis, _, problems = agent.compose(reading, old, here, plan.table_base)
    assert plan_enis(plan.instance_id, enis, plan.table_base) == plan.enis
    assert problems == {second: f"IMDS {MACS}: {second} is not listed"}


def test_a_failure_changes_nothing(
    multi: FakeImds, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """IMDS gone: the agent exits 1 before it runs anything."""
    multi.faults = [500] * 1000
    with multi:
        status = agent.main(
            [
                "--imds",
                multi.url,
                "--deadline",
                "0.3",
                "--lock",
                str(tmp_path / "lock"),
                "--root",
                str(tmp_path),
                "--sysfs",
                str(tmp_path),
            ]
        )
    assert status == 1
    assert "failed, nothing changed" in capsys.readouterr().err


# --- standing aside ----------------------------------------------------------------------


# --- the user data --------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("cloud-init") is None, reason="needs Debian's cloud-init")
@pytest.mark.parametrize(("base", "guard"), [(10000, True), (20000, False)])
def test_the_user_data_passes_cloud_init_schema(tmp_path: Path, base: int, guard: bool) -> None:
    path = tmp_path / "user-data"
    path.write_text(dynamic.user_data(base, guard))
    result = subprocess.run(["cloud-init", "schema", "--config-file", str(path)],
                            capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def _sh_function(script: str) -> str:
    """The script as the body of a function, as bash prints it back: comments and layout
    gone, every word of code kept (nothing runs)."""
    command = 'eval "f() {\n$1\n}" && declare -f f'
    return subprocess.run(
        ["bash", "-c", command, "bash", script], capture_output=True, text=True, check=True
    ).stdout


def test_compact_sh_keeps_strings_and_here_documents() -> None:
    source = (
        "x='a  # b'  # cut\n"
        '  y="multi\n  # kept: in the string\n"\n'
        "    cat <<EOF  # cut\n"
        "  # kept: in the here-document\nEOF\n"
        "echo \\'  # cut\n"
    )
    text = compact.sh(source)
    assert text == (
        "x='a  # b'\n"
        'y="multi\n  # kept: in the string\n"\n'
        "cat <<EOF\n"
        "  # kept: in the here-document\nEOF\n"
        "echo \\'\n"
    )
    assert _sh_function(text) == _sh_function(source)
    # the #! line is kept: a unit runs the file itself
    assert compact.sh("#!/bin/sh\n# cut\nset -u\n") == "#!/bin/sh\nset -u\n"


def test_the_embedded_modules_are_the_packages_code() -> None:
    files = user_data_files(dynamic.user_data())
    root = Path(dynamic.__file__).resolve().parent.parent
    for name, path in dynamic.MODULES:
        embedded = files[f"{dynamic.LIB}/{path}"]
        original = (root / name).read_text()
        if name == common.SETTLE_MODULE:  # the static script's (its own tests: test_settle)
            assert files[common.SETTLE_PATH] == embedded == common.settle_file().content
        elif name.endswith(".py"):  # minified: what it does, test_the_shipped_agent_...
            ast.parse(embedded, feature_version=(3, 7))  # the oldest python3 it runs on
            assert len(embedded) < 0.6 * len(original) or len(original) < 200, name
        else:  # the engine: comments, indentation and the lock cut, the code the same for bash
            assert embedded == compact.sh(dynamic.without_lock(original))
            assert len(embedded) < 0.8 * len(original)
            assert _sh_function(embedded) == _sh_function(dynamic.without_lock(original))
            assert "lock()" in original and "lock()" not in embedded  # the agent holds its own
            assert _sh_function(original).count("\n") - _sh_function(embedded).count("\n") > 20
    launcher = files[dynamic.LAUNCHER]
    assert launcher.startswith("#!/bin/sh\n") and "eniplan.agent.main" in launcher
    unit = files[dynamic.UNIT]
    assert "Before=network-online.target" in unit and f"ExecStart={dynamic.LAUNCHER}" in unit
    assert "cloud-init.service\n" in unit  # after cloud-init's crawl of meta-data (ordering only)
    assert f"ExecStart={dynamic.LAUNCHER} --hotplug %i" in files[dynamic.HOTPLUG_UNIT]
    reconcile = f"ExecStart={common.settle_command(dynamic.LAUNCHER)} --reconcile\n"
    assert reconcile in files[dynamic.RECONCILE_UNIT]  # run again while the network changes
    for name in (dynamic.UNIT, dynamic.HOTPLUG_UNIT):  # bounded, and run again on failure
        assert "TimeoutStartSec=90" in files[name] and "Restart=on-failure" in files[name]
    assert "TimeoutStartSec=90" in files[dynamic.RECONCILE_UNIT]
    assert "StartLimitIntervalSec=0" in files[dynamic.RECONCILE_UNIT]  # link changes start it
    assert "OnUnitInactiveSec=45" in files[dynamic.RECONCILE_TIMER]
    assert 'ACTION=="add|remove"' in files[dynamic.UDEV_RULE]


# --- the agent as the user data ships it (minified) does what the package's does ----------

SHIPPED_RUNS = {
    "boot": ["--dry-run"],
    "reconcile": ["--reconcile", "--dry-run"],
    "status": ["status"],
    "virtual link": ["--hotplug", "veth7", "--dry-run"],
    "bad usage": ["--table-base", "5"],
    "no such run": ["--state", "nothing.json", "status"],
}


@pytest.mark.parametrize("run", SHIPPED_RUNS)
def test_the_shipped_agent_does_what_the_packages_does(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan], tmp_path: Path,
    run: str,
) -> None:  # fmt: skip
    """The minified modules, extracted from the user data and run by the launcher's command
    against the fake IMDS, print and exit as the package's own modules do (each in a
    directory of its own: the same relative paths, the same words)."""
    plan = sandbox_plans["multi-subnet"]
    tree = tree_of(sandbox_inventory, plan)
    shipped = tmp_path / "lib"
    install_agent(shipped)
    with FakeImds(tree) as fake, client(fake) as imds:
        reading = agent.gather(imds, None, "boot")
    enis: dict[str, dict[str, Any]] = {
        mac: {"keys": raw, "link": f"ens{5 + i}", "status": "routed"}
        for i, (mac, raw) in enumerate(sorted(reading.raw.items()))
    }
    state = {
        "version": agent.STATE_VERSION, "instance_id": plan.instance_id,
        "primary": reading.primary, "table_base": 10000, "guard": True, "enis": enis,
        "ignored": [], "run": {"kind": "boot", "started": 1.8e9, "seconds": 0.25,
                               "requests": 30, "connections": 1, "exit": 0},
        "change": {"at": 1.8e9, "counts": "12 added, 0 removed"},
    }  # fmt: skip
    results = []
    for lib in (REPO, shipped):
        where = tmp_path / ("package" if lib == REPO else "shipped")
        for mac, eni in enis.items():
            (where / "sys" / eni["link"] / "device").mkdir(parents=True)
            (where / "sys" / eni["link"] / "address").write_text(mac + "\n")
        (where / "sys" / "veth7").mkdir()
        (where / "sys" / "veth7" / "address").write_text("02:00:00:00:00:77\n")
        (where / "root").mkdir()
        if run != "boot":
            (where / "state.json").write_text(json.dumps(state))
        with FakeImds(tree) as fake:
            args = ["--imds", fake.url, "--root", "root", "--sysfs", "sys", "--lock", "lock",
                    "--state", "state.json", *SHIPPED_RUNS[run]]  # fmt: skip
            done = subprocess.run([*launch(lib), *args], cwd=where, capture_output=True,
                                  text=True, timeout=60)  # fmt: skip
        saved = json.loads((where / "state.json").read_text()) if run == "virtual link" else None
        results.append((done.returncode, done.stdout, done.stderr, saved, len(fake.requests)))
    assert results[0] == results[1]
    status, out, err, saved, requests = results[1]
    expected = {
        "boot": (f"{plan.instance_id}: 2 ENIs in IMDS", "# altnames"),
        "reconcile": (f"{plan.instance_id}: 2 ENIs in IMDS", "# altnames"),
        "status": (f"{plan.instance_id}: last run boot", " table 10001: routed"),
        "virtual link": ("veth7 (02:00:00:00:00:77): a virtual link of no ENI here", ""),
        "bad usage": ("--table-base 5: expected 1000 to", ""),
        "no such run": ("no run recorded since boot (nothing.json)", ""),
    }[run]
    assert expected[0] in out + err and expected[1] in out, (status, out, err)
    assert status == {"bad usage": 2, "no such run": 1}.get(run, 0)
    if run == "reconcile":  # a token, the listing, the four keys that can change
        assert requests == 2 + 4 * 2
    if run == "virtual link":
        assert saved and saved["ignored"] == ["02:00:00:00:00:77"]
    if run == "boot":
        assert all(eni.eni_id in out for eni in plan.enis)


@pytest.mark.parametrize(("action", "starts"), [("up", True), ("reapply", True),
                                                ("dhcp4-change", True), ("down", False),
                                                ("pre-up", False)])  # fmt: skip
def test_networkmanager_dispatcher_starts_the_reconcile_run(
    tmp_path: Path, action: str, starts: bool
) -> None:
    # NetworkManager runs it as `SCRIPT INTERFACE ACTION`; a systemctl that records its args
    entries = yaml.safe_load(dynamic.user_data())["write_files"]
    (entry,) = [e for e in entries if e["path"] == dynamic.NM_DISPATCHER]
    assert entry["permissions"] == "0755"  # NetworkManager runs executable scripts only
    script = tmp_path / "70-eniplan-agent"
    script.write_text(entry["content"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("systemctl", "touch"):  # each records its arguments
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/{tool}\n')
        (bin_dir / tool).chmod(0o755)
    done = subprocess.run(
        ["sh", str(script), "ens6", action],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    called, touched = tmp_path / "systemctl", tmp_path / "touch"
    if starts:
        assert called.read_text() == "--no-block start eniplan-agent-reconcile.service\n"
        assert touched.read_text() == f"{common.NM_EVENT}\n"  # a run under way sees it
    else:
        assert not called.exists() and not touched.exists()


def test_an_eni_that_cannot_be_planned_is_unsettled_alone(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan]
) -> None:
    """IMDS says the second ENI's address is outside its subnet: the primary is planned."""
    plan, tree = _tree(sandbox_inventory, sandbox_plans)
    first, second = plan.enis
    tree[f"{MACS}{second.mac}/local-ipv4s"] = "192.0.2.10"
    here = {eni.mac: f"ens{5 + i}" for i, eni in enumerate(plan.enis)}
    with FakeImds(tree) as fake, client(fake) as imds:
        reading = agent.gather(imds, None, "boot")
    enis, plans, problems = agent.compose(reading, None, here, plan.table_base)
    assert [eni.mac for eni in enis] == [first.mac] and plans == ()
    assert "192.0.2.10 is outside its subnet" in problems[second.mac]


def test_the_deadline_during_a_re_read_leaves_the_eni_as_it_was(
    sandbox_inventory: Inventory, sandbox_plans: dict[str, InstancePlan]
) -> None:
    """IMDS stops answering while an unsettled ENI is read again: it stays unsettled for
    the same cause (its installed state kept), the run does not fail."""
    plan, tree = _tree(sandbox_inventory, sandbox_plans)
    second = plan.enis[1].mac
    del tree[f"{MACS}{second}/local-ipv4s"]
    here = {eni.mac: f"ens{5 + i}" for i, eni in enumerate(plan.enis)}
    with FakeImds(tree) as fake, client(fake, deadline=1.0) as imds:
        reading = agent.gather(imds, None, "boot")
        fake.faults = [503] * 10_000
        agent.settle(imds, reading, here, lambda: None)
    assert reading.unsettled == {second: f"IMDS {MACS}{second}/local-ipv4s: missing"}
