"""Composing eniplan's user data with the instance's own, without cloud-init: too large is
refused, gzip when it must, what is replaced and what is not text."""

from __future__ import annotations

import base64
import gzip
import os

import pytest

from eniplan.errors import InputError
from eniplan.userdata_compose import USER_DATA_LIMIT, compose
from tests.helpers.cloudinit import SCRIPT


def test_large_combined_user_data_is_gzipped_and_too_large_is_refused(own: str) -> None:
    big_script = b"#!/bin/sh\n" + b"echo 'the same line, compressible'\n" * 450
    assert len(big_script) + len(own) > USER_DATA_LIMIT
    composed = compose(own, big_script, "i-0123456789abcdef0", replace=False)
    assert isinstance(composed.content, bytes) and len(composed.content) <= USER_DATA_LIMIT
    archive = gzip.decompress(composed.content)
    assert big_script in archive and own.encode() in archive
    assert any("gzip-compressed" in note for note in composed.notes)

    noise = b"#!/bin/sh\n: " + base64.b64encode(os.urandom(20000)) + b"\n"
    with pytest.raises(InputError, match=r"16 KB.*--replace-user-data"):
        compose(own, noise, "i-0123456789abcdef0", replace=False)


def test_replace_and_unknown_and_not_text(own: str) -> None:
    dropped = compose(own, SCRIPT, "i-0123456789abcdef0", replace=True)
    assert dropped.content == own
    assert any("--replace-user-data" in note and "dropped" in note for note in dropped.notes)
    unknown = compose(own, None, "i-0123456789abcdef0", replace=False)
    assert unknown.content == own and any("unknown" in note for note in unknown.notes)
    assert compose(own, b"", "i-0123456789abcdef0", replace=False).content == own
    with pytest.raises(InputError, match="not text"):
        compose(own, b"\xff\xfe\x00binary", "i-0123456789abcdef0", replace=False)
