"""The README holds to the command line it documents (a careless sed once put benchmark
timings where an option's environment variable belonged; test_cli_options.py guards that
list). Every `eniplan ...` command line of the README's fenced code blocks is parsed, never
run, against the click command tree: the command exists, every option is one of that
command's (or the group's), every value of a choice option is a choice, and positional
arguments and required options are as the command takes them. The other way round, every
option of every command is named in the README, in that command's section. Each check is
shown to fail on a broken README line, so none passes vacuously."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml

from eniplan.cli import cli
from eniplan.cli_options import baseline_options, inventory_options, plan_options
from eniplan.config import default_map
from eniplan.errors import InputError
from tests.helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")

# Fenced blocks that hold no command line: data (JSON, HCL), the `eniplan:ignore` tag
# examples, the source and test trees (language ""). YAML blocks are read as YAML below.
NOT_COMMANDS = {"json", "hcl", ""}
SHELL = {"sh", "console"}

HELP = tuple(cli.context_settings["help_option_names"])
SEPARATORS = {"|", "||", "&&", ";", "&"}
REDIRECTIONS = {">", ">>", "<"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
ELIDED = "..."  # `eniplan --config FILE ...`
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")  # `--target T`


@dataclass(frozen=True)
class Invocation:
    """One `eniplan` command line: where it is, its environment assignments, its words."""

    line: int
    env: tuple[str, ...]
    words: tuple[str, ...]
    inline: bool = False  # a `code span` in the prose: often a fragment (`eniplan render ...`)

    def __str__(self) -> str:
        return f"README line {self.line}: eniplan {shlex.join(self.words)}"


# --- the README's command lines ----------------------------------------------------------


def fenced_blocks(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """(language, line number of the block's first line, its lines) of each fenced block."""
    language: str | None = None
    start = 0
    lines: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            if language is None:
                language, start, lines = line[3:].strip(), number + 1, []
            else:
                yield language, start, lines
                language = None
        elif language is not None:
            lines.append(line)
    assert language is None, f"README: the block opened at line {start - 1} is not closed"


def shell_lines(language: str, start: int, lines: list[str]) -> Iterator[tuple[int, str]]:
    """The command lines of a shell block, continuations joined: every line of `sh`, the
    `$ ` lines of `console` (the rest is output)."""
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(lines, start=start):
        if pending is not None:
            line = pending[1] + " " + raw.strip()
            number = pending[0]
        elif language == "console":
            if not raw.lstrip().startswith("$ "):
                continue  # output (a command the output shows is indented, with its `$ `)
            line = raw.lstrip()[2:]
        else:
            line = raw
        if line.endswith("\\"):
            pending = (number, line[:-1].rstrip())
            continue
        pending = None
        yield number, line
    assert pending is None, f"README line {pending[0]}: a continuation ends the block"


def invocations_in(number: int, line: str, inline: bool = False) -> Iterator[Invocation]:
    """The eniplan invocations of one shell line: each `$(...)` on its own, then each part
    of a pipeline or list; redirections are left out."""
    for inner in SUBSTITUTION.findall(line):
        yield from invocations_in(number, inner, inline)
    lexer = shlex.shlex(SUBSTITUTION.sub("SUBSTITUTED", line), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    segment: list[str] = []
    for word in [*lexer, ";"]:
        if word not in SEPARATORS:
            segment.append(word)
            continue
        words = [
            w for i, w in enumerate(segment) if not {w, segment[i - 1] if i else ""} & REDIRECTIONS
        ]
        env = []
        while words and (ASSIGNMENT.match(words[0]) or words[0] == "sudo"):
            if words[0] != "sudo":
                env.append(words[0])
            words.pop(0)
        if words and Path(words[0]).name == "eniplan":
            yield Invocation(number, tuple(env), tuple(words[1:]), inline)
        segment = []


def yaml_invocations(start: int, lines: list[str]) -> Iterator[Invocation]:
    """YAML blocks: a workflow's `run:` steps, a pre-commit configuration's arguments to
    eniplan's hook (after the hook's `entry`). An .eniplan.yaml is checked by its own test."""
    document = yaml.safe_load("\n".join(lines))
    if "jobs" in document:
        for number, line in enumerate(lines, start=start):
            found = re.match(r"^\s*(?:-\s+)?run:\s*(.*)$", line)
            if found and "eniplan" in found.group(1):
                assert not found.group(1).startswith("|"), f"README line {number}: a run block"
                yield from invocations_in(number, found.group(1))
    elif "repos" in document:
        hooks = {hook["id"]: hook for hook in yaml.safe_load(PRE_COMMIT_HOOKS)}
        for repo in document["repos"]:
            for hook in repo["hooks"]:
                number = start + next(i for i, line in enumerate(lines) if hook["id"] in line)
                entry = shlex.split(hooks[hook["id"]]["entry"])
                assert entry[0] == "eniplan", hooks[hook["id"]]
                yield Invocation(number, (), (*entry[1:], *hook.get("args", ()), "plan.json"))


PRE_COMMIT_HOOKS = (REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")


def inline_invocations(text: str) -> Iterator[Invocation]:
    """The `eniplan ...` code spans of the prose (a span may wrap to the next line)."""
    prose = text.splitlines()
    for _, start, lines in fenced_blocks(text):
        prose[start - 2 : start + len(lines)] = [""] * (len(lines) + 2)  # and the fences
    prose_text = "\n".join(prose)
    for span in re.finditer(r"`([^`]+)`", prose_text):
        code = span.group(1).replace("\n", " ").removeprefix("$ ")
        if re.search(r"(^|[\s/])eniplan(\s|$)", code):
            number = prose_text.count("\n", 0, span.start()) + 1
            yield from invocations_in(number, code, inline=True)


def readme_invocations(text: str) -> list[Invocation]:
    found: list[Invocation] = list(inline_invocations(text))
    for language, start, lines in fenced_blocks(text):
        if language in SHELL:
            for number, line in shell_lines(language, start, lines):
                found.extend(invocations_in(number, line))
        elif language == "yaml":
            found.extend(yaml_invocations(start, lines))
        else:
            assert language in NOT_COMMANDS, (
                f"README line {start - 1}: a ```{language} block: is it commands (SHELL) "
                "or not (NOT_COMMANDS)?"
            )
    return sorted(found, key=lambda invocation: invocation.line)


# --- checking an invocation against the click tree -----------------------------------------


def options_of(command: click.Command) -> dict[str, click.Option]:
    found: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in (*param.opts, *param.secondary_opts):
                found[opt] = param
    return found


def _takes_value(option: click.Option) -> bool:
    return not option.is_flag and not option.count


def _optional_value(option: click.Option) -> bool:
    """`--sandbox [SCENARIO]`: a value only when the next word is not an option."""
    return bool(getattr(option, "_flag_needs_value", False))  # what click's parser reads


def parse(
    words: tuple[str, ...], options: dict[str, click.Option], stop_at_positional: bool
) -> tuple[list[str], list[str], list[str], tuple[str, ...]]:
    """(option strings used, positional words, problems, the words left when stopped)."""
    used: list[str] = []
    positional: list[str] = []
    problems: list[str] = []
    rest = list(words)
    while rest:
        word = rest.pop(0)
        if word == "--":
            positional.extend(rest)
            break
        if not word.startswith("-") or word == "-":
            if stop_at_positional:
                return used, [word], problems, tuple(rest)
            positional.append(word)
            continue
        if word.startswith("--"):
            name, equals, attached = word.partition("=")
            pairs = [(name, attached if equals else None)]
        else:  # -o FILE, -oFILE, -qv
            pairs = []
            for i, char in enumerate(word[1:], start=1):
                pairs.append((f"-{char}", None))
                option = options.get(f"-{char}")
                if option is not None and _takes_value(option) and word[i + 1 :]:
                    pairs[-1] = (f"-{char}", word[i + 1 :])
                    break
        for name, value in pairs:
            if name in HELP:
                used.append(name)
                continue
            option = options.get(name)
            if option is None:
                problems.append(f"no option {name} (it has {', '.join(sorted(options))})")
                continue
            used.append(name)
            if not _takes_value(option):
                if value is not None:
                    problems.append(f"{name} is a flag, given a value {value!r}")
                continue
            if value is None:
                if rest and not (_optional_value(option) and rest[0].startswith("-")):
                    value = rest.pop(0)
                elif not _optional_value(option):
                    problems.append(f"{name} needs a value")
                    continue
            choice = option.type if isinstance(option.type, click.Choice) else None
            if value is None or choice is None or PLACEHOLDER.match(value):
                continue  # --target T, as in a heading
            if value not in choice.choices:
                problems.append(f"{name} {value}: not one of {'|'.join(map(str, choice.choices))}")
    return used, positional, problems, ()


def check(invocation: Invocation) -> list[str]:
    """What is wrong with one README invocation, as the click tree sees it."""
    used, subcommand, problems, rest = parse(invocation.words, options_of(cli), True)
    if subcommand == [ELIDED] or (invocation.inline and not invocation.words):
        return problems  # `eniplan --config FILE ...`; `eniplan` the program's name
    if not subcommand:
        eager = {"--version", "--list-rules", *HELP}
        completion = any(env.startswith("_ENIPLAN_COMPLETE=") for env in invocation.env)
        if not (set(used) & eager or completion):
            problems.append("no command")
        return problems
    command = cli.commands.get(subcommand[0])
    if command is None:
        return [*problems, f"no command {subcommand[0]!r} (it has {', '.join(cli.commands)})"]
    used, positional, more, _ = parse(rest, options_of(command), False)
    problems += more
    if set(used) & set(HELP) or invocation.inline:
        return problems  # a span in the prose may leave out what a command needs
    arguments = [param for param in command.params if isinstance(param, click.Argument)]
    most = None if any(a.nargs < 0 for a in arguments) else sum(a.nargs for a in arguments)
    least = sum(max(a.nargs, 1) for a in arguments if a.required)
    if most is not None and len(positional) > most:
        problems.append(f"extra arguments {positional[most:]} ({command.name} takes {most})")
    if len(positional) < least:
        problems.append(f"{command.name} needs {least} argument(s)")
    for param in command.params:
        if isinstance(param, click.Option) and param.required and not set(param.opts) & set(used):
            problems.append(f"{'/'.join(param.opts)} is required")
    return problems


def readme_problems(text: str) -> list[str]:
    return [f"{i}: {p}" for i in readme_invocations(text) for p in check(i)]


# --- the tests ------------------------------------------------------------------------------


def test_readme_command_lines_are_found() -> None:
    """The extraction sees what it should: every command, through sudo, a venv path, a
    pipe, `$(...)`, `&&`, continuations, console prompts, a workflow and pre-commit."""
    invocations = readme_invocations(README)
    assert {w for i in invocations for w in i.words[:1]} >= set(cli.commands)
    seen = {str(i) for i in invocations}
    for expected in (
        "eniplan lab --inventory snapshot.json --instance-id i-0123456789abcdef0",  # sudo .venv
        "eniplan check-plan -",  # terraform show -json tfplan | eniplan check-plan -
        "eniplan render --sandbox --target netplan -o out/",  # && ls out/*/etc/netplan/
        "eniplan collect --all-regions --role-arn arn:aws:iam::111111111111:role/eniplan-read",
        "eniplan render --target cloud-init --mode dynamic",  # $ ... > user-data.gz
        "eniplan check-plan infra/plan.json --format sarif -o eniplan.sarif",  # run:
        "eniplan check-plan --fail-on medium plan.json",  # pre-commit's args
        "eniplan render --sandbox --instance-id i-f0a000af625951ab0",  # the demo's fix line
    ):
        assert any(expected in line for line in seen), f"not found (or gone): {expected}"
    assert any(i.env == ("_ENIPLAN_COMPLETE=zsh_source",) for i in invocations)
    assert len(invocations) >= 55


def test_readme_command_lines_hold_to_the_click_tree() -> None:
    assert readme_problems(README) == []


@pytest.mark.parametrize(
    ("good", "broken", "problem"),
    [
        ("eniplan audit --sandbox\n", "eniplan audti --sandbox\n", "no command 'audti'"),
        ("--format junit -o audit.xml", "--formats junit -o audit.xml", "no option --formats"),
        ("--format junit -o audit.xml", "--format junut -o audit.xml", "--format junut: not one"),
        ("--fail-on medium   # a GitHub", "--fail-on=severe   # a GitHub", "--fail-on severe"),
        ("--format github --fail-on", "--format=githab --fail-on", "--format githab: not one"),
        (
            "--target cloud-init --mode dynamic --table-base 20000",
            "--target cloud-init --mode dynamc --table-base 20000",
            "--mode dynamc: not one",
        ),
        ("--multi-eni-only          #", "--multi-eni-only=yes      #", "is a flag, given"),
        (
            "--tag Name=web-balanced       # the output",
            "--tag Name=web-balanced  -x  # the output",
            "no option -x",
        ),
        (
            "--tag Name=web-balanced --target iproute2 >",
            "--tag Name=web-balanced >",
            "--target is required",
        ),
        (
            "| eniplan check-plan -            # stdin",
            "| eniplan check-plan              # stdin",
            "check-plan needs 1 argument",
        ),
        (
            "--tag Name=web-balanced       # the output",
            "--tag Name=web-balanced  stray # the output",
            "extra arguments ['stray'] (plan takes 0)",
        ),
        (
            "--tag Name=web-balanced --target cloud-init --format json",
            "--tag Name=web-balanced --target cloud-init --format json --persist auto",
            "--persist auto: not one",
        ),  # lab's --persist is not render's
        ("--fail-on, medium]", "--fail-on, severe]", "--fail-on severe"),  # pre-commit args
        (
            "eniplan check-plan infra/plan.json --format sarif",
            "eniplan check-plan infra/plan.json --format asff",
            "--format asff",
        ),  # run: in YAML
        ('eval "$(_ENIPLAN_COMPLETE=bash_source eniplan)"', 'eval "$(eniplan)"', "no command"),
        ("`eniplan audit -q ...`", "`eniplan audit -Q ...`", "no option -Q"),  # prose spans
        (
            "the text of\n`eniplan render --target cloud-init --mode dynamic`",
            "the text of\n`eniplan render --target cloud-init --mode dinamic`",
            "--mode dinamic",
        ),
        ("`sudo eniplan\nlab --cleanup`", "`sudo eniplan\nlab --clean-up`", "no option --clean-up"),
    ],
)
def test_a_broken_command_line_fails(good: str, broken: str, problem: str) -> None:
    assert good in README, f"the README no longer has {good!r}: break another line"
    assert readme_problems(README) == []
    broken_text = README.replace(good, broken, 1)
    found = readme_problems(broken_text)
    assert found and any(problem in line for line in found), found
    assert len({line.split(":", 1)[0] for line in found}) == 1, found  # one README line


def test_readme_config_example_is_read_as_the_cli_reads_it(tmp_path: Path) -> None:
    """The README's .eniplan.yaml example is a valid configuration: every key an option of
    the commands it applies to, every value one the option takes."""
    (config,) = [b for lang, _, b in fenced_blocks(README) if lang == "yaml" and "fail-on" in b[0]]
    path = tmp_path / ".eniplan.yaml"
    path.write_text("\n".join(config) + "\n")
    defaults = default_map(cli, path)
    assert defaults["audit"]["output_format"] == ["sarif", "table"]
    assert defaults["render"]["table_base"] == 20000
    path.write_text("\n".join(config).replace("format: [sarif", "format: [sarff") + "\n")
    with pytest.raises(InputError, match=r"audit\.format: 'sarff' is not one of"):
        default_map(cli, path)


# --- every option is named in the README, in its command's section --------------------------


def _group_names(decorator: Callable[[Callable[..., None]], Callable[..., None]]) -> set[str]:
    def probe(**_: object) -> None: ...

    return {str(p.name) for p in click.command()(decorator(probe)).params}


# The inventory and planning options are the same for every command that has them: the
# table and the paragraph at the top of "## Commands" describe them once. The group's own
# options and each command's -q (`eniplan audit -q`) are in "Configuration, environment".
SHARED = _group_names(inventory_options) | _group_names(plan_options)
GLOBAL_SECTION = "### Configuration, environment, quiet runs, completion"
# Commands documented under a heading that does not name them as `eniplan CMD`.
SECTION_OF = {"terraform-module": "### The module: `terraform/modules/eni-policy-routing`"}
# Options deliberately not named in their command's section ("": the group), with the reason.
NOT_IN_SECTION: dict[tuple[str, str], str] = {
    ("", "version"): "click's standard --version, like -h/--help: only ## Performance names it "
    "(its start-up figure), a section other sessions rewrite",
}


def sections(text: str) -> dict[str, str]:
    """Heading line -> its text up to the next heading of the same or a higher level."""
    found: dict[str, str] = {}
    lines = text.splitlines()
    heads = [(i, len(line) - len(line.lstrip("#"))) for i, line in enumerate(lines)
             if re.match(r"^#{2,4} ", line)]  # fmt: skip
    for n, (i, level) in enumerate(heads):
        end = next((j for j, lv in heads[n + 1 :] if lv <= level), len(lines))
        found[lines[i]] = "\n".join(lines[i:end])
    return found


def section_of(text: str, name: str) -> str:
    all_sections = sections(text)
    if name in SECTION_OF:
        return all_sections[SECTION_OF[name]]
    heads = [h for h in all_sections if re.match(rf"^### `eniplan {re.escape(name)}[ `]", h)]
    assert len(heads) == 1, f"README: no one section ### `eniplan {name} ...` ({heads})"
    return all_sections[heads[0]]


def commands_preamble(text: str) -> str:
    commands = sections(text)["## Commands"]
    return commands[: commands.index("\n### ")]


def mentioned(option: click.Option, text: str) -> bool:
    return any(
        re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text)
        for opt in (*option.opts, *option.secondary_opts)
    )


def unmentioned(text: str) -> list[str]:
    missing: list[str] = []
    for opt in cli.params:
        if not isinstance(opt, click.Option) or ("", str(opt.name)) in NOT_IN_SECTION:
            continue
        if not mentioned(opt, sections(text)[GLOBAL_SECTION]):
            missing.append(f"eniplan {'/'.join(opt.opts)}: not in {GLOBAL_SECTION}")
    for name, command in cli.commands.items():
        own = section_of(text, name)
        for opt in command.params:
            if not isinstance(opt, click.Option) or (name, str(opt.name)) in NOT_IN_SECTION:
                continue
            if opt.name in SHARED:
                where, place = commands_preamble(text), "the top of ## Commands"
            elif opt.name == "quiet":
                where, place = sections(text)[GLOBAL_SECTION], GLOBAL_SECTION
            else:
                where, place = own, f"its section ({own.splitlines()[0]})"
            if not mentioned(opt, where):
                missing.append(f"eniplan {name} {'/'.join(opt.opts)}: not in {place}")
    return missing


def test_every_option_is_named_in_the_readme() -> None:
    assert unmentioned(README) == []
    assert "baseline" not in SHARED and _group_names(baseline_options) == {
        "baseline",
        "write_baseline",
    }


@pytest.mark.parametrize(
    ("good", "broken", "problem"),
    [
        ("| `--command-timeout S` |", "| `--timeout S` |", "eniplan apply --command-timeout"),
        (
            "`--no-guard` and `--force` (see `plan`)",
            "`--force` (see `plan`)",
            "--no-guard: not in the top of ## Commands",
        ),
        ("| `--allow-partial` |", "| `--allow-broken` |", "--allow-partial: not in the top"),
        ("`eniplan --list-rules`", "`eniplan --rules`", "eniplan --list-rules: not in ###"),
        (
            "| `--user-data PATH` (repeatable) |",
            "| `--userdata PATH` (repeatable) |",
            "eniplan check-plan --user-data: not in its section",
        ),
    ],
)
def test_an_option_the_readme_loses_fails(good: str, broken: str, problem: str) -> None:
    assert good in README, f"the README no longer has {good!r}: break another line"
    found = unmentioned(README.replace(good, broken))
    assert found and all(problem in line for line in found), found


# --- the values the README lists for a choice option ----------------------------------------

LISTED = re.compile(r"`(--[a-z-]+) ([a-z0-9-]+(?:\\?\|[a-z0-9-]+)+)`")


def listed_choices(text: str) -> list[str]:
    """`--opt a|b|c` (in a table, `a\\|b\\|c`) in a command's section: each value is a choice
    of that command's option; at the head of an option table's row, the list is all of them."""
    problems: list[str] = []
    for name, command in cli.commands.items():
        options = options_of(command)
        for line in section_of(text, name).splitlines():
            for found in LISTED.finditer(line):
                option = options.get(found.group(1))
                listed = re.split(r"\\?\|", found.group(2))
                where = f"README, eniplan {name}: {found.group(0)}"
                if option is None or not isinstance(option.type, click.Choice):
                    problems.append(f"{where}: {found.group(1)} is no choice option of {name}")
                    continue
                choices = [str(c) for c in option.type.choices]
                if set(listed) - set(choices):
                    problems.append(f"{where}: {sorted(set(listed) - set(choices))} not choices")
                elif line.startswith(f"| {found.group(0)} ") and set(listed) != set(choices):
                    problems.append(f"{where}: the row lists {listed}, the choices are {choices}")
    return problems


def test_choices_the_readme_lists_are_the_options_choices() -> None:
    assert listed_choices(README) == []
    every = "`--format table\\|json\\|sarif\\|junit\\|github\\|markdown\\|asff`"
    broken = README.replace(every, every.replace("\\|asff", ""))
    assert broken != README
    assert listed_choices(broken) == [
        "README, eniplan audit: `--format table\\|json\\|sarif\\|junit\\|github\\|markdown`: "
        "the row lists ['table', 'json', 'sarif', 'junit', 'github', 'markdown'], the choices "
        "are ['table', 'json', 'sarif', 'junit', 'github', 'markdown', 'asff']"
    ]
    typo = README.replace("`--stack networkd\\|networkmanager`", "`--stack networkd\\|nm`")
    assert typo != README and "['nm'] not choices" in listed_choices(typo)[0]


def test_render_target_table_is_every_target() -> None:
    """The table under `eniplan render --target T`: one row per target render takes."""
    section = section_of(README, "render")
    table = section[section.index("| target | writes |") :].split("\n\n")[0]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.MULTILINE)
    (target,) = [p for p in cli.commands["render"].params if p.name == "target"]
    assert isinstance(target.type, click.Choice)
    assert sorted(rows) == sorted(map(str, target.type.choices))


# --- figures and tables the README states twice, or that the code defines ---------------------


def dynamic_size_figures(text: str) -> tuple[int, int]:
    """The dynamic section's two statements of the user data's size: the note in its
    console example and the size paragraph (**N bytes gzip'd**)."""
    section = sections(text)["#### `--mode dynamic`: one user data for every instance"]
    (note,) = re.findall(r"gzip-compressed to (\d+) bytes of EC2's 16384", section)
    (stated,) = re.findall(r"\*\*([\d,]+) bytes gzip'd\*\*", section)
    return int(note), int(stated.replace(",", ""))


def test_the_dynamic_size_is_one_figure() -> None:
    """The render note of the console example was left at 16065 bytes when the paragraph
    below it moved on to 14,684: when one changes, so must the other."""
    note, stated = dynamic_size_figures(README)
    assert note == stated
    stale = README.replace(f"gzip-compressed to {note} bytes", "gzip-compressed to 16065 bytes")
    assert stale != README and dynamic_size_figures(stale) == (16065, stated)


def test_rule_catalogue_is_the_rules() -> None:
    from eniplan.findings import RULES

    section = sections(README)["## Rule catalogue"]
    rows = re.findall(r"^\| `(ENI\d{3})` \| (\w+) \|", section, flags=re.MULTILINE)
    assert rows == [(rule.rule_id, rule.severity) for rule in RULES.values()]


def test_exit_code_table_is_the_codes() -> None:
    from eniplan import cli_io

    section = sections(README)["## Exit codes"]
    rows = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)}
    codes = {getattr(cli_io, name) for name in dir(cli_io) if name.startswith("EXIT_")}
    assert rows == codes
