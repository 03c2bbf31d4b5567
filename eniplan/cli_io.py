"""The command line's edge: what goes to stderr (warnings, notes, the progress display),
standard output's console, reading the inventory with a progress display, and what one run
learnt on the way that decides its exit code (cli.main).

Nothing here decides what a command does; the core does (eniplan/render, eniplan/doctor,
...). This module only says what the core found, and where.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from eniplan.fileio import STDOUT, write_output, write_outputs
from eniplan.terminal import columns, plain_console, visible

if TYPE_CHECKING:
    from rich.console import Console

    from eniplan.findings import Report
    from eniplan.inventory import InventoryRequest
    from eniplan.model import Inventory
    from eniplan.report import Outputs
    from eniplan.sources.collection import Collection

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL, EXIT_PARTIAL = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130

T = TypeVar("T")


class Run:
    """What one run learnt on the way that decides its exit code at the end (cli.main):
    records of the input left out, or accounts, regions and instances not read, exit
    EXIT_PARTIAL whatever the command's own verdict (the latter unless --allow-partial)."""

    def __init__(self) -> None:
        self.rejected: list[str] = []  # records of the input left out (sources/shapes.py)
        self.lost: list[str] = []  # accounts, regions, instances that could not be read
        self.allow_partial = False

    def reset(self) -> None:
        self.rejected.clear()
        self.lost.clear()
        self.allow_partial = False

    def partial(self, problems: Iterable[Any]) -> None:
        self.lost.extend(str(problem) for problem in problems)


RUN = Run()


def stderr_console() -> Console:
    return plain_console(stderr=True, soft_wrap=True)


def stdout_console() -> Console:
    # Piped output gets a width that fits the tables instead of rich's 80 columns.
    width = None if sys.stdout.isatty() else (columns() or 132)
    return plain_console(width=width)


def quiet() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("quiet"))


def warn(message: str) -> None:
    click.echo(f"eniplan: warning: {visible(message)}", err=True)


def info(message: str) -> None:
    """A line on stderr that only informs (wrote FILE, a note): --quiet leaves it out.
    Warnings and errors are always said."""
    if not quiet():
        click.echo(message, err=True)


def say(message: str) -> None:
    """A line on stderr that --quiet keeps (what was skipped, how to apply)."""
    click.echo(message, err=True)


def write_text(text: str, output: str | None) -> None:
    """`text` to the file `output` (atomically) or, for None and '-', to stdout."""
    if output is None or output == STDOUT:
        click.echo(text, nl=False)
    else:
        write_output(output, text)
        info(f"wrote {output}")


def emit_reports(
    report: Report, outputs: Outputs, rich_table: bool, also: Sequence[tuple[str, str, str]] = ()
) -> None:
    """Each format to its file or stdout: the files first, with the files `also` (path,
    text, what to say once written: a baseline), all or none (write_outputs), so stdout
    ends the run. `rich_table`: the table on stdout is printed for the terminal (its width,
    colours)."""
    from eniplan.report import format_report

    to_stdout = [name for name, target in outputs.pairs if target in (None, STDOUT)]
    files = [
        (target, format_report(name, report))
        for name, target in outputs.pairs
        if target not in (None, STDOUT)
    ]
    write_outputs([*((path, text) for path, text, _ in also), *files])
    for _, _, said in also:
        info(said)
    for target, _ in files:
        info(f"wrote {target}")
    for name in to_stdout:
        if name == "table" and rich_table:
            from eniplan.report.table import print_report

            print_report(stdout_console(), report)
        else:
            click.echo(format_report(name, report), nl=False)


# --- reading the inventory --------------------------------------------------------------


class ProgressDisplay:
    """A progress bar on stderr for multi-account or multi-region runs on a terminal, naming
    the regions still running; each problem is printed (above the bar) when it happens."""

    def __init__(self) -> None:
        self._progress: Any = None  # a rich Progress, once there is something to show
        self._task: Any = None
        self._lock = threading.Lock()
        self.said: set[str] = set()  # problems printed already

    def problem(self, problem: Any) -> None:
        line = f"eniplan: warning: skipped {visible(problem.describe())}"
        with self._lock:
            self.said.add(problem.describe())
            if self._progress is not None:
                from rich.text import Text

                self._progress.console.print(Text(line), soft_wrap=True)
                return
        click.echo(line, err=True)

    def __call__(self, done: int, total: int, label: str) -> None:
        with self._lock:
            self._update(done, total, label)

    def _update(self, done: int, total: int, label: str) -> None:
        if total < 2 or not sys.stderr.isatty() or quiet():
            return
        if self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("reading AWS"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                console=stderr_console(),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(label, total=total)
        self._progress.update(self._task, completed=done, description=label)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _shown(read: Callable[[ProgressDisplay], T]) -> tuple[T, set[str]]:
    """`read` with a progress display; what it read, and the problems it printed already."""
    display = ProgressDisplay()
    try:
        return read(display), display.said
    finally:
        display.close()


def report_problems(problems: Any, said: set[str]) -> None:
    """The problems not printed yet (those of files and the sandbox); the run is partial."""
    for problem in problems:
        if problem.describe() not in said:
            warn(f"skipped {problem.describe()}")
    RUN.partial(problem.describe() for problem in problems)


def report_rejected(inventory: Inventory) -> None:
    for message in inventory.rejected:
        warn(f"left out {message}")
    RUN.rejected.extend(inventory.rejected)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while the inventory is read, or a command works on
    it: reading makes hundreds of thousands of objects (records, ENIs, addresses), and an
    audit as many (plans, findings, the report), that live until the command ends; every
    pass walked all of them again (a third of the time of reading a large inventory, a
    tenth of a large audit's). They are then frozen (gc.freeze: never walked again), and
    it resumes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def load_inventory(request: InventoryRequest) -> Inventory:
    """The inventory the options ask for, with a progress display; problems on stderr."""
    from eniplan.inventory import load_inventory as load

    RUN.allow_partial = request.allow_partial
    with collector_paused():
        inventory, said = _shown(lambda display: load(request, display, display.problem))
    report_problems(inventory.problems, said)
    report_rejected(inventory)
    return inventory


def load_collection(request: InventoryRequest) -> tuple[Collection, Inventory]:
    """The raw shapes (collect), with a progress display, and the inventory they make
    (built to refuse writing what could not be read back); problems on stderr."""
    from eniplan.inventory import load_collection as load
    from eniplan.sources.shapes import build_inventory

    RUN.allow_partial = request.allow_partial
    collection, said = _shown(lambda display: load(request, display, display.problem))
    inventory = build_inventory(collection)
    report_problems(collection.problems, said)
    report_rejected(inventory)
    return collection, inventory


def load_context_inventory(paths: tuple[str, ...]) -> Inventory:
    """Inventory files that add context to another input (check-plan's --inventory): read
    without a progress display; what could not be read is a warning, not a partial run."""
    from eniplan.inventory import InventoryRequest
    from eniplan.inventory import load_inventory as load
    from eniplan.sources.awsoptions import AwsOptions

    inventory = load(InventoryRequest(AwsOptions(), paths))
    for problem in inventory.problems:  # an AMI it does not show stays unknown: not safe
        warn(f"--inventory: skipped {problem.describe()}")
    report_rejected(inventory)
    return inventory
