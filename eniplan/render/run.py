"""`eniplan render` as one request: which instances are rendered and which skipped, whether
the result may go to standard output, the dynamic mode's one user data, and the files
written; the command line only prints the result (cli.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eniplan.errors import InputError
from eniplan.terminal import visible

if TYPE_CHECKING:
    from eniplan.inventory import InventoryRequest
    from eniplan.model import Inventory
    from eniplan.plan import PlanOptions
    from eniplan.render.base import Rendering

# Render targets whose output carries the instance's user data.
USER_DATA_TARGETS = ("cloud-init", "terraform")
# The one target whose dynamic mode exists: cloud-init user data that installs the agent.
DYNAMIC_TARGET = "cloud-init"


@dataclass(frozen=True)
class RenderRequest:
    inventory: InventoryRequest
    plan: PlanOptions
    target: str
    mode: str = "static"  # static | dynamic
    persist: str | None = None  # None: not given (auto in static mode)
    replace_user_data: bool = False
    output_dir: str | None = None  # None: standard output
    terminal: bool = False  # standard output is a terminal: no compressed bytes there

    def check(self) -> None:
        """Refuse option mixes that would silently ignore something."""
        if self.replace_user_data and (
            self.mode == "dynamic" or self.target not in USER_DATA_TARGETS
        ):
            raise InputError(
                "--replace-user-data applies to --target cloud-init and terraform in static "
                "mode (the dynamic user data is the same for every instance)"
            )
        if self.mode != "dynamic":
            return
        if self.target != DYNAMIC_TARGET:
            raise InputError(
                f"--mode dynamic: only --target cloud-init has an agent, not {self.target}"
            )
        given = [
            *self.inventory.given(),
            *(["--force"] if self.plan.force else []),
            *(["--persist"] if self.persist is not None else []),
        ]
        if given:
            raise InputError(
                f"--mode dynamic renders one user data for every instance: {', '.join(given)} "
                "does not apply (the agent reads each instance's ENIs from IMDS)"
            )


@dataclass(frozen=True)
class RenderResult:
    output: str | bytes | None  # the one file, for standard output (None: written to files)
    # What to say on stderr, in order: (True: only informs, --quiet drops it; text)
    lines: tuple[tuple[bool, str], ...]


def run(request: RenderRequest, load: Callable[[InventoryRequest], Inventory]) -> RenderResult:
    """Render what `request` asks for; `load` reads the inventory (static mode only)."""
    request.check()
    if request.mode == "dynamic":
        from eniplan.render import dynamic

        return _result(request, [dynamic.render(request.plan.table_base, request.plan.guard)], [])
    renderings, skipped = _static(request, load)
    files = [file for rendering in renderings for file in rendering.files]
    if request.output_dir is None and (len(renderings) != 1 or len(files) != 1):
        raise InputError(
            f"{len(renderings)} instance(s) and {len(files)} file(s) to write: "
            "pass -o DIR (stdout takes one instance with one file)"
        )
    return _result(request, renderings, skipped)


def _static(
    request: RenderRequest, load: Callable[[InventoryRequest], Inventory]
) -> tuple[list[Rendering], list[str]]:
    """The renderings of the selected instances that need policy routing, and a line for
    each instance skipped (said after the output is written: an error stays the only line)."""
    from eniplan.plan import MANAGED, NOTHING_TO_DO, plan_inventory
    from eniplan.render import render
    from eniplan.render.base import RenderOptions

    options = RenderOptions(
        mode=request.mode,
        persist=request.persist or "auto",
        replace_user_data=request.replace_user_data,
    )
    renderings, skipped = [], []
    for plan in plan_inventory(load(request.inventory), request.plan):
        # (iproute2: an instance left with one ENI gets the script that removes the routing)
        teardown = request.target == "iproute2" and plan.status == NOTHING_TO_DO
        if plan.status != MANAGED and not teardown:
            name = plan.name or "no name"
            skipped.append(
                visible(f"{plan.instance_id} ({name}): skipped, {plan.status}: {plan.reason}")
            )
            continue
        renderings.append(render(request.target, plan, options))
    if not renderings:
        why = (
            "no instance selected"
            if not skipped
            else skipped[0]
            if len(skipped) == 1
            else f"{len(skipped)} skipped: see `eniplan plan`"
        )
        raise InputError(f"nothing to render: no selected instance needs policy routing ({why})")
    return renderings, skipped


def _result(
    request: RenderRequest, renderings: list[Rendering], skipped: list[str]
) -> RenderResult:
    """The files to stdout or written to -o DIR (all or none), then the lines to say: the
    files written, the instances skipped, what each target could not express and how to
    apply its files now."""
    from eniplan.render.files import write_renderings

    output: str | bytes | None = None
    lines: list[tuple[bool, str]] = []
    if request.output_dir is None:
        output = renderings[0].files[0].content
        if isinstance(output, bytes) and request.terminal:
            raise InputError("the output is gzip-compressed: redirect it to a file or pass -o")
    else:
        written: list[Path] = write_renderings(request.output_dir, renderings)
        lines += [(True, f"wrote {path}") for path in written]
    lines += [(False, f"eniplan: {line}") for line in skipped]
    said: set[str] = set()
    for rendering in renderings:
        for note in rendering.notes:
            if note not in said:
                said.add(note)
                lines.append((True, f"eniplan: note: {visible(note)}"))
        if rendering.activate:
            how = "; ".join(rendering.activate)
            where = f"eniplan: {rendering.instance_id}: to apply now on the instance (as root)"
            lines.append((False, f"{where}: {how}"))
    return RenderResult(output, tuple(lines))
