"""Text for terminals: what comes from AWS (tags, names, descriptions) is data, never markup.

EC2 accepts any Unicode in a tag value: control characters, bidi overrides, rich markup
(`[link=...]`, `[/x]`), emoji codes (a MAC such as `02:00:00:ab:cd:01` holds `:ab:`).
Every console eniplan prints with comes from `plain_console` (no markup, no emoji, no
highlighting: styles only through `rich.text.Text`), and every string that may hold data
passes through `visible` before it reaches a terminal, so a tag can neither restyle,
reorder nor hide output, nor send escape sequences to the terminal.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# C0 and C1 controls (ESC, tab, newline, ...), DEL, line/paragraph separators, and the
# bidi marks, embeddings, overrides and isolates, which reorder what a terminal shows.
_INVISIBLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control, separator and bidi character written as an escape
    (`\\t`, `\\x1b`, `\\u202e`): one line, in logical order, as it is stored."""
    return _INVISIBLE.sub(_escape, text)


MAX_WIDTH = 4096  # wider than any terminal; rich pads rules and tables to the width


def columns() -> int | None:
    """The width COLUMNS gives, or None when it gives none (unset, not a whole number, 0);
    at most MAX_WIDTH (COLUMNS=99999999999 had rich allocate lines of that width)."""
    import os

    text = os.environ.get("COLUMNS", "").strip()
    if not text.isdigit() or not int(text):
        return None
    return min(int(text), MAX_WIDTH)


def plain_console(**options: Any) -> Console:
    """A rich console that never reads markup or emoji codes in what it prints. Its width
    is the one given, else columns() (rich would read COLUMNS itself, unbounded), else the
    terminal's."""
    from rich.console import Console

    if options.get("width") is None:
        options["width"] = columns()
    return Console(markup=False, emoji=False, highlight=False, **options)
