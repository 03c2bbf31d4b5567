"""What every renderer returns, and the options they share.

A renderer is a module in eniplan/render/ with one function,
`render(plan: InstancePlan, options: RenderOptions) -> Rendering`. It is pure: the plan in,
file contents out. Writing them (stdout or `-o DIR`, atomically) is the CLI's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from eniplan import __version__
from eniplan.render import PERSIST_CHOICES as PERSIST_CHOICES

if TYPE_CHECKING:
    from eniplan.plan import InstancePlan


@dataclass(frozen=True)
class RenderedFile:
    path: str  # where it goes on the instance (absolute), e.g. /etc/netplan/60-eniplan.yaml
    content: str | bytes  # bytes: compressed user data
    mode: int = 0o644


@dataclass(frozen=True)
class Rendering:
    target: str
    instance_id: str
    files: tuple[RenderedFile, ...]
    # What the target cannot express and what was added to make it whole, and what the
    # user must know (also written as comments inside the files where the format allows).
    notes: tuple[str, ...] = ()
    # How to activate the files now, on the instance, without a reboot.
    activate: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderOptions:
    mode: str = "static"  # static | dynamic
    persist: str = (
        "auto"  # cloud-init only: script | ifcfg | networkmanager | netplan | networkd | auto
    )
    extra: dict[str, str] = field(default_factory=dict)
    # cloud-init and terraform: drop the instance's own user data instead of keeping it
    replace_user_data: bool = False


class Renderer(Protocol):
    def __call__(self, plan: InstancePlan, options: RenderOptions) -> Rendering: ...


def option_fields(table_base: int, guard: bool) -> str:
    """The planning options as the marker records them, static and dynamic alike, so that
    the audit re-plans with them (userdata.py parses them back)."""
    return f"table-base={int(table_base)} guard={'on' if guard else 'off'}"


def marker(plan: InstancePlan, comment: str = "#", persist: str | None = None) -> str:
    """The line that records who wrote a file, from which plan and with which options:
    `# eniplan VERSION instance=ID plan=sha256:DIGEST [persist=P] table-base=N guard=on|off`
    (drift detection re-plans the instance with the same options)."""
    return (
        f"{comment} eniplan {__version__} instance={plan.instance_id} plan=sha256:{plan.digest()}"
        + (f" persist={persist}" if persist is not None else "")
        + f" {option_fields(plan.table_base, plan.guard is not None)}"
    )
