"""The iproute2 target's script as text: one executable script holding only the plan's values,
no way in for free text, addresses written as ip prints them."""

from __future__ import annotations

import dataclasses
import random
import re
import socket
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address

import pytest

from eniplan import values
from eniplan.plan import (
    HANDLED_ELSEWHERE,
    MANAGED,
    NOTHING_TO_DO,
    EniPlan,
    InstancePlan,
    Route,
    Rule,
)
from eniplan.render import renderer
from eniplan.render.base import RenderOptions, marker
from eniplan.render.iproute2 import SCRIPT_MODE, SCRIPT_PATH, inet6_ntop, render, script

PROOF_PLANS = ("centos7-same-24", "rhel-same-20", "multi-subnet")
MAC = re.compile(r"\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b")
IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?\b")
IPV6 = re.compile(r"(?<![\w:])[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}(?:/\d{1,3})?(?![\w:])")
AWS_ID = re.compile(r"\b(?:i|eni|subnet|vpc)-[0-9a-f]{8,17}\b")
NASTY = "02:00:00:00:00:01;reboot"
CORRUPTIONS: dict[str, Callable[[EniPlan], dict[str, object]]] = {
    "mac with a command": lambda eni: {"mac": NASTY},
    "mac not normalised": lambda eni: {"mac": eni.mac.upper()},
    "eni id with a command": lambda eni: {"eni_id": f"{eni.eni_id}$(reboot)"},
    "subnet id with a command": lambda eni: {"subnet_id": "subnet-0123;reboot"},
    "table as text": lambda eni: {"table": f"{eni.table}; reboot"},
    "table as a bool": lambda eni: {"table": True},
    "table main": lambda eni: {"table": 254},
    "address as text": lambda eni: {"ipv4_addresses": ("10.0.0.5/24; reboot",)},
    "address of the other family": lambda eni: {"ipv4_addresses": (IPv6Address("2001:db8::1"),)},
    "rule source as text": lambda eni: {"rules": ("from 10.0.0.5 lookup 10000",)},
    "rule priority not the table": lambda eni: {
        "rules": (Rule(IPv4Network("10.0.0.5/32"), eni.table, eni.table + 1),)
    },
    "route of another table": lambda eni: {
        "routes": (Route(IPv4Network("0.0.0.0/0"), eni.table + 1, IPv4Address("10.0.0.1")),)
    },
    "IPv4 route via the RA router": lambda eni: {
        "routes": (Route(IPv4Network("0.0.0.0/0"), eni.table, via_ra=True),)
    },
    "route gateway as text": lambda eni: {
        "routes": (Route(IPv4Network("0.0.0.0/0"), eni.table, "10.0.0.1;reboot"),)  # type: ignore[arg-type]
    },
}


def test_the_proof_plans_are_managed(sandbox_plans: dict[str, InstancePlan]) -> None:
    for name in PROOF_PLANS:  # the kernel tests prove these
        assert sandbox_plans[name].status == MANAGED, name


def test_render_gives_one_executable_script(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["multi-subnet"]
    rendering = render(plan, RenderOptions())
    assert renderer("iproute2") is render
    assert rendering.target == "iproute2"
    assert rendering.instance_id == plan.instance_id
    (file,) = rendering.files
    assert (file.path, file.mode) == (SCRIPT_PATH, SCRIPT_MODE) == (file.path, 0o755)
    assert file.content == script(plan)
    lines = file.content.splitlines()
    assert lines[:2] == ["#!/bin/sh", marker(plan)]
    assert "set -u" in lines[:25]
    assert rendering.activate == (SCRIPT_PATH,)


@pytest.mark.parametrize("name", PROOF_PLANS)
def test_script_holds_only_the_plans_values(
    sandbox_plans: dict[str, InstancePlan], name: str
) -> None:
    plan = sandbox_plans[name]
    text = script(plan)
    macs = {eni.mac for eni in plan.enis}
    assert set(MAC.findall(text)) == macs
    allowed: set[str] = {"0.0.0.0/0", "::/0"}
    for eni in plan.enis:
        networks = [eni.subnet_cidr, *eni.ipv6_subnets, *(r.source for r in eni.rules)]
        addresses = [eni.primary_ipv4, eni.router, *(r.gateway for r in eni.routes)]
        allowed |= {str(n) for n in networks if n is not None}
        allowed |= {str(n.network_address) for n in networks if n is not None}
        allowed |= {str(a) for a in addresses if a is not None}
        allowed |= {str(a) for a in (*eni.ipv4_addresses, *eni.ipv6_addresses)}
    ipv6 = {a for a in IPV6.findall(text) if "::" in a or a.count(":") >= 3} - macs
    found = set(IPV4.findall(text)) | ipv6
    assert found <= allowed, found - allowed
    ids = {plan.instance_id, *(e.eni_id for e in plan.enis), *(e.subnet_id for e in plan.enis)}
    assert set(AWS_ID.findall(text)) <= ids
    assert plan.name and plan.name not in text  # the Name tag: free text, never embedded


def test_script_stays_a_literal_block_in_yaml(sandbox_plans: dict[str, InstancePlan]) -> None:
    """No tab, no trailing blank, ASCII only: cloud-init's YAML can keep it as it reads."""
    text = script(sandbox_plans["multi-subnet"])
    assert text.isascii()
    assert "\t" not in text
    assert not [line for line in text.splitlines() if line != line.rstrip()]


def test_every_plan_renders(sandbox_plans: dict[str, InstancePlan]) -> None:
    """A managed plan applies its ENIs' routing; a plan with nothing to do (one ENI) is the
    teardown: no ENI, no guard; one handled by another agent is refused."""
    for plan in sandbox_plans.values():
        if plan.status == HANDLED_ELSEWHERE:
            with pytest.raises(ValueError, match="nothing to apply"):
                script(plan)
            continue
        text = script(plan)
        assert text.startswith("#!/bin/sh\n")
        teardown = plan.status == NOTHING_TO_DO
        assert f"\nN={0 if teardown else len(plan.enis)}\n" in text
        assert ("\nGUARD=  #" in text) == teardown


def test_the_model_rejects_shell_metacharacters() -> None:
    """Every value the sources put in the model passes these validators first (shapes.py),
    so a tag or a crafted API answer cannot carry shell text into a plan."""
    for bad in (NASTY, "02:00:00:00:00:01 x", "$(reboot)", "02:00:00:00:00:01`id`"):
        with pytest.raises(ValueError):
            values.mac_address(bad)
    with pytest.raises(ValueError):
        values.ipv6_address("fe80::1%eth0;reboot")
    with pytest.raises(ValueError):
        values.resource_id("eni", "eni-0123456789abcdef0;reboot")
    with pytest.raises(ValueError):
        values.ipv4_address("10.0.0.1 || reboot")


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_the_renderer_takes_only_typed_checked_values(
    sandbox_plans: dict[str, InstancePlan], corruption: str
) -> None:
    """A plan built by hand around the model's checks still cannot put text in the script."""
    plan = sandbox_plans["centos7-same-24"]
    first = plan.enis[0]
    changed = dataclasses.replace(first, **CORRUPTIONS[corruption](first))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        script(dataclasses.replace(plan, enis=(changed, *plan.enis[1:])))


def test_a_bad_instance_id_or_status_is_refused(sandbox_plans: dict[str, InstancePlan]) -> None:
    plan = sandbox_plans["centos7-same-24"]
    with pytest.raises(ValueError):
        script(dataclasses.replace(plan, instance_id="i-0123456789abcdef0`reboot`"))
    with pytest.raises(ValueError):
        script(dataclasses.replace(plan, status=HANDLED_ELSEWHERE))


def test_addresses_are_written_as_ip_prints_them() -> None:
    """`ip` prints IPv6 with glibc's inet_ntop; the script compares text with it."""
    samples = [
        "::",
        "::1",
        "::ffff:10.0.0.1",
        "::10.0.0.1",
        "::1:0:0:1",
        "1::",
        "2001:db8::",
        "2001:db8:0:0:1::1",
        "2001:0:0:1::1",
        "2001:db8:0:1:0:0:0:1",
        "fe80::1",
        "2600:1f18:1:100:0:1:0:0",
    ]
    rng = random.Random(2013)
    for _ in range(2000):
        words = [rng.choice([0, 0, 0, 1, 0xFFFF, rng.randrange(1 << 16)]) for _ in range(8)]
        samples.append(":".join(f"{word:x}" for word in words))
    for text in samples:
        address = IPv6Address(text)
        assert inet6_ntop(address) == socket.inet_ntop(socket.AF_INET6, address.packed), text
