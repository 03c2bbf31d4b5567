"""The NetworkManager target's rendering for tests: its files by path, a keyfile parsed as
NetworkManager reads it, the guard's dispatcher script and a POSIX shell to run it."""

from __future__ import annotations

import configparser
import shutil

from eniplan.plan import EniPlan, InstancePlan
from eniplan.render import networkmanager
from eniplan.render.base import Rendering, RenderOptions


def parse(keyfile: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(keyfile)
    return {section: dict(parser[section]) for section in parser.sections()}


def rendering(plan: InstancePlan) -> Rendering:
    return networkmanager.render(plan, RenderOptions())


def contents(plan: InstancePlan) -> dict[str, str]:
    files = {}
    for file in rendering(plan).files:
        assert isinstance(file.content, str)
        files[file.path] = file.content
    return files


def keyfile(plan: InstancePlan, eni: EniPlan) -> str:
    return contents(plan)[
        f"/etc/NetworkManager/system-connections/eniplan-{eni.table}.nmconnection"
    ]


def dispatcher(plan: InstancePlan) -> str:
    files = contents(plan)
    return files["/etc/NetworkManager/dispatcher.d/60-eniplan-guard"]


def posix_shell() -> str:
    return shutil.which("dash") or "sh"
