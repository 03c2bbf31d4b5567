"""The package as users get it: the wheel (LICENSE, the Terraform module, the command that
writes it out), the sdist (its tests run from it), and the module as a git source.

The wheel and sdist are built from a copy of the source tree (building writes egg-info
beside the sources), with the build backend of this environment (`--no-isolation`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.helpers.cli_runner import assert_one_line_error, run
from tests.helpers.terraform_tools import terraform

ROOT = REPO
MODULE = ROOT / "terraform" / "modules" / "eni-policy-routing"
MODULE_FILES = sorted(path.name for path in MODULE.iterdir() if path.suffix in (".tf", ".yaml"))
pytest.importorskip("build", reason="the `build` package is not installed")


def _source_copy(destination: Path) -> Path:
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "build", "dist", "__pycache__", ".*_cache", ".hypothesis"
    )
    shutil.copytree(ROOT, destination, ignore=ignore)
    return destination


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, sdist) built from a copy of the source tree."""
    work = tmp_path_factory.mktemp("package")
    source = _source_copy(work / "src")
    out = work / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("eniplan-*.whl")
    (sdist,) = out.glob("eniplan-*.tar.gz")
    return wheel, sdist


@pytest.mark.slow
def test_the_wheel_ships_the_license_and_the_terraform_module(dists: tuple[Path, Path]) -> None:
    wheel, _ = dists
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        license_text = archive.read("eniplan-0.1.0.dist-info/licenses/LICENSE").decode()
        metadata = archive.read("eniplan-0.1.0.dist-info/METADATA").decode()
        for name in MODULE_FILES:
            packaged = archive.read(f"eniplan/terraform_module/{name}")
            assert packaged == (MODULE / name).read_bytes(), name
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "License-Expression: Apache-2.0" in metadata
    assert {"main.tf", "variables.tf", "outputs.tf", "user-data.yaml"} <= set(MODULE_FILES)
    assert "eniplan/agent/engine.sh" in names and "eniplan/py.typed" in names
    assert "eniplan/render/settle.sh" in names  # the units run the script through it
    assert not any(name.startswith("tests/") for name in names)


@pytest.mark.slow
def test_the_installed_wheel_writes_the_module_out(
    dists: tuple[Path, Path], tmp_path: Path
) -> None:
    """Installed for real (not editable), first on the path before this checkout's
    editable install: `eniplan terraform-module -o DIR` reads the wheel's package data."""
    wheel, _ = dists
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        check=True,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = tmp_path / "modules" / "eni-policy-routing"
    result = subprocess.run(
        [sys.executable, "-m", "eniplan", "terraform-module", "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    probe = subprocess.run(
        [sys.executable, "-c", "import eniplan; print(eniplan.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert probe.stdout.startswith(str(target)), "the test ran the checkout, not the wheel"
    assert sorted(path.name for path in out.iterdir()) == MODULE_FILES
    for name in MODULE_FILES:
        assert (out / name).read_bytes() == (MODULE / name).read_bytes(), name
    assert result.stderr.count("wrote ") == len(MODULE_FILES)


@pytest.mark.slow
def test_the_sdist_holds_the_tests_and_they_run_from_it(
    dists: tuple[Path, Path], tmp_path: Path
) -> None:
    _, sdist = dists
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.glob("eniplan-*")
    for path in (
        "LICENSE",
        "Makefile",
        "tests/conftest.py",
        "tests/tools/test_package.py",
        "tests/helpers/__init__.py",
        "tests/fixtures/sarif/sarif-schema-2.1.0.json",
        "benchmarks/bench_audit.py",
        "scripts/install-system-packages",
        "terraform/modules/eni-policy-routing/main.tf",
        "terraform/examples/instance/main.tf",
        "cloudformation/eniplan-member-role.yaml",
    ):
        assert (unpacked / path).is_file(), path
    assert not list(unpacked.rglob("__pycache__"))
    # The sdist's own eniplan (first on sys.path with `python -m pytest` from its root).
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/unit/test_terraform.py::test_the_modules_user_data_is_the_renderers",
         "tests/unit/test_fileio.py"],
        capture_output=True,
        text=True,
        cwd=unpacked,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


@pytest.mark.slow
def test_the_module_works_as_a_git_source(tmp_path: Path) -> None:
    """`terraform get` fetches the module from a git repository holding this tree, by the
    `//terraform/modules/eni-policy-routing` subdirectory the README names."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = _source_copy(tmp_path / "eniplan")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "tree"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text(
        'module "eni_routing" {\n'
        f'  source = "git::file://{repo}//terraform/modules/eni-policy-routing?ref=main"\n'
        "  enis   = {}\n"
        "}\n"
    )
    code, out, err = terraform(root, "get", "-no-color")
    assert code == 0, out + err
    manifest = json.loads((root / ".terraform" / "modules" / "modules.json").read_text())
    (entry,) = [module for module in manifest["Modules"] if module["Key"] == "eni_routing"]
    fetched = root / entry["Dir"]
    assert fetched.as_posix().endswith("terraform/modules/eni-policy-routing")
    for name in MODULE_FILES:
        assert (fetched / name).read_bytes() == (MODULE / name).read_bytes(), name


def test_terraform_module_from_the_checkout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An editable install reads the checkout's module; a second run replaces the files."""
    out = tmp_path / "a" / "b"
    for _ in range(2):
        code, stdout, stderr = run(["terraform-module", "-o", str(out)], capsys)
        assert code == 0, stderr
        assert stdout == ""
    assert sorted(path.name for path in out.iterdir()) == MODULE_FILES
    assert (out / "main.tf").read_bytes() == (MODULE / "main.tf").read_bytes()


def test_terraform_module_onto_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    code, _, stderr = run(["terraform-module", "-o", str(blocker / "module")], capsys)
    assert_one_line_error(code, stderr, str(blocker), "not a directory")
    assert blocker.read_text() == "keep me"


def test_hints_name_the_program_that_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After `make demo` eniplan is .venv/bin/eniplan, not on PATH; sudo needs its path."""
    from eniplan.invocation import program, program_as_root

    script = tmp_path / ".venv" / "bin" / "eniplan"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [".venv/bin/eniplan", "demo"])
    monkeypatch.setenv("PATH", "/nonexistent")
    assert program() == ".venv/bin/eniplan"
    assert program_as_root() == f"sudo {script}"
    monkeypatch.setenv("PATH", str(script.parent))  # an activated venv
    assert program() == "eniplan"
    assert program_as_root() == f"sudo {script}"
    monkeypatch.setattr(sys, "argv", ["/x/eniplan/__main__.py"])  # python -m eniplan
    assert (program(), program_as_root()) == ("eniplan", "sudo eniplan")
