"""The ifcfg target's files for tests: written under a directory by their path on the instance,
and a shell-sourced file's variables read as initscripts read them (sh); initscripts' ifup-
routes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from eniplan.plan import InstancePlan
from eniplan.render import ifcfg
from eniplan.render.base import RenderOptions

SCRIPTS = "/etc/sysconfig/network-scripts"
UDEV_RULE = "/etc/udev/rules.d/61-eniplan-netdev-group.rules"
IFUP_ROUTES = r"""
MATCH='^[[:space:]]*(\#.*)?$'
handle_ip_file() {
    local f t type file=$1 proto="-4"
    f=${file##*/}
    t=${f%%-*}
    type=${t%%6}
    if [ "$type" != "$t" ]; then
        proto="-6"
    fi
    { cat "$file" ; echo ; } | while read line; do
        if [[ ! "$line" =~ $MATCH ]]; then
            ip $proto $type $ACTION $line || exit 1
        fi
    done
}
for file in "$@"; do
    handle_ip_file "$file" || exit 1
done
"""


def source(path: Path, *names: str) -> dict[str, str]:
    """Variables of a shell-sourced file, as initscripts read them."""
    script = '. "$1"; shift; for name; do eval "printf \'%s\\n\' \\"\\${$name-}\\""; done'
    out = subprocess.run(
        ["sh", "-c", script, "sh", str(path), *names],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(zip(names, out.split("\n"), strict=False))


def write_files(plan: InstancePlan, directory: Path) -> Path:
    """The rendered files under directory, by their path on the instance."""
    for file in ifcfg.render(plan, RenderOptions()).files:
        target = directory / file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        assert isinstance(file.content, str)
        target.write_text(file.content)
        target.chmod(file.mode)
    return directory / SCRIPTS.lstrip("/")
