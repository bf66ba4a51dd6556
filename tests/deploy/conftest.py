"""Fixtures of the deploy tests."""

from __future__ import annotations

import pytest
from helpers.aws_server import MotoAws


@pytest.fixture(scope="session")
def moto_server():
    """moto's server on a free local port, its request authentication on after each
    `reset()` (tests/helpers/aws_server.py). One for the session: tests reset it."""
    server = MotoAws().start()
    yield server
    server.stop()
