"""eniplan.fileio.write_atomic: a reader sees the old file or the whole new one; and the
JSON text readers share."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

import pytest

from eniplan.errors import InputError
from eniplan.fileio import blank, json_text_or_bytes, write_all_atomic, write_atomic

OLD = "old content\n"


def _entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_writes_text(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    write_atomic(target, '{"plan": []}\n')
    assert target.read_text() == '{"plan": []}\n'
    assert _entries(tmp_path) == ["plan.json"]


def test_writes_bytes_and_str_path(tmp_path: Path) -> None:
    target = tmp_path / "user-data.bin"
    write_atomic(str(target), b"\x00\x01binary\xff")
    assert target.read_bytes() == b"\x00\x01binary\xff"


def test_writes_utf8(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    write_atomic(target, "Ünïcödé ✓\n")
    assert target.read_bytes() == "Ünïcödé ✓\n".encode()


def test_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "snapshot.json"
    target.write_text(OLD)
    write_atomic(target, "new content\n")
    assert target.read_text() == "new content\n"
    assert _entries(tmp_path) == ["snapshot.json"]


def test_mode_honours_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_atomic(tmp_path / "default", "x")
        write_atomic(tmp_path / "script.sh", "#!/bin/sh\n", mode=0o755)
        write_atomic(tmp_path / "secret", "x", mode=0o600)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "default").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "script.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


def test_relative_path_in_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_atomic("out.txt", "here\n")
    assert (tmp_path / "out.txt").read_text() == "here\n"
    assert _entries(tmp_path) == ["out.txt"]


def test_nonexistent_directory(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.json"
    with pytest.raises(InputError) as raised:
        write_atomic(target, "x")
    message = str(raised.value)
    assert str(target) in message
    assert "does not exist" in message
    assert not (tmp_path / "missing").exists()


def test_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="file is not a directory"):
        write_atomic(tmp_path / "file" / "out.json", "x")


def _raise_oserror(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("failing", ["fsync", "replace", "chmod"])
def test_failure_keeps_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "snapshot.json"
    target.write_text(OLD)
    monkeypatch.setattr(os, failing, _raise_oserror)
    with pytest.raises(InputError) as raised:
        write_atomic(target, "new content that must never be seen half-written\n" * 1000)
    monkeypatch.undo()
    message = str(raised.value)
    assert str(target) in message
    assert "cannot write" in message
    assert os.strerror(errno.ENOSPC) in message
    assert target.read_text() == OLD
    assert _entries(tmp_path) == ["snapshot.json"]


def test_failure_without_old_file_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "replace", _raise_oserror)
    with pytest.raises(InputError):
        write_atomic(tmp_path / "new.json", "x")
    assert _entries(tmp_path) == []


def test_write_failure_midway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills up while the payload is being written."""
    target = tmp_path / "snapshot.json"
    target.write_text(OLD)
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fd: int, mode: str) -> None:
            self._stream = real_fdopen(fd, mode)

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self._stream.close()

        def write(self, data: bytes) -> int:
            self._stream.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fdopen", FullDisk)
    with pytest.raises(InputError, match="cannot write"):
        write_atomic(target, "new\n" * 10_000)
    monkeypatch.undo()
    assert target.read_text() == OLD
    assert _entries(tmp_path) == ["snapshot.json"]


def test_interrupt_keeps_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not an OSError (Ctrl-C during fsync): re-raised as it is, still cleaned up."""
    target = tmp_path / "snapshot.json"
    target.write_text(OLD)

    def interrupt(_fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new\n")
    monkeypatch.undo()
    assert target.read_text() == OLD
    assert _entries(tmp_path) == ["snapshot.json"]


def test_cannot_create_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory that exists but cannot be written (simulated: tests may run as root)."""

    def denied(**_kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    target = tmp_path / "out.json"
    with pytest.raises(InputError) as raised:
        write_atomic(target, "x")
    assert str(target) in str(raised.value)
    assert os.strerror(errno.EACCES) in str(raised.value)
    assert _entries(tmp_path) == []


def test_write_all_atomic_changes_nothing_when_one_file_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old a")
    calls = []
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(InputError, match=r"b\.txt: cannot write: No space left on device"):
        write_all_atomic([(first, "new a", 0o644), (second, "new b", 0o644)])
    assert first.read_text() == "old a" and not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # no temporary left


def test_render_to_a_directory_writes_all_or_nothing(tmp_path: Path) -> None:
    from eniplan.render.base import RenderedFile, Rendering
    from eniplan.render.files import write_renderings

    renderings = [
        Rendering("t", "i-0123456789abcdef0", (RenderedFile("/etc/a.conf", "a"),)),
        Rendering("t", "i-0123456789abcdef1", (RenderedFile("/etc/b.conf", "b"),)),
    ]
    (tmp_path / "i-0123456789abcdef1").write_text("a file where a directory must go")
    with pytest.raises(InputError, match="cannot create directory"):
        write_renderings(str(tmp_path), renderings)
    assert not (tmp_path / "i-0123456789abcdef0" / "etc" / "a.conf").exists()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a": 1}\n', b'{"a": 1}\n'),  # ASCII: the bytes themselves, not a copy
        ('{"a": "\u00e9"}'.encode(), '{"a": "\u00e9"}'),
        ('\ufeff{"a": 1}'.encode(), '{"a": 1}'),  # UTF-8 with a byte order mark
        ('{"a": 1}'.encode("utf-16"), '{"a": 1}'),  # PowerShell's `>`
        (b'\x00{\x00"\x00a\x00"\x00:\x001\x00}', '{"a":1}'),  # ASCII bytes, UTF-16 text
    ],
)
def test_json_text_or_bytes(data: bytes, expected: str | bytes) -> None:
    found = json_text_or_bytes(data, "f.json")
    assert found == expected
    if isinstance(expected, bytes):
        assert found is data


def test_json_text_or_bytes_refuses_what_is_not_text() -> None:
    with pytest.raises(InputError, match=r"^f.json: not text \(expected UTF-8 JSON; byte 6"):
        json_text_or_bytes(b'{"a": \xff}', "f.json")


@pytest.mark.parametrize("code", range(128))
def test_blank_bytes_and_text_agree_with_strip(code: int) -> None:
    for text in (chr(code), f"{chr(code)} \n", f" {chr(code)}"):
        assert blank(text) == blank(text.encode()) == (not text.strip())
    assert blank("") and blank(b"")
