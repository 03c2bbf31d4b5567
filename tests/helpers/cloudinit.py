"""The cloud-init target for tests: its user data as text (gunzipped) with the notes, and the
skip where Debian's cloud-init is missing."""

from __future__ import annotations

import gzip
import shutil

import pytest

from eniplan.plan import InstancePlan
from eniplan.render import cloudinit
from eniplan.render.base import RenderOptions

SCRIPT = b"#!/bin/bash\n# the team's bootstrap\necho 'caf\xc3\xa9' > /etc/motd\n\n"
requires_cloud_init = pytest.mark.skipif(
    shutil.which("cloud-init") is None, reason="needs Debian's cloud-init (make test installs it)"
)


def user_data(plan: InstancePlan, persist: str = "script") -> tuple[str, tuple[str, ...]]:
    rendering = cloudinit.render(plan, RenderOptions(persist=persist))
    (file,) = rendering.files
    content = file.content
    text = gzip.decompress(content).decode() if isinstance(content, bytes) else content
    return text, rendering.notes
