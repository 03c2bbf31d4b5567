"""Pieces several renderers share: value checks, rule sources, the guard's udev rule."""

from __future__ import annotations

from importlib import resources

from eniplan import values
from eniplan.errors import InputError
from eniplan.plan import MANAGED, EniPlan, InstancePlan, Rule, network_text
from eniplan.render import compact
from eniplan.render.base import RenderedFile, RenderOptions, marker

UDEV_RULE_PATH = "/etc/udev/rules.d/61-eniplan-netdev-group.rules"


def check_renderable(plan: InstancePlan, options: RenderOptions, target: str) -> None:
    if plan.status != MANAGED:
        raise ValueError(f"{plan.instance_id}: only managed plans are rendered ({plan.status})")
    if options.mode != "static":
        raise InputError(
            f"--target {target} writes static configuration: use --mode static "
            "(--mode dynamic is for the boot agent of the cloud-init and iproute2 targets)"
        )


def text(value: object) -> str:
    """A plan value as it goes into a file: one line, no control characters."""
    result = str(value)
    assert not any(char in result for char in "\r\n\x00"), f"unsafe value {result!r}"
    return result


def mac(eni: EniPlan) -> str:
    """The ENI's MAC, validated again (lowercase colon form)."""
    checked = values.mac_address(eni.mac)
    assert checked == eni.mac, f"MAC {eni.mac!r} is not normalised"
    return text(checked)


def udev_netdev_group_rule(plan: InstancePlan) -> RenderedFile:
    """udev rule: every managed ENI, found by MAC, joins the guard's netdev group at boot
    and on hotplug (`udevadm trigger` with the default action, change, applies it now)."""
    assert plan.guard is not None
    group = int(plan.guard.group)
    lines = [
        marker(plan),
        f"# eniplan: put every managed ENI (matched by MAC) in netdev group {group}, which the",
        f"# rule 'lookup main suppress_ifgroup {group} priority {int(plan.guard.priority)}' "
        "refers to",
        "# (the main-table guard). The network stack's own configuration cannot set a group.",
    ]
    lines += [
        f'SUBSYSTEM=="net", ACTION!="remove", ATTR{{address}}=="{mac(eni)}", '
        f'ATTR{{netdev_group}}="{group}"'
        for eni in plan.enis
    ]
    return RenderedFile(UDEV_RULE_PATH, "\n".join(lines) + "\n", mode=0o644)


def udev_activate(plan: InstancePlan) -> list[str]:
    """Commands that apply the udev rule to the ENIs that are already there."""
    if plan.guard is None:
        return []
    commands = ["udevadm control --reload"]
    commands += [
        f"udevadm trigger --subsystem-match=net --attr-match=address={mac(eni)}"
        for eni in plan.enis
    ]
    commands.append("udevadm settle")
    return commands


def rule_source(rule: Rule) -> str:
    """`from` of a rule, checked to be one line."""
    return text(network_text(rule.source))


NM_EVENT = "/run/eniplan-nm-event"  # touched by the dispatcher scripts (settle.sh reads it)


def nm_reconfigure_dispatcher(path: str, unit: str) -> RenderedFile:
    """A NetworkManager dispatcher script that starts `unit` whenever NetworkManager
    brings a link up, reapplies its profile or changes its DHCP lease: re-activating a
    profile (`nmcli connection up`) removes the link's addresses, and the kernel the routes
    of every table through them (measured with `eniplan lab --boot --stack
    networkmanager`). It touches NM_EVENT first: a start while `unit` runs merges into that
    run, which sees the change there and runs again (settle.sh). NetworkManager runs it as
    `SCRIPT INTERFACE ACTION`; idle without NetworkManager. One line: the dynamic user
    data is near EC2's 16 KB."""
    content = (
        "#!/bin/sh\ncase $2 in up|reapply|dhcp[46]-change) "
        f"touch {NM_EVENT}; exec systemctl --no-block start {unit};; esac\n"
    )
    return RenderedFile(path, content, mode=0o755)


# The units that link changes start (the script's, the agent's reconcile) run their
# command through settle.sh (why: its comments), at the same path for both targets.
SETTLE_PATH = "/usr/local/lib/eniplan/settle.sh"
SETTLE_MODULE = "render/settle.sh"  # in the eniplan package


def settle_command(command: str) -> str:
    """A unit's ExecStart= value that runs `command` until the network held still."""
    return f"/bin/sh {SETTLE_PATH} {command}"


def package_text(name: str) -> str:
    """A file of the eniplan package (`name`: its path under eniplan/), as text."""
    return resources.files("eniplan").joinpath(name).read_text(encoding="utf-8")


def settle_file() -> RenderedFile:
    return RenderedFile(SETTLE_PATH, compact.sh(package_text(SETTLE_MODULE)))
