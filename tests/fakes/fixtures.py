"""Pytest fixtures that start the fake provider; import them into a conftest or register this module as a plugin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import FakeProvider


@pytest.fixture
def fake_runway() -> Iterator[FakeProvider]:
    """A fake Runway API on a loopback port, stopped after the test."""
    with FakeProvider("runway") as fake:
        yield fake


@pytest.fixture
def fake_cometapi() -> Iterator[FakeProvider]:
    """A fake CometAPI Runway passthrough (wrapped task envelope) on a loopback port."""
    with FakeProvider("cometapi") as fake:
        yield fake
