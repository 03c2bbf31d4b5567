"""Compact Python and sh source for user data.

Python goes through python-minifier (pinned: the same source gives the same bytes): no
comments, docstrings or annotations (a dataclass's fields keep theirs), one tab a block,
statements joined, and short names for locals and for the globals no other module imports
(`keep`). Attributes, keyword arguments and strings keep their names, so dataclass fields,
argparse's options and JSON keys are what they were. sh loses its comment lines and
indentation, by cutting text out.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

OLDEST_PYTHON = (3, 7)  # the oldest python3 the agent runs on (the README says so)


def python(source: str, keep: Iterable[str] = ()) -> str:
    """`source` minified; `keep`: the module-level names to leave as they are (those other
    modules import). The result parses as Python 3.7 does, or this is a bug (AssertionError).

    ASCII only (ValueError): the agent's text reaches stdout and `sh -c` in the encoding of
    the host's locale, which may be Latin-1 (Python 3.7+ uses UTF-8 in the C locale, not in
    others): there an em dash makes print() and subprocess raise UnicodeEncodeError, and a
    Latin-1 letter reaches sh as another byte than in UTF-8. python-minifier writes an
    escape such as \\u00e9 as its character: its result is checked too."""
    for number, line in enumerate(source.splitlines(), start=1):
        if not line.isascii():
            raise ValueError(f"line {number} is not ASCII: {line.strip()!a}")
    import python_minifier  # (only the dynamic user data needs it: not at start-up)
    from python_minifier.expression_printer import ExpressionPrinter
    from python_minifier.f_string import OuterFString

    # python-minifier writes f-strings for the Python running it (its issue #148: no target
    # version): from 3.12 it may nest quotes as PEP 701 allows, which 3.7-3.11 refuse. Its
    # own f-string writer for older Pythons, wherever eniplan runs: the same bytes from any.
    def joined_str(printer: ExpressionPrinter, node: ast.JoinedStr) -> None:
        printer.printer.fstring(str(OuterFString(node, pep701=False)))  # type: ignore[no-untyped-call]

    ExpressionPrinter.visit_JoinedStr = joined_str  # type: ignore[method-assign]
    text = python_minifier.minify(
        source,
        remove_annotations=True,
        remove_literal_statements=True,
        hoist_literals=False,  # measured: smaller without, once xz has the text
        rename_locals=True,
        rename_globals=True,
        preserve_globals=sorted(keep),
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


def sh(source: str) -> str:
    """The script without its comments (whole lines, and after code where two blanks, #
    and a blank stand outside quotes) and without indentation; here-documents and lines
    that start inside a quoted string stay as they are. The tests prove the code unchanged:
    bash prints the same function from the script and from the result."""
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
