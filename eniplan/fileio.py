"""Atomic file writes (a reader sees the old file or the whole new one, never half), and
the decoding of JSON text files that every reader shares."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from eniplan.errors import InputError

STDOUT = "-"  # `-o -`: the output goes to standard output
STDIN_NAME = "<stdin>"  # what standard input is called where a file's name would be


def write_output(path: str, data: str | bytes) -> None:
    """`-o PATH`: standard output for `-`, else the file, atomically (write_atomic)."""
    if path != STDOUT:
        write_atomic(path, data)
        return
    if isinstance(data, bytes):
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(data)
        sys.stdout.flush()


def decode_json_text(data: bytes, name: str, expected: str = "UTF-8 JSON") -> str:
    """JSON text in UTF-8, or UTF-16/32 (with their byte order mark, what Windows
    PowerShell's `>` writes), the byte order mark removed; anything else is not text.
    Inventory files and Terraform plans (checkplan/tfplan.py) are read with it, and any
    text that starts with an ASCII character (doctor's captures: `expected` says what)."""
    encoding = json.detect_encoding(data)
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{name}: not text (expected {expected}; byte {error.start} is not {encoding})"
        ) from None


def where_json_breaks(error: json.JSONDecodeError) -> str:
    """What json found and where, as a phrase: "Expecting value at line 3 column 5" (its
    messages that end with "at" already lead into the place)."""
    lead = error.msg if error.msg.endswith(" at") else f"{error.msg} at"
    return f"{lead} line {error.lineno} column {error.colno}"


def beyond_decoder(error: RecursionError | ValueError) -> str:
    """Why valid JSON or YAML could still not be decoded, for a one-line error: nesting
    deeper than the interpreter's recursion allows, or an integer longer than int() reads
    (json.loads raises ValueError; no file eniplan reads holds either)."""
    if isinstance(error, RecursionError):
        return "is nested too deeply to read"
    limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()  # Python 3.10.7+
    return f"holds a number of more than {limit:,} digits"


# what str.isspace() takes for whitespace among the ASCII characters
_ASCII_WHITESPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def json_text_or_bytes(data: bytes, name: str) -> str | bytes:
    """The JSON of decode_json_text as msgspec reads it: the bytes themselves where they are
    ASCII in UTF-8 (nothing to decode: no copy of a 100 MB inventory), else the text."""
    if data.isascii() and json.detect_encoding(data) == "utf-8":
        return data
    return decode_json_text(data, name)


def blank(text: str | bytes) -> bool:
    """True when `text` is empty or only whitespace (`not text.strip()`, without copying
    the whole text when it ends with a newline)."""
    if isinstance(text, bytes):  # ASCII (json_text_or_bytes)
        return not text.lstrip(_ASCII_WHITESPACE)
    return not text or text.isspace()


def write_atomic(path: str | os.PathLike[str], data: str | bytes, mode: int = 0o644) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it over.

    A symbolic link is followed (the file it points to is replaced, not the link). A
    target that exists but is not a regular file (a device such as /dev/stdout or
    /dev/null, a FIFO) is written in place: renaming over it would replace the device.
    """
    write_outputs([(path, data)], mode)


def write_outputs(
    files: Sequence[tuple[str | os.PathLike[str], str | bytes]], mode: int = 0o644
) -> None:
    """Several outputs (`-o` files) as one, each as write_atomic writes it: the regular
    files all staged first and renamed only when all are on disk (write_all_atomic), then
    the devices and FIFOs, in place. A file that cannot be written leaves the others as
    they were."""
    staged: list[tuple[Path, str | bytes, int]] = []
    in_place: list[tuple[str | os.PathLike[str], Path, str | bytes]] = []
    for path, data in files:
        if not os.fspath(path):
            raise InputError("-o: the output path is empty (expected a file path)")
        if os.fspath(path).endswith(os.sep):  # Path() would drop it and write a file there
            raise InputError(f"{path}: ends with '{os.sep}', a directory (expected a file path)")
        target = Path(path)
        if target.is_symlink():
            target = Path(os.path.realpath(target))
        try:
            status = target.stat()
        except OSError:
            status = None
        if status is not None and stat.S_ISDIR(status.st_mode):
            raise InputError(f"{path}: is a directory (expected a file path)")
        if status is not None and not stat.S_ISREG(status.st_mode):
            in_place.append((path, target, data))
        else:
            staged.append((target, data, mode))
    write_all_atomic(staged)
    for path, target, data in in_place:
        _write_in_place(path, target, data.encode() if isinstance(data, str) else data)


def write_all_atomic(files: Sequence[tuple[Path, str | bytes, int]]) -> None:
    """Write several regular files as one: each goes to a temporary file beside its target
    first; only when all are on disk are they renamed over their targets. A failure while
    writing leaves every target as it was."""
    staged: list[tuple[Path, Path]] = []
    try:
        for target, data, mode in files:
            staged.append((_stage(target, data, mode), target))
        for temporary, target in staged:
            try:
                os.replace(temporary, target)
            except OSError as error:
                raise InputError(f"{target}: cannot write: {error.strerror}") from None
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)  # only those not renamed are still there


def _stage(target: Path, data: str | bytes, mode: int) -> Path:
    """`data` in a temporary file beside `target`, flushed to disk, with `mode`."""
    payload = data.encode() if isinstance(data, str) else data
    if target.is_dir():  # no rename could replace it: say so before any file lands
        raise InputError(f"{target}: is a directory (expected a file path)")
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        if directory.exists():
            raise InputError(f"{target}: {directory} is not a directory")
        raise InputError(f"{target}: directory {directory} does not exist")
    import tempfile  # only a write to a file needs it (with shutil, random): not start-up

    try:
        handle, name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as error:
        raise InputError(f"{target}: cannot write: {error.strerror}") from None
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, mode & ~umask)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InputError(f"{target}: cannot write: {error.strerror}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _write_in_place(path: str | os.PathLike[str], target: Path, payload: bytes) -> None:
    try:
        with open(target, "wb") as stream:
            stream.write(payload)
            stream.flush()
    except OSError as error:
        raise InputError(f"{path}: cannot write: {error.strerror or error}") from None
