"""The Terraform module `eni-policy-routing`, as shipped inside the wheel.

The repository keeps one copy, at terraform/modules/eni-policy-routing (the path Terraform's
git sources name); setup.py packages those files as the data-only package
`eniplan.terraform_module`. An editable install cannot import a package without
`__init__.py` from another directory, so there the checkout's copy is read directly.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from eniplan.errors import InputError
from eniplan.fileio import write_all_atomic

MODULE_PACKAGE = "eniplan.terraform_module"
MODULE_NAME = "eni-policy-routing"
_SUFFIXES = (".tf", ".yaml")


def module_files() -> dict[str, bytes]:
    """File name -> content of every file of the module, sorted by name."""
    try:
        root = importlib.resources.files(MODULE_PACKAGE)
        entries = {entry.name: entry.read_bytes() for entry in root.iterdir() if entry.is_file()}
    except ModuleNotFoundError:  # an editable install: the checkout's copy
        checkout = Path(__file__).resolve().parents[1] / "terraform" / "modules" / MODULE_NAME
        entries = {
            entry.name: entry.read_bytes() for entry in checkout.glob("*") if entry.is_file()
        }
    files = {name: data for name, data in sorted(entries.items()) if name.endswith(_SUFFIXES)}
    if "main.tf" not in files:
        raise RuntimeError(f"the Terraform module {MODULE_NAME} is missing from this install")
    return files


def write_module(output_dir: str) -> list[Path]:
    """Write the module's files into `output_dir` (created if needed): all land or none."""
    from eniplan.render.files import check_output_dir

    if not output_dir:
        raise InputError("-o: the output directory is empty (expected a directory path)")
    root = Path(output_dir)
    check_output_dir(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{root}: cannot create directory: {error.strerror}") from None
    planned = [(root / name, data, 0o644) for name, data in module_files().items()]
    write_all_atomic(planned)
    return [path for path, _, _ in planned]
