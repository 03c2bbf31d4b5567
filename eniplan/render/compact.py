"""Compact Python and sh source for user data.

Python goes through python-minifier (pinned: the same source gives the same bytes): no
comments, docstrings or annotations (a dataclass's fields keep a `0` for theirs), one tab a
block, statements joined, and short names for locals and for the globals no other module
imports (`keep`). What only annotations used goes too: `if TYPE_CHECKING:` blocks and the
imported names nothing else uses. Attributes, keyword arguments and strings keep their
names, so dataclass fields, argparse's options and JSON keys are what they were. sh loses
its comment lines and indentation, by cutting text out.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterable

OLDEST_PYTHON = (3, 7)  # the oldest python3 the agent runs on (the README says so)


def python(source: str, keep: Iterable[str] = (), keywords: Collection[str] | None = None) -> str:
    """`source` minified; `keep`: the module-level names to leave as they are (those other
    modules import); `keywords`: every keyword argument name that any caller of this
    module's functions uses (keyword_names() of all the modules that ship together, when
    nothing else calls them): the parameters of other names are renamed too (None: no
    parameter is). The result parses as Python 3.7 does, or this is a bug (AssertionError).

    ASCII only (ValueError): the agent's text reaches stdout and `sh -c` in the encoding of
    the host's locale, which may be Latin-1 (Python 3.7+ uses UTF-8 in the C locale, not in
    others): there an em dash makes print() and subprocess raise UnicodeEncodeError, and a
    Latin-1 letter reaches sh as another byte than in UTF-8. python-minifier writes an
    escape such as \\u00e9 as its character: its result is checked too."""
    _ascii(source)
    import python_minifier  # (only the dynamic user data needs it: not at start-up)
    from python_minifier.expression_printer import ExpressionPrinter
    from python_minifier.f_string import OuterFString

    # python-minifier writes f-strings for the Python running it (its issue #148: no target
    # version): from 3.12 it may nest quotes as PEP 701 allows, which 3.7-3.11 refuse. Its
    # own f-string writer for older Pythons, wherever eniplan runs: the same bytes from any.
    def joined_str(printer: ExpressionPrinter, node: ast.JoinedStr) -> None:
        printer.printer.fstring(str(OuterFString(node, pep701=False)))  # type: ignore[no-untyped-call]

    ExpressionPrinter.visit_JoinedStr = joined_str  # type: ignore[method-assign]
    module = _without_typing(ast.parse(source), set(keep))
    if keywords is not None:
        _positional(module, set(keywords))
    text = python_minifier.minify(
        ast.unparse(module),
        remove_annotations=True,
        remove_literal_statements=True,
        hoist_literals=False,  # measured: smaller without, once xz has the text
        rename_locals=True,
        rename_globals=True,
        preserve_globals=sorted(keep),
        prefer_single_line=True,  # measured: 9 bytes less
    )
    try:
        ast.parse(text, feature_version=OLDEST_PYTHON)
    except SyntaxError as error:
        raise AssertionError(f"minified Python is not Python 3.7: {error}") from None
    if not text.isascii():
        raise ValueError(
            "not ASCII once minified: python-minifier writes a \\u escape as its character"
        )
    return text + "\n"


def _without_typing(module: ast.Module, keep: set[str]) -> ast.Module:
    """`module` without what only type checkers read: `if TYPE_CHECKING:` blocks,
    annotations (a dataclass field's becomes `0`: dataclasses need one, never a type), with
    them `from __future__ import annotations`, and the names that `from ... import` brings in
    and nothing else uses (`keep`: those another module imports from this one)."""
    module.body = [node for node in module.body if not _type_checking(node)]
    for node in ast.walk(module):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
            arguments = node.args
            everything = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            for argument in [*everything, arguments.vararg, arguments.kwarg]:
                if argument is not None:
                    argument.annotation = None
        elif isinstance(node, ast.AnnAssign):
            if re.search(r"\b(ClassVar|InitVar)\b", ast.unparse(node.annotation)):
                raise AssertionError(f"line {node.lineno}: a ClassVar or InitVar annotation")
            node.annotation = ast.Constant(0)
        elif isinstance(node, ast.ClassDef) and re.search(
            r"\b(NamedTuple|TypedDict)\b", " ".join(map(ast.unparse, node.bases))
        ):  # (their fields' annotations must be types)
            raise AssertionError(f"line {node.lineno}: a NamedTuple or TypedDict")
    used = {node.id for node in ast.walk(module) if isinstance(node, ast.Name)} | keep
    for node in ast.walk(module):
        for name, value in ast.iter_fields(node):
            if isinstance(value, list) and any(isinstance(v, ast.ImportFrom) for v in value):
                for statement in value:
                    if isinstance(statement, ast.ImportFrom):
                        statement.names = [
                            alias
                            for alias in statement.names
                            if (alias.asname or alias.name) in used
                            or (statement.module == "__future__" and alias.name != "annotations")
                        ]
                kept = [v for v in value if not (isinstance(v, ast.ImportFrom) and not v.names)]
                setattr(node, name, kept or [ast.Pass()])
    return module


def _type_checking(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING" and not node.orelse
    )


def keyword_names(sources: Iterable[str]) -> set[str] | None:
    """The keyword argument names that the calls in `sources` use; None if one passes
    `**mapping` (names not known), unless it passes on its function's own `**` parameter
    (the names its callers used, collected there)."""
    names: set[str] = set()
    for source in sources:
        tree = ast.parse(source)
        forwarded = {
            node.args.kwarg.arg
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.args.kwarg
        }
        for node in ast.walk(tree):
            for keyword in node.keywords if isinstance(node, ast.Call) else ():
                if keyword.arg is not None:
                    names.add(keyword.arg)
                elif not (isinstance(keyword.value, ast.Name) and keyword.value.id in forwarded):
                    return None
    return names


def _positional(module: ast.Module, keywords: set[str]) -> None:
    """Makes positional-only the leading parameters that no call names (`keywords`), so
    that python-minifier renames them (it then writes them as plain parameters again, as
    Python 3.7 has no `/`). Not in dunder methods, nor in the methods of a class with a
    base class, whose code may call them by keyword; lambdas keep theirs."""

    def visit(body: list[ast.stmt], subclass: bool) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, subclass=bool(node.bases))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = node.args
                if not (subclass or node.name.startswith("__")):
                    count = 0
                    while count < len(arguments.args) and arguments.args[count].arg not in keywords:
                        count += 1
                    arguments.posonlyargs += arguments.args[:count]
                    del arguments.args[:count]
                visit(node.body, subclass=False)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit(getattr(node, field, []), subclass)

    visit(module.body, subclass=False)


def _ascii(source: str) -> None:
    """ValueError naming the first line that is not ASCII (see python())."""
    for number, line in enumerate(source.splitlines(), start=1):
        if not line.isascii():
            raise ValueError(f"line {number} is not ASCII: {line.strip()!a}")


def sh(source: str) -> str:
    """The script without its comments (whole lines, and after code where two blanks, #
    and a blank stand outside quotes) and without indentation; here-documents and lines
    that start inside a quoted string stay as they are. The tests prove the code unchanged:
    bash prints the same function from the script and from the result. ASCII only
    (ValueError), as python(): the agent passes the engine to `sh -c` in the host's locale."""
    _ascii(source)
    lines = source.splitlines(keepends=True)
    # the #! line is how the kernel runs the file (a unit's ExecStart=), not a comment
    kept: list[str] = lines[:1] if lines and lines[0].startswith("#!") else []
    quote = ""  # the quote open at the end of the previous line
    heredoc = ""  # the delimiter of the here-document being read
    for line in lines[len(kept) :]:
        if heredoc:
            heredoc = "" if line.rstrip("\n") == heredoc else heredoc
            kept.append(line)
            continue
        text = line if quote else line.lstrip()
        if not quote and text.startswith("#"):
            continue
        end, quote = _sh_scan(text, quote)
        code = text[:end].rstrip() + "\n" if end < len(text) else text
        marker = re.search(r"<<-?\s*'?([A-Za-z_]\w*)'?", code)
        heredoc = marker.group(1) if marker and not quote else ""
        kept.append(code)
    return "".join(kept)


def _sh_scan(text: str, quote: str) -> tuple[int, str]:
    """Where a trailing comment starts in `text` (its length if none), and the quote
    still open at its end, given the quote open at its start."""
    index = 0
    while index < len(text):
        char = text[index]
        if quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            index += 1
        elif quote == '"':
            quote = "" if char == '"' else quote
        elif char in "'\"":
            quote = char
        elif text.startswith("  # ", index):
            return index, quote
        index += 1
    return len(text), quote
