"""`.eniplan.yaml`: defaults for the command-line options, per project.

Found in the working directory or the nearest parent that has one (or given with
`--config FILE` / `ENIPLAN_CONFIG`). Keys are long option names without the dashes; a
top-level key applies to every command that has that option, a section named after a
command applies to it alone and wins:

    fail-on: medium
    region: [eu-west-1, us-east-1]
    table-base: 20000
    audit:
      format: [sarif, table]
      output: [eniplan.sarif]

Precedence: the command line, then environment variables, then this file, then the
built-in defaults (click's `default_map`). Every value is checked as the option would
check it; an unknown key or a bad value is one error naming the file and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from eniplan.errors import InputError
from eniplan.fileio import beyond_decoder, decode_json_text

CONFIG_NAME = ".eniplan.yaml"
NOT_FROM_CONFIG = frozenset({"help", "config", "version"})


def find_config(start: Path) -> Path | None:
    """The nearest `.eniplan.yaml` in `start` or a parent directory."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def _options(command: click.Command) -> dict[str, click.Option]:
    """Config key (a long option name without dashes) -> the option."""
    found: dict[str, click.Option] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name in NOT_FROM_CONFIG:
            continue
        for opt in param.opts:
            if opt.startswith("--"):
                found[opt[2:]] = param
    return found


def _read(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None
    # UTF-8, or with a byte order mark as YAML allows (PowerShell 5's `>` writes UTF-16)
    text = decode_json_text(data, str(path), expected="UTF-8 YAML")
    if not text.strip():
        return {}  # nothing set (and no YAML parser loaded for it: start-up stays light)
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _refuse_repeated_keys(node, path)
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise InputError(f"{path}: not valid YAML{line}") from None
    except RecursionError as error:
        raise InputError(f"{path}: the YAML {beyond_decoder(error)}") from None
    finally:
        loader.dispose()
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise InputError(
            f"{path}: expected a mapping of option names, got {type(document).__name__}"
        )
    return document


def _refuse_repeated_keys(node: Any, path: Path, section: str = "") -> None:
    """A key given twice in the file or a command's section is an error: YAML's loaders
    keep the last one without a word (a `fail-on: never` further down undoing a gate)."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue  # not an option name: the reading below says so
        key, line = f"{section}{key_node.value}", key_node.start_mark.line + 1
        if key in lines:
            raise InputError(f"{path}: {key}: given twice (lines {lines[key]} and {line})")
        lines[key] = line
        if not section:
            _refuse_repeated_keys(value_node, path, f"{key}.")


def _config_value(
    path: Path, key: str, value: Any, option: click.Option, command: click.Command
) -> Any:
    if option.multiple and not isinstance(value, list):
        value = [value]
    if isinstance(value, (dict, set)) or (
        isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)
    ):
        raise InputError(f"{path}: {key}: expected a value or a list of values")
    if isinstance(value, list) and not option.multiple:
        raise InputError(f"{path}: {key}: expected one value, not a list")
    try:
        option.type_cast_value(click.Context(command), value)
    except click.BadParameter as error:
        raise InputError(f"{path}: {key}: {error.message}") from None
    return value


def default_map(group: click.Group, path: Path) -> dict[str, dict[str, Any]]:
    """The file as click's default_map: {command name: {parameter name: value}}."""
    document = _read(path)
    commands = {name: command for name, command in group.commands.items()}
    options = {name: _options(command) for name, command in commands.items()}
    every_key = {key for keys in options.values() for key in keys}
    defaults: dict[str, dict[str, Any]] = {name: {} for name in commands}
    sections: dict[str, Mapping[str, Any]] = {}
    for key, value in document.items():
        key = str(key)
        if key in commands:
            if not isinstance(value, dict):
                raise InputError(f"{path}: {key}: expected a mapping of {key}'s options")
            sections[key] = value
            continue
        if key not in every_key:
            raise InputError(
                f"{path}: unknown key {key!r} (expected an option name such as fail-on, "
                "format, region, table-base, or a command name)"
            )
        for name, known in options.items():
            if key in known:
                option = known[key]
                defaults[name][str(option.name)] = _config_value(
                    path, key, value, option, commands[name]
                )
    for name, section in sections.items():
        for key, value in section.items():
            key = str(key)
            if key not in options[name]:
                raise InputError(f"{path}: {name}: {name} has no option --{key}")
            option = options[name][key]
            defaults[name][str(option.name)] = _config_value(
                path, f"{name}.{key}", value, option, commands[name]
            )
    return {name: values for name, values in defaults.items() if values}
