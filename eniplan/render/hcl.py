"""A small HCL (Terraform) writer: structured values in, `terraform fmt`-clean text out.

Why not python-hcl2's `dumps`: it expects strings already quoted and escaped by the
caller, writes a map key such as `eniplan:ignore` bare (invalid HCL), aligns `=` the way
`terraform fmt` does not, and has no comments. Here every string goes through `quote`,
which escapes what HCL gives a meaning to (`\\`, `"`, control characters and the template
sequences `${` and `%{`), so no value from AWS (a tag, a description) can become HCL.

Layout follows `terraform fmt`: two-space indents; the `=` of consecutive single-line
attributes aligned (a comment, a blank line, a block or a multi-line value ends the run);
one blank line between top-level blocks. Expressions that are not literal values
(references, function calls) are `Expr`, built only by the helpers below from checked
identifiers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# HCL keywords and literals: never bare map keys
_RESERVED = frozenset({"true", "false", "null", "for", "in", "if", "endif", "endfor", "else"})
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f\u2028\u2029]|[$%]\{')
# lists longer than this (or with a multi-line item) get one item per line
_INLINE_LIST_MAX = 3


@dataclass(frozen=True)
class Expr:
    """An HCL expression written as is (a reference, a function call): never free text."""

    text: str


Value = str | int | bool | None | Expr | Sequence["Value"] | Mapping[str, "Value"]


@dataclass(frozen=True)
class Attribute:
    name: str
    value: Value


@dataclass(frozen=True)
class Comment:
    text: str  # one or more lines; each gets "# "


@dataclass(frozen=True)
class Blank:
    """An empty line inside a body (ends an alignment run)."""


@dataclass(frozen=True)
class Block:
    type: str
    labels: tuple[str, ...] = ()
    body: tuple[BodyItem, ...] = ()


BodyItem = Attribute | Block | Comment | Blank


def identifier(name: str) -> str:
    """`name` if it is a valid HCL identifier, else ValueError (a bug in the caller)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid HCL identifier")
    return name


def sanitize_identifier(text: str, fallback: str = "x") -> str:
    """A Terraform name made from free text: lowercase letters, digits and underscores,
    starting with a letter (`web-1 (prod)` -> `web_1_prod`)."""
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not name:
        name = fallback
    if not name[0].isalpha():
        name = f"{fallback}_{name}"
    return identifier(name)


def quote(text: str) -> str:
    """A quoted HCL string whose value is exactly `text` (templates escaped)."""
    if not _NEEDS_ESCAPE.search(text):
        return f'"{text}"'
    out = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "$%" and text.startswith("{", i + 1):
            out.append(char * 2 + "{")  # $${ and %%{ are the literal ${ and %{
            i += 2
            continue
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F or char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
        i += 1
    return '"' + "".join(out) + '"'


def reference(*parts: str | int) -> Expr:
    """`a.b.c` or `a.b[0]` from identifiers (and integer indexes)."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + identifier(part)
    return Expr(text)


def call(function: str, *arguments: Value) -> Expr:
    return Expr(f"{identifier(function)}({', '.join(_inline(a) for a in arguments)})")


def template(*parts: str | Expr) -> Expr:
    """A string template: literal parts escaped, Expr parts interpolated with `${...}`."""
    text = "".join(
        f"${{{part.text}}}" if isinstance(part, Expr) else quote(part)[1:-1] for part in parts
    )
    return Expr(f'"{text}"')


# --- writing ---------------------------------------------------------------------------


def _key(name: str) -> str:
    if _IDENTIFIER.fullmatch(name) and name not in _RESERVED:
        return name
    return quote(name)


def _scalar(value: Value) -> str | None:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Expr):
        return value.text
    return None


def _inline(value: Value) -> str:
    scalar = _scalar(value)
    if scalar is not None:
        return scalar
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + " }"
    return "[" + ", ".join(_inline(item) for item in value) + "]"  # type: ignore[union-attr]


def _is_inline(value: Value) -> bool:
    if _scalar(value) is not None:
        return True
    if isinstance(value, Mapping):
        return not value
    items = list(value)  # type: ignore[arg-type]
    return len(items) <= _INLINE_LIST_MAX and all(_scalar(item) is not None for item in items)


def _value_lines(value: Value, indent: str) -> list[str]:
    """The value's text: its first line follows `name = `, the others are indented."""
    if _is_inline(value):
        return [_inline(value)]
    inner = indent + "  "
    if isinstance(value, Mapping):
        entries = [(_key(k), v) for k, v in value.items()]
        lines = ["{"]
        lines += _aligned(entries, inner)
        return [*lines, indent + "}"]
    lines = ["["]
    for item in value:  # type: ignore[union-attr]
        item_lines = _value_lines(item, inner)
        item_lines[-1] += ","
        lines.append(inner + item_lines[0])
        lines.extend(item_lines[1:])
    return [*lines, indent + "]"]


def _aligned(entries: Sequence[tuple[str, Value]], indent: str) -> list[str]:
    """`key = value` lines, `=` aligned over each run of single-line values."""
    lines: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(key) for key, _ in run), default=0)
        lines.extend(f"{indent}{key.ljust(width)} = {text}" for key, text in run)
        run.clear()

    for key, value in entries:
        value_lines = _value_lines(value, indent)
        if len(value_lines) == 1:
            run.append((key, value_lines[0]))
            continue
        flush()
        lines.append(f"{indent}{key} = {value_lines[0]}")
        lines.extend(value_lines[1:])
    flush()
    return lines


def _comment_lines(comment: Comment, indent: str) -> list[str]:
    return [f"{indent}# {line}".rstrip() for line in comment.text.splitlines() or [""]]


def _body_lines(items: Sequence[BodyItem], indent: str) -> list[str]:
    lines: list[str] = []
    run: list[tuple[str, Value]] = []

    def flush() -> None:
        lines.extend(_aligned(run, indent))
        run.clear()

    for item in items:
        if isinstance(item, Attribute):
            run.append((identifier(item.name), item.value))
            continue
        flush()
        if isinstance(item, Comment):
            lines.extend(_comment_lines(item, indent))
        elif isinstance(item, Blank):
            lines.append("")
        else:
            lines.extend(_block_lines(item, indent))
    flush()
    return lines


def _block_lines(block: Block, indent: str) -> list[str]:
    head = " ".join([identifier(block.type), *(quote(label) for label in block.labels)])
    if not block.body:
        return [f"{indent}{head} {{", f"{indent}}}"]
    return [f"{indent}{head} {{", *_body_lines(block.body, indent + "  "), f"{indent}}}"]


def dumps(items: Sequence[Block | Comment | Blank]) -> str:
    """A whole file: top-level blocks separated by one blank line; comments stick to the
    block that follows them."""
    lines: list[str] = []
    previous: Block | Comment | Blank | None = None
    for item in items:
        if isinstance(previous, Block) and not isinstance(item, Blank):
            lines.append("")
        if isinstance(item, Blank):
            lines.append("")
        elif isinstance(item, Comment):
            lines.extend(_comment_lines(item, ""))
        else:
            lines.extend(_block_lines(item, ""))
        previous = item
    return "\n".join(lines) + "\n"
