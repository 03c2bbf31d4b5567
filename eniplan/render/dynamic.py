"""`render --target cloud-init --mode dynamic`: one user data for every instance.

The user data installs the agent (eniplan/agent/: IMDSv2 -> plancore.py -> engine.sh),
a systemd unit that runs it at every boot before network-online.target, and a udev rule
with a template unit that runs it when an ENI is attached or detached. It holds no
instance's values: launch templates, auto scaling groups and Terraform's
aws_network_interface_attachment share it.

EC2 takes 16 KB of user data; it goes out gzip-compressed (cloud-init reads gzip; in
Terraform it is `user_data_base64`). The agent's modules travel as one tar.xz (base64):
the Python minified by render/compact.py (python-minifier: no comments, docstrings,
annotations or typing imports, short names for all but what another module or the launcher
imports and the parameters some call names; the tests run the shipped modules against the
package's), engine.sh without its comment lines and indentation. The units and the udev
rule stay readable text.
"""

from __future__ import annotations

import ast
import base64
import functools
import gzip
import io
import lzma
import re
import tarfile

import yaml

from eniplan import __version__
from eniplan.plancore import DEFAULT_TABLE_BASE
from eniplan.render import base, compact
from eniplan.render.common import (
    SETTLE_MODULE,
    SETTLE_PATH,
    nm_reconfigure_dispatcher,
    package_text,
    settle_command,
    settle_file,
)

USER_DATA_LIMIT = 16 * 1024  # bytes, before base64 (EC2)
LIB = "/usr/local/lib/eniplan"
ARCHIVE = f"{LIB}/agent.tar.xz"
LAUNCHER = "/usr/local/sbin/eniplan-agent"
UNIT = "/etc/systemd/system/eniplan-agent.service"
HOTPLUG_UNIT = "/etc/systemd/system/eniplan-agent@.service"
RECONCILE_UNIT = "/etc/systemd/system/eniplan-agent-reconcile.service"
RECONCILE_TIMER = "/etc/systemd/system/eniplan-agent-reconcile.timer"
UDEV_RULE = "/etc/udev/rules.d/90-eniplan-agent.rules"
USER_DATA_PATH = "/user-data"
# (module in the eniplan package, path under LIB): everything the agent imports
# (in the order xz packs smallest of all 5,040: 41 bytes less than plancore.py second)
MODULES = (
    ("__init__.py", "eniplan/__init__.py"),
    ("agent/__init__.py", "eniplan/agent/__init__.py"),
    ("agent/imds.py", "eniplan/agent/imds.py"),
    ("agent/main.py", "eniplan/agent/main.py"),
    ("plancore.py", "eniplan/plancore.py"),
    ("agent/engine.sh", "eniplan/agent/engine.sh"),
    (SETTLE_MODULE, SETTLE_PATH.removeprefix(f"{LIB}/")),  # the reconcile unit runs it
)

# python3, not tar: the agent needs it anyway, and tar's -J needs xz, which not every
# image has. The archive is eniplan's own; the "data" filter where Python has it.
_FILTER = '**({"filter": "data"} if hasattr(t, "data_filter") else {})'
# compiled once at install, so that no boot run compiles the modules again
COMPILE = f"python3 -m compileall -q {LIB}"
EXTRACT = (
    f"""python3 -c 'import tarfile as t; t.open("{ARCHIVE}").extractall("{LIB}", {_FILTER})'"""
)

_LAUNCHER = f"""\
#!/bin/sh
# eniplan {__version__} dynamic agent: per-ENI policy routing from IMDSv2 (--help)
exec python3 -Es -c 'import sys; sys.path.insert(0, "{LIB}")
from eniplan.agent.main import main; sys.exit(main())' "$@"
"""

# A failed run is run again, 2 s later, then 4, 8 ... (RestartSteps: systemd 254+), at
# most 3 times in 10 minutes; bad usage (exit 2) is not. A run is bounded by --deadline
# (30 s; a hotplug's wait for IMDS by --hotplug-wait, 60 s), its unit by TimeoutStartSec.
_RESTART = """\
TimeoutStartSec=90
Restart=on-failure
RestartSec=2
RestartSteps=4
RestartMaxDelaySec=30
RestartPreventExitStatus=2
"""
_LIMIT = "StartLimitIntervalSec=600\nStartLimitBurst=3\n"
SYSTEMD_NOTE = (
    "the units need systemd 244 or later (Restart= on a oneshot service; older systemd refuses "
    "to load them: Amazon Linux 2, Ubuntu 18.04, Debian 10 and RHEL 8 ship 219-241); "
    "RestartSteps= and RestartMaxDelaySec= need 254 (older systemd ignores them: a fixed 2 s)"
)

_UNIT = f"""\
[Unit]
Description=eniplan per-ENI policy routing from IMDS
After=network.target networking.service systemd-networkd-wait-online.service \\
NetworkManager-wait-online.service cloud-init.service
Before=network-online.target
Wants=network.target
{_LIMIT}
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={{launcher}}{{args}}
{_RESTART}
[Install]
WantedBy=network-online.target multi-user.target
"""

_HOTPLUG_UNIT = f"""\
[Unit]
Description=eniplan policy routing after ENI link %i came or went
After=eniplan-agent.service
{_LIMIT}
[Service]
Type=oneshot
ExecStart={{launcher}} --hotplug %i{{args}}
{_RESTART}"""

# Secondary addresses and prefixes assigned after boot: routed within a minute by a run
# that reads only what can change, and changes nothing when nothing did. Also started on
# link changes (the path unit, the NetworkManager dispatcher): no start limit, or a
# reconfigure of a few links would leave it (and the path unit) failed, as measured with
# the script's unit; starts during a run merge into it, so IMDS sees one run at a time.
# Through settle.sh, as the script's unit: a change during a run starts nothing, so the
# run is made again until it succeeded and the network stack held still (`netplan apply`
# reconfigures a link twice within 50-150 ms).
_RECONCILE_UNIT = """\
[Unit]
Description=eniplan: per-ENI policy routing again, for addresses assigned since
After=eniplan-agent.service
StartLimitIntervalSec=0

[Service]
Type=oneshot
TimeoutStartSec=90
ExecStart={settle} --reconcile{args}
"""

_RECONCILE_TIMER = """\
[Unit]
Description=eniplan: reconcile per-ENI policy routing with IMDS every minute

[Timer]
OnBootSec=45
OnUnitInactiveSec=45
RandomizedDelaySec=10
AccuracySec=1

[Install]
WantedBy=timers.target
"""

# systemd-networkd removes the rules and routes it did not configure when it reconfigures
# a link (`networkctl reconfigure`, `netplan apply`), and the kernel drops a table's routes
# with the address networkd re-adds: measured with `eniplan lab --boot`. networkd rewrites
# the link's state file under /run/systemd/netif/links then; a reconcile run (cheap: it
# reads only what can change) puts the routing back. Idle where networkd does not run.
RECONCILE_PATH = "/etc/systemd/system/eniplan-agent-reconcile.path"
_RECONCILE_PATH = """\
[Path]
PathChanged=/run/systemd/netif/links
PathChanged=/run/systemd/netif/leases

[Install]
WantedBy=multi-user.target
"""

# NetworkManager does the same when it activates a profile again: its dispatcher starts
# the reconcile run (common.nm_reconfigure_dispatcher).
NM_DISPATCHER = "/etc/NetworkManager/dispatcher.d/70-eniplan-agent"
_NM_DISPATCHER = nm_reconfigure_dispatcher(NM_DISPATCHER, "eniplan-agent-reconcile.service")

_UDEV = """\
# eniplan: re-plan the ENIs' routing when one is attached or detached
SUBSYSTEM=="net", ACTION=="add|remove", KERNEL=="eth*|ens*|enp*|enX*", \
RUN+="/bin/systemctl --no-block start eniplan-agent@$name.service"
"""


def module_text(name: str) -> str:
    if name == SETTLE_MODULE:
        return str(settle_file().content)
    if not name.endswith(".py"):
        return compact.sh(without_lock(package_text(name)))
    keep, keywords = imported_names().get(name, ()), called_keywords()
    return compact.python(package_text(name), keep=keep, keywords=keywords)


ENTRY = ("agent/main.py", "main")  # what the launcher imports


@functools.cache  # (the package's files: the same for every module of every render)
def called_keywords() -> frozenset[str] | None:
    """The keyword argument names the shipped modules' calls use (compact.keyword_names):
    the launcher calls main() with no argument, so every other call is in these modules."""
    modules = [package_text(module) for module, _ in MODULES if module.endswith(".py")]
    names = compact.keyword_names(modules)
    return None if names is None else frozenset(names)


@functools.cache  # (as called_keywords)
def imported_names() -> dict[str, set[str]]:
    """Module (a MODULES name) -> the names the other modules and the launcher import from
    it: the minifier must not rename them."""
    names = {name for name, _ in MODULES}
    found: dict[str, set[str]] = {ENTRY[0]: {ENTRY[1]}}
    for name in (name for name in names if name.endswith(".py")):
        for node in ast.walk(ast.parse(package_text(name))):
            if isinstance(node, ast.Import) and any(
                alias.name.split(".")[0] == "eniplan" for alias in node.names
            ):
                raise AssertionError(f"{name}: `import eniplan...`: import names from it")
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(
                "eniplan"
            ):
                continue
            path = "/".join(str(node.module).split(".")[1:])
            module = f"{path}.py" if f"{path}.py" in names else f"{path}/__init__.py".lstrip("/")
            for alias in node.names:
                if f"{path}/{alias.name}.py".lstrip("/") in names:  # its globals renamed
                    raise AssertionError(f"{name}: imports module {alias.name}: import names")
                found.setdefault(module, set()).add(alias.name)
    return found


# The agent holds its own lock and runs the engine with ENIPLAN_LOCK='' (main.apply): the
# engine's lock function, the iproute2 script's, and its call are not shipped.
_LOCK = re.compile(r"^lock\(\) \{\n.*?^\}\n|^[^\n]* \|\| lock\n", re.MULTILINE | re.DOTALL)


def without_lock(engine: str) -> str:
    text, cuts = _LOCK.subn("", engine)
    if cuts != 2 or re.search(r"(^|[;&|] *)lock\b", text, re.MULTILINE):  # a bug: the
        # engine changed shape
        raise AssertionError(f"engine.sh: {cuts} cuts of its lock function and call, not 2")
    return text


def archive() -> bytes:
    """The agent's modules as a reproducible tar.xz (fixed owner, times and order)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, path in MODULES:
            data = module_text(name).encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    # pb=0: text has no 4-byte structure (LZMA's default pb=2 is for binaries): 60 bytes less
    lzma2 = {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "pb": 0}
    return lzma.compress(buffer.getvalue(), filters=[lzma2])


def agent_args(table_base: int, guard: bool) -> str:
    args = "" if table_base == DEFAULT_TABLE_BASE else f" --table-base {int(table_base)}"
    return args + ("" if guard else " --no-guard")


def marker(table_base: int, guard: bool) -> str:
    return f"# eniplan {__version__} mode=dynamic {base.option_fields(table_base, guard)}"


def user_data(table_base: int = DEFAULT_TABLE_BASE, guard: bool = True) -> str:
    args = agent_args(table_base, guard)
    reconcile = _RECONCILE_UNIT.format(settle=settle_command(LAUNCHER), args=args)
    text_files = (
        (LAUNCHER, _LAUNCHER, "0755"),
        (UNIT, _UNIT.format(launcher=LAUNCHER, args=args), "0644"),
        (HOTPLUG_UNIT, _HOTPLUG_UNIT.format(launcher=LAUNCHER, args=args), "0644"),
        (RECONCILE_UNIT, reconcile, "0644"),
        (RECONCILE_TIMER, _RECONCILE_TIMER, "0644"),
        (RECONCILE_PATH, _RECONCILE_PATH, "0644"),
        (UDEV_RULE, _UDEV, "0644"),
        (NM_DISPATCHER, str(_NM_DISPATCHER.content), f"0{_NM_DISPATCHER.mode:o}"),
    )
    document = {
        "write_files": [
            {
                "path": ARCHIVE,
                "encoding": "b64",
                "permissions": "0644",
                "content": base64.b64encode(archive()).decode(),
            },
            *(
                {"path": path, "permissions": mode, "content": content}
                for path, content, mode in text_files
            ),
        ],
        "runcmd": [
            [
                "sh",
                "-c",
                f"{EXTRACT} && {COMPILE} && systemctl daemon-reload && "
                "systemctl enable --now eniplan-agent.service eniplan-agent-reconcile.timer "
                "eniplan-agent-reconcile.path && "
                "udevadm control --reload",
            ]
        ],
    }
    body = yaml.dump(
        document, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False, width=1 << 20
    )
    return f"#cloud-config\n{marker(table_base, guard)}\n{body}"


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks (`|`), so the files read as they will be."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def render(table_base: int = DEFAULT_TABLE_BASE, guard: bool = True) -> base.Rendering:
    """The user data, gzip-compressed: cloud-init reads gzip, and Terraform passes it as
    `user_data_base64` (the text itself is `user_data()`)."""
    text = user_data(table_base, guard)
    content = gzip.compress(text.encode(), compresslevel=9, mtime=0)
    size = len(content)
    if size >= USER_DATA_LIMIT:  # a bug: tests keep it under
        raise AssertionError(f"dynamic user data is {size} bytes, over EC2's 16 KB")
    return base.Rendering(
        target="cloud-init",
        instance_id="dynamic",
        files=(base.RenderedFile(USER_DATA_PATH, content, 0o600),),
        notes=(
            f"dynamic user data: {len(text.encode())} bytes of text, gzip-compressed to {size} "
            f"bytes of EC2's {USER_DATA_LIMIT} (cloud-init reads gzip; Terraform: "
            "user_data_base64); the same for every instance (the agent reads IMDSv2 at boot, "
            "on ENI hotplug and every minute)",
            SYSTEMD_NOTE,
        ),
    )
