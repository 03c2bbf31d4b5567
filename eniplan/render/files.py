"""Writing renderings to a directory: DIR/INSTANCE_ID/<path on the instance>."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from eniplan.errors import InputError
from eniplan.fileio import write_all_atomic
from eniplan.render.base import Rendering


def output_path(root: Path, instance_id: str, file_path: str) -> Path:
    relative = PurePosixPath(file_path.lstrip("/"))
    if ".." in relative.parts or not relative.parts:
        raise ValueError(f"renderer produced an unsafe path {file_path!r}")  # a bug, not input
    return root / instance_id / Path(*relative.parts)


def check_output_dir(root: Path) -> None:
    """-o DIR: an existing directory, or a path whose nearest existing parent is one."""
    for place in (root, *root.absolute().parents):
        if place.is_dir():
            return
        if place.exists() or place.is_symlink():
            raise InputError(f"-o {root}: {place} is not a directory")


def write_renderings(output_dir: str, renderings: Iterable[Rendering]) -> list[Path]:
    """Write every file of every rendering as one: all land, or none changes."""
    if not output_dir:
        raise InputError("-o: the output directory is empty (expected a directory path)")
    root = Path(output_dir)
    check_output_dir(root)
    planned = [
        (output_path(root, rendering.instance_id, file.path), file)
        for rendering in renderings
        for file in rendering.files
    ]
    for path, _ in planned:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(f"{path.parent}: cannot create directory: {error.strerror}") from None
    write_all_atomic([(path, file.content, file.mode) for path, file in planned])
    return [path for path, _ in planned]
