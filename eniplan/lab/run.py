"""`eniplan lab` as one request: which target is applied (and in which mode), what needs
--boot, the image and the clean-up; the command line only prints the result (cli.py).

One spelling of the agent: `--target cloud-init --mode dynamic`, as `eniplan render` says
it. `--target dynamic` is kept as an alias of it, and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eniplan.errors import InputError
from eniplan.inventory import InventoryRequest
from eniplan.lab import image
from eniplan.lab.proofs import LabOptions, LabReport, run_lab, select_instance
from eniplan.model import Inventory
from eniplan.plan import PlanOptions
from eniplan.render.run import DYNAMIC_TARGET

UNBOOTED = ("iproute2", "cloud-init")  # what the lab applies without --boot (and the agent)
DYNAMIC_ALIAS = "dynamic"  # --target dynamic = --target cloud-init --mode dynamic
ALIAS_NOTE = "eniplan: note: --target dynamic is an alias of --target cloud-init --mode dynamic"


@dataclass(frozen=True)
class LabRequest:
    inventory: InventoryRequest
    plan: PlanOptions
    target: str | None = None  # None: iproute2, with --boot cloud-init
    mode: str = "static"  # static | dynamic (cloud-init: the agent, with the lab's IMDS)
    boot: bool = False
    persist: str = "script"
    stack: str | None = None
    image_dir: Path | None = None  # None: the XDG cache

    def applied(self) -> str:
        """The lab's name of what it applies: a render target, or `dynamic` (the agent)."""
        target = self.target or (
            DYNAMIC_TARGET if self.boot or self.mode == "dynamic" else "iproute2"
        )
        if target == DYNAMIC_ALIAS:
            return DYNAMIC_ALIAS
        if self.mode == "dynamic":
            if target != DYNAMIC_TARGET:
                raise InputError(
                    f"--mode dynamic: only --target cloud-init has an agent, not {target}"
                )
            return DYNAMIC_ALIAS
        return target

    def options(self) -> LabOptions:
        """The lab's options, once every option mix was checked (before anything is built)."""
        from eniplan.lab import boot

        applied = self.applied()
        if not self.boot and applied not in (*UNBOOTED, DYNAMIC_ALIAS):
            raise InputError(f"--target {self.target}: only the booted lab applies it: add --boot")
        if not self.boot and self.stack is not None:
            raise InputError("--stack chooses the booted OS's network stack: add --boot")
        if self.boot:
            boot.check_target(applied)
            boot.stack_for(applied, self.persist, self.stack)
        directory = self.image_dir or image.default_image_dir()
        return LabOptions(
            target=applied, persist=self.persist, image_dir=directory, stack=self.stack
        )


def notes(request: LabRequest) -> tuple[str, ...]:
    return (ALIAS_NOTE,) if request.target == DYNAMIC_ALIAS else ()


def cleanup() -> list[str]:
    """--cleanup: what killed labs left, removed (running labs are left alone): a line for
    each."""
    from eniplan.lab import check_environment
    from eniplan.lab.topology import cleanup as cleanup_labs

    check_environment()
    return [f"removed {line}" for line in cleanup_labs()]


def prepare_image(request: LabRequest, say: Callable[[str], None]) -> list[str]:
    """--prepare-image: the image of --boot, built unless it is cached (`say` tells that a
    build starts, which takes minutes); the line that says where it is."""
    if not request.boot:
        raise InputError("--prepare-image builds the image of --boot: add --boot")
    directory = request.image_dir or image.default_image_dir()
    image.check_can_build()
    if image.is_ready(directory):
        return [f"image ready: {image.rootfs(directory)}"]
    say(f"building {image.OS_NAME} in {directory} (a few minutes)")
    return [f"image ready: {image.build(directory)}"]


def run(
    request: LabRequest,
    load: Callable[[InventoryRequest], Inventory],
    progress: Callable[[str], None] | None = None,
) -> LabReport:
    """The proofs before and after applying, on the one instance the options select."""
    from eniplan.lab import boot, check_environment

    options = request.options()
    check_environment()
    if request.boot:
        boot.check_ready(options.image_dir)
    inventory = load(request.inventory)
    instance = select_instance(inventory, request.plan)
    run_one = boot.run_boot_lab if request.boot else run_lab
    return run_one(instance, inventory, request.plan, options, progress=progress)
