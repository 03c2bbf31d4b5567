"""Keep the user's user data: eniplan's cloud-config joins it instead of replacing it.

When the inventory knows an instance's user data, the rendered user data is a MIME
multipart archive (what `cloud-init devel make-mime` writes): the user's part first, its
bytes unchanged, then eniplan's `#cloud-config` with a Merge-Type that appends lists and
merges dicts, so a user `#cloud-config` keeps its own runcmd and write_files. User data
that is already eniplan's (its marker) is replaced, not nested; an archive holding an
eniplan part keeps its other parts and gets the new eniplan part. The result is
gzip-compressed when it exceeds EC2's 16 KB and refused (InputError, with the sizes) when
even that does not fit. Pure: bytes in, bytes or text out.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import gzip
import hashlib
from dataclasses import dataclass

from eniplan.errors import InputError
from eniplan.userdata import MAX_PARTS, decompressed, find_marker

USER_DATA_LIMIT = 16 * 1024  # bytes, before base64
# eniplan's lists (write_files, runcmd) are appended to the user's, dicts merged.
MERGE_TYPE = "list(append)+dict(recurse_array)+str()"
# cloud-init's part types by the first line (cloudinit/handlers: INCLUSION_TYPES_MAP)
_STARTS = (
    ("#!", "text/x-shellscript"),
    ("#cloud-config-archive", "text/cloud-config-archive"),
    ("#cloud-config", "text/cloud-config"),
    ("#cloud-boothook", "text/cloud-boothook"),
    ("#include-once", "text/x-include-once-url"),
    ("#include", "text/x-include-url"),
    ("#part-handler", "text/part-handler"),
    ("## template: jinja", "text/jinja2"),
)


@dataclass(frozen=True)
class Composed:
    content: str | bytes  # text, or gzip-compressed bytes
    notes: tuple[str, ...]


def part_type(text: str) -> str:
    """The MIME type cloud-init gives a part by its first line (text/plain: none known)."""
    for start, kind in _STARTS:
        if text.startswith(start):
            return kind
    return "text/plain"


def _size_checked(data: bytes, what: str, instance_id: str) -> tuple[str | bytes, list[str]]:
    if len(data) <= USER_DATA_LIMIT:
        return data.decode("utf-8"), []
    packed = gzip.compress(data, mtime=0)
    if len(packed) > USER_DATA_LIMIT:
        raise InputError(
            f"{instance_id}: {what} is {len(data)} bytes, {len(packed)} gzip-compressed: over "
            "EC2's 16 KB user data limit either way; shrink the instance's user data, render "
            "--mode dynamic, or pass --replace-user-data to drop the instance's own"
        )
    return packed, [
        f"{what} is {len(data)} bytes, over EC2's 16 KB limit: gzip-compressed to "
        f"{len(packed)} bytes (cloud-init reads gzip user data)"
    ]


def _part(content_type: str, name: str, body: bytes, extra: str = "") -> bytes:
    """One MIME part: an ASCII body verbatim (7bit); any other in base64, which cloud-init
    decodes byte for byte (its 8bit handling re-encodes non-ASCII text)."""
    ascii_only = body.isascii()
    head = (
        f'Content-Type: {content_type}; charset="utf-8"\n'
        "MIME-Version: 1.0\n"
        f"Content-Transfer-Encoding: {'7bit' if ascii_only else 'base64'}\n"
        f'Content-Disposition: attachment; filename="{name}"\n{extra}\n'
    )
    if not ascii_only:
        body = base64.encodebytes(body).rstrip(b"\n")
    return head.encode() + body


def _user_parts(data: bytes) -> tuple[list[bytes], bool]:
    """The user's parts as MIME bytes, eniplan's left out; and whether one was left out.
    UnicodeDecodeError: the user data is not text."""
    head = data[:512].lower()
    if not (b"content-type:" in head and b"multipart/" in head):
        text = data.decode("utf-8")
        if find_marker(text[:1024]) is not None:
            return [], True
        return [_part(part_type(text), "user-data", data)], False
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)
    leaves = [part for part in message.walk() if not part.is_multipart()][:MAX_PARTS]
    kept = []
    for part in leaves:
        payload = part.get_payload(decode=True)
        body, _ = decompressed(payload) if isinstance(payload, bytes) else (None, "")
        if body is not None and find_marker(body.decode("utf-8", errors="replace")):
            continue
        kept.append(part.as_bytes())
    return kept, len(kept) < len(leaves)


def _multipart(parts: list[bytes], own: bytes) -> bytes:
    """A multipart/mixed archive: the user's parts as they are, then eniplan's."""
    seed = hashlib.sha256(b"\0".join([*parts, own])).hexdigest()
    boundary = f"==eniplan-{seed[:24]}==".encode()
    mine = _part("text/cloud-config", "eniplan.cfg", own, f"Merge-Type: {MERGE_TYPE}\n")
    out = [b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\nMIME-Version: 1.0\n']
    for part in [*parts, mine]:
        # the line break before a delimiter belongs to it: each body stays byte for byte
        out.append(b"\n--" + boundary + b"\n" + part)
    out.append(b"\n--" + boundary + b"--\n")
    return b"".join(out)


def compose(own: str, theirs: bytes | None, instance_id: str, *, replace: bool) -> Composed:
    """eniplan's #cloud-config `own`, with the instance's user data `theirs` kept."""
    if theirs is None:
        content, notes = _size_checked(own.encode(), "the user data", instance_id)
        return Composed(
            content,
            (
                *notes,
                "the instance's user data is unknown (not collected): this replaces whatever "
                "it has; collect with ec2:DescribeInstanceAttribute to have it kept",
            ),
        )
    if not theirs.strip():
        content, notes = _size_checked(own.encode(), "the user data", instance_id)
        return Composed(content, tuple(notes))
    if replace:
        content, notes = _size_checked(own.encode(), "the user data", instance_id)
        return Composed(
            content,
            (
                *notes,
                f"--replace-user-data: the instance's own user data ({len(theirs)} bytes) is "
                "dropped, not kept",
            ),
        )
    data, problem = decompressed(theirs)
    if data is None:
        raise InputError(
            f"{instance_id}: the instance's user data cannot be kept ({problem}): pass "
            "--replace-user-data to replace it"
        )
    try:
        parts, had_eniplan = _user_parts(data)
    except UnicodeDecodeError:
        raise InputError(
            f"{instance_id}: the instance's user data ({len(theirs)} bytes) is not text, so it "
            "cannot be combined with eniplan's: pass --replace-user-data to replace it"
        ) from None
    if not parts:
        content, notes = _size_checked(own.encode(), "the user data", instance_id)
        return Composed(
            content, (*notes, "the instance's user data is eniplan's (marker): replaced")
        )
    archive = _multipart(parts, own.encode())
    try:
        content, notes = _size_checked(archive, "the combined user data", instance_id)
    except UnicodeDecodeError:  # a MIME part of the user's that is not UTF-8
        raise InputError(
            f"{instance_id}: a part of the instance's user data is not UTF-8 text: pass "
            "--replace-user-data to replace it"
        ) from None
    said = "its other parts" if had_eniplan else "its own part"
    return Composed(
        content,
        (
            *notes,
            f"the instance's user data is kept: a MIME multipart with {said} first, unchanged, "
            "then eniplan's #cloud-config (--replace-user-data to drop it)",
        ),
    )
