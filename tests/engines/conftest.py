"""Fixtures for engine tests: the fake Runway / CometAPI server on loopback."""

from tests.fakes.fixtures import fake_cometapi, fake_runway  # noqa: F401
