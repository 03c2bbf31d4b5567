"""The `cloud-init` target: `#cloud-config` user data that installs the routing for good.

The user data carries the files of one persistence target (`--persist`) in `write_files`
and activates them with `runcmd`, so the routing applies at first boot and at every boot
after it:

- `script` (any systemd distro): the `iproute2` target's script and a systemd unit that
  runs it at every boot, ordered before network-online.target so that services which wait
  for the network start with the routing in place;
- `ifcfg`, `networkmanager`, `netplan`, `networkd`: that target's files, activated by its
  own commands; the distro's network stack then keeps the routing across reboots;
- `auto`: chosen from the instance's OS (from its AMI).

User data larger than EC2's 16 KB limit is gzip-compressed (cloud-init reads gzip), and
the Rendering says so. The second line is eniplan's marker: version, plan digest,
persistence and planning options (table base, guard).
"""

from __future__ import annotations

from dataclasses import replace

import yaml

from eniplan import ownership
from eniplan.plan import InstancePlan
from eniplan.render import base, compact, netplan
from eniplan.render.common import (
    SETTLE_PATH,
    nm_reconfigure_dispatcher,
    settle_command,
    settle_file,
)
from eniplan.userdata_compose import USER_DATA_LIMIT as USER_DATA_LIMIT
from eniplan.userdata_compose import compose

UNIT_NAME = "eniplan-routing.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
USER_DATA_PATH = "/user-data"  # -o DIR writes DIR/INSTANCE_ID/user-data

# The persistence that fits each OS family (the network stack it runs).
PERSIST_BY_OS = {
    ownership.RHEL_7: "ifcfg",
    ownership.RHEL_8_PLUS: "networkmanager",
    ownership.UBUNTU: "netplan",
}

# After the primary interface has its DHCP address, before services that need the network.
# Started again on every link change (REAPPLY_UNIT, NM_DISPATCHER_PATH), so no start limit:
# systemd's default (5 starts in 10 s) refused the runs after a NetworkManager reconfigure
# of two ENIs (`lab --boot`), and the path unit died with it. A run is cheap and idempotent,
# and runs again while the network stack changed during it (render/settle.sh).
_UNIT = """\
[Unit]
Description=eniplan per-ENI policy routing (one routing table per ENI)
After=network.target networking.service systemd-networkd-wait-online.service \
NetworkManager-wait-online.service
Before=network-online.target
Wants=network.target
StartLimitIntervalSec=0

[Service]
Type=oneshot
ExecStart={command}

[Install]
WantedBy=network-online.target multi-user.target
"""


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks (`|`), so the files read as they will be."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def persist_for(plan: InstancePlan, persist: str) -> str:
    if persist != "auto":
        return persist
    return PERSIST_BY_OS.get(plan.os.family, "script")


# When systemd-networkd (re)configures a link (`networkctl reconfigure`, `netplan apply`,
# a DHCP lease that changed), it removes the rules and routes it did not configure
# (ManageForeignRoutingPolicyRules=/ManageForeignRoutes= default to yes) and the kernel drops
# a table's routes with the address they use. Measured with `eniplan lab --boot`: after a
# reconfigure the per-ENI tables were empty and nothing re-applied them. networkd has no
# hooks of its own, but it rewrites a link's state file under /run/systemd/netif/links
# when the link's state changes, and its lease file under .../leases whenever it saves a
# link with a lease: a path unit watching both re-runs the (idempotent) script, through
# render/settle.sh (changes during a run start nothing). On a NetworkManager host the
# directories never appear and the unit stays idle.
# (The boot unit has no RemainAfterExit=, so that the path unit can start it again.)
REAPPLY_UNIT = "eniplan-routing.path"
REAPPLY_PATH = f"/etc/systemd/system/{REAPPLY_UNIT}"
_REAPPLY = f"""\
[Path]
PathChanged=/run/systemd/netif/links
PathChanged=/run/systemd/netif/leases
Unit={UNIT_NAME}

[Install]
WantedBy=multi-user.target
"""
NETWORKD_NOTE = (
    "systemd-networkd hosts: a path unit re-runs the script whenever networkd changes a "
    "link (`networkctl reconfigure`, `netplan apply`, a new DHCP lease), which removes "
    "the rules and routes networkd did not configure; NetworkManager hosts: a dispatcher "
    "script does when NetworkManager brings a link up again (`nmcli connection up` removes "
    "the table routes through the link's addresses), reapplies it or changes its lease; "
    f"the unit runs the script through {SETTLE_PATH}, which runs it again until it "
    "succeeded and the network held still for half a second after it"
)
NM_DISPATCHER_PATH = "/etc/NetworkManager/dispatcher.d/70-eniplan-routing"


def script_files(plan: InstancePlan) -> tuple[list[base.RenderedFile], list[str]]:
    from eniplan.render import iproute2

    script = iproute2.render(plan, base.RenderOptions())
    (rendered,) = script.files
    # the same code without its comments and indentation: user data has 16 KB
    script_file = replace(rendered, content=compact.sh(str(rendered.content)))
    unit = base.RenderedFile(UNIT_PATH, _UNIT.format(command=settle_command(script_file.path)))
    reapply = base.RenderedFile(REAPPLY_PATH, _REAPPLY)
    dispatcher = nm_reconfigure_dispatcher(NM_DISPATCHER_PATH, UNIT_NAME)
    commands = [
        "systemctl daemon-reload",
        f"systemctl enable --now {UNIT_NAME} {REAPPLY_UNIT}",
    ]
    return [script_file, settle_file(), unit, reapply, dispatcher], commands


def _target_files(
    plan: InstancePlan, persist: str
) -> tuple[list[base.RenderedFile], list[str], tuple[str, ...]]:
    if persist == "script":
        files, commands = script_files(plan)
        return files, commands, (NETWORKD_NOTE, netplan.NETPLAN_APPLY_NOTE)
    from eniplan.render import render

    rendering = render(persist, plan, base.RenderOptions())
    return list(rendering.files), list(rendering.activate), rendering.notes


def user_data(plan: InstancePlan, persist: str) -> tuple[str, tuple[str, ...]]:
    """The #cloud-config text and the notes of the persistence used."""
    files, commands, notes = _target_files(plan, persist)
    document = {
        "write_files": [
            {
                "path": file.path,
                "permissions": f"0{file.mode:o}",
                "owner": "root:root",
                "content": file.content,
            }
            for file in files
        ],
        "runcmd": [["sh", "-c", command] for command in commands],
    }
    body = yaml.dump(
        document, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False, width=1000
    )
    header = f"#cloud-config\n{base.marker(plan, persist=persist)}\n"
    return header + body, notes


def render(plan: InstancePlan, options: base.RenderOptions) -> base.Rendering:
    """The user data; the instance's own, when known, is kept in front of it
    (userdata_compose) unless options.replace_user_data."""
    persist = persist_for(plan, options.persist)
    text, notes = user_data(plan, persist)
    composed = compose(text, plan.user_data, plan.instance_id, replace=options.replace_user_data)
    notes_list = [
        f"persistence: {persist} (for {plan.os.family}: {plan.os.evidence})",
        *notes,
        *composed.notes,
    ]
    content = composed.content
    return base.Rendering(
        target="cloud-init",
        instance_id=plan.instance_id,
        files=(base.RenderedFile(USER_DATA_PATH, content, 0o600),),
        notes=tuple(notes_list),
    )
