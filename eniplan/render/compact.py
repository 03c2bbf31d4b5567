"""Compact Python and sh source for user data, by cutting text out, never rewriting it.

Python loses its comments, docstrings (the text of one that is a body's only statement),
function annotations (only type checkers read them; class annotations stay, they make
dataclass fields), blank lines and its indentation but one space a block (none on continued
lines); sh loses its comment lines and indentation. What is
left is the source's own text, so the result does not depend on the Python that renders it
(ast.unparse would), and the tests compare syntax trees to prove the code is unchanged.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

FSTRING_START = getattr(tokenize, "FSTRING_START", -1)
FSTRING_END = getattr(tokenize, "FSTRING_END", -1)
QUOTES = ('"""', "'''")


def python(source: str) -> str:
    if not source.isascii():
        raise ValueError("compact.python takes ASCII source (ast columns are UTF-8 bytes)")
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def at(line: int, column: int) -> int:
        return starts[line - 1] + column

    def end(node: ast.expr) -> int:
        assert node.end_lineno is not None and node.end_col_offset is not None
        return at(node.end_lineno, node.end_col_offset)

    cuts: list[tuple[int, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                assert first.end_lineno is not None
                if len(node.body) > 1:
                    cuts.append((at(first.lineno, 0), starts[first.end_lineno]))
                else:  # the body's only statement: its text goes, its quotes stay
                    start, stop = at(first.lineno, first.col_offset), end(first.value)
                    quote = source[stop - 3 : stop] if source[stop - 3 : stop] in QUOTES else ""
                    if quote and source[start : start + 3] == quote:
                        cuts.append((start + 3, stop - 3))
        if isinstance(node, ast.FunctionDef):
            arguments = node.args
            for arg in (
                *arguments.posonlyargs,
                *arguments.args,
                *arguments.kwonlyargs,
                *(a for a in (arguments.vararg, arguments.kwarg) if a is not None),
            ):
                if arg.annotation is not None:
                    cuts.append(
                        (at(arg.lineno, arg.col_offset + len(arg.arg)), end(arg.annotation))
                    )
            if node.returns is not None:
                arrow = source.rindex("->", 0, at(node.returns.lineno, node.returns.col_offset))
                cuts.append((source.rindex(")", 0, arrow) + 1, end(node.returns)))
    in_string: set[int] = set()  # lines inside multi-line strings: kept as they are
    # indentation: each block one space deeper than its parent, none on continued lines
    depth, logical, row, fstrings = 0, True, 0, 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        fstrings += (token.type == FSTRING_START) - (token.type == FSTRING_END)
        if token.type == tokenize.STRING or fstrings:  # (f-strings are tokens since 3.12)
            in_string.update(range(token.start[0] + 1, token.end[0] + 1))
        if token.type == tokenize.INDENT:
            depth += 1
        elif token.type == tokenize.DEDENT:
            depth -= 1
        elif token.type == tokenize.NEWLINE:
            logical = True
        elif token.type not in (tokenize.NL, tokenize.COMMENT) and row < token.start[0]:
            indent = depth if logical else 0  # (the first token of a physical line)
            if token.start[1] > indent and token.start[0] not in in_string:
                cuts.append((at(token.start[0], indent), at(*token.start)))
            logical = False
        if token.type not in (tokenize.INDENT, tokenize.DEDENT):
            row = token.end[0]
        if token.type == tokenize.COMMENT:
            start = at(*token.start)
            line_start = starts[token.start[0] - 1]
            before = source[line_start:start]
            if before.strip():  # after code: the comment and the blanks before it
                cuts.append((line_start + len(before.rstrip()), at(*token.end)))
            else:  # a line of its own
                cuts.append((line_start, starts[token.start[0]]))
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        if not line.strip() and number not in in_string:
            cuts.append((starts[number - 1], starts[number]))
    text, position = [], 0
    for start, stop in sorted(cuts):
        if start > position:
            text.append(source[position:start])
        position = max(position, stop)
    text.append(source[position:])
    return "".join(text)


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
