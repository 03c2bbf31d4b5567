"""Fixtures of the kernel tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.netns import no_lab_left


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """The test leaves no lab namespace behind (labs of other processes may run)."""
    yield from no_lab_left()
