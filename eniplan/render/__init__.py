"""One renderer per target, behind one interface (render/base.py).

TARGETS maps the `--target` name to the module that renders it; each module exposes
`render(plan, options) -> Rendering`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line reads TARGETS at start-up: nothing heavy here
    from eniplan.plan import InstancePlan
    from eniplan.render.base import Renderer, Rendering, RenderOptions

MODES = ("static", "dynamic")  # --mode: dynamic is cloud-init's agent (render/dynamic.py)
# --persist (cloud-init): how the static configuration survives a reboot
PERSIST_CHOICES = ("auto", "script", "ifcfg", "networkmanager", "netplan", "networkd")
TARGETS: dict[str, str] = {
    "iproute2": "eniplan.render.iproute2",
    "cloud-init": "eniplan.render.cloudinit",
    "netplan": "eniplan.render.netplan",
    "networkd": "eniplan.render.networkd",
    "networkmanager": "eniplan.render.networkmanager",
    "ifcfg": "eniplan.render.ifcfg",
    "terraform": "eniplan.render.terraform",
}


def renderer(target: str) -> Renderer:
    module = importlib.import_module(TARGETS[target])
    function: Renderer = module.render
    return function


def render(target: str, plan: InstancePlan, options: RenderOptions) -> Rendering:
    return renderer(target)(plan, options)
