"""The command line's option groups hand each command one typed value per group, and the
core's requests decide without click: what `render` renders and when stdout is allowed."""

from __future__ import annotations

import re
from typing import Any

import click
import pytest
from click.testing import CliRunner

from eniplan.baseline import BaselineFiles
from eniplan.cli import cli
from eniplan.cli_options import baseline_options, inventory_options, plan_options, report_options
from eniplan.errors import InputError
from eniplan.inventory import InventoryRequest
from eniplan.model import Inventory
from eniplan.plan import PlanOptions
from eniplan.render.run import RenderRequest, run
from eniplan.report import Outputs
from eniplan.sources.awsoptions import AwsOptions
from tests.helpers import REPO

NO_SOURCE = InventoryRequest(AwsOptions())


def test_each_group_hands_the_command_one_typed_value() -> None:
    seen: dict[str, Any] = {}

    @click.command()
    @inventory_options
    @plan_options
    @report_options(("table", "json"), several=True)
    @baseline_options
    def probe(**values: Any) -> None:
        seen.update(values)

    argv = ["--sandbox", "--tag", "Name=web", "--table-base", "20000", "--no-guard",
            "--format", "json", "-o", "out.json", "--format", "table", "--fail-on", "medium",
            "--baseline", "known.json", "--allow-partial"]  # fmt: skip
    result = CliRunner().invoke(probe, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert seen == {
        "inventory": InventoryRequest(
            AwsOptions(tags=(("Name", "web"),)), sandbox="default", allow_partial=True
        ),
        "plan": PlanOptions(table_base=20000, guard=False),
        "outputs": Outputs((("json", "out.json"), ("table", None)), "medium"),
        "baseline": BaselineFiles(read="known.json"),
    }


def test_every_inventory_command_has_the_whole_group() -> None:
    group = {"profile", "regions", "inventory_paths", "sandbox", "tags", "allow_partial"}
    for name in ("collect", "inspect", "plan", "render", "audit", "lab", "apply"):
        params = {param.name for param in cli.commands[name].params}
        assert group <= params, name


def _never(_: InventoryRequest) -> Inventory:
    raise AssertionError("dynamic mode reads no inventory")


def test_render_core_decides_stdout(sandbox_inventory: Inventory) -> None:
    one = sandbox_inventory.select(tags=[("Name", "web-balanced")])
    result = run(RenderRequest(NO_SOURCE, PlanOptions(), "iproute2"), lambda _: one)
    assert isinstance(result.output, str) and result.output.startswith("#!")
    assert any("to apply now" in line for informs, line in result.lines if not informs)
    with pytest.raises(InputError, match="pass -o DIR"):
        run(RenderRequest(NO_SOURCE, PlanOptions(), "iproute2"), lambda _: sandbox_inventory)


def test_render_core_dynamic_mode(tmp_path: Any) -> None:
    request = RenderRequest(NO_SOURCE, PlanOptions(), "cloud-init", mode="dynamic")
    assert isinstance(run(request, _never).output, bytes)  # gzip: piped or redirected
    with pytest.raises(InputError, match="gzip-compressed"):
        run(RenderRequest(NO_SOURCE, PlanOptions(), "cloud-init", "dynamic", terminal=True), _never)
    written = run(RenderRequest(NO_SOURCE, PlanOptions(), "cloud-init", "dynamic",
                                output_dir=str(tmp_path)), _never)  # fmt: skip
    assert written.output is None and (tmp_path / "dynamic" / "user-data").is_file()
    assert written.lines[0] == (True, f"wrote {tmp_path / 'dynamic' / 'user-data'}")
    forced = RenderRequest(NO_SOURCE, PlanOptions(force=True), "cloud-init", "dynamic")
    with pytest.raises(InputError, match="--force does not apply"):
        run(forced, _never)


def test_readme_lists_every_environment_variable_the_options_read() -> None:
    """The README's list of environment variables names exactly the options' (a sed of a
    figure once replaced `ENIPLAN_BASELINE` there with a benchmark's timings)."""
    readme = (REPO / "README.md").read_text()
    start = readme.index("Environment variables: ")
    listed = set(re.findall(r"`(ENIPLAN_[A-Z_]+)`", readme[start : readme.index("(the", start)]))
    read: set[str] = set()
    commands: list[click.Command] = [cli]
    while commands:
        command = commands.pop()
        if isinstance(command, click.Group):
            commands.extend(command.commands.values())
        for param in command.params:
            names = [param.envvar] if isinstance(param.envvar, str) else param.envvar or []
            read.update(names)
    assert listed == read
