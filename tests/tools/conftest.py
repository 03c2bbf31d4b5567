"""The tools tier: real validators, terraform, local servers, eniplan as a process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import moto_server as moto


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A moto server of the test module's own (its state is the module's); its URL."""
    with moto.moto_server() as url:
        yield url
