"""Suite-wide options. PostgreSQL tests run when TOLLGATE_TEST_POSTGRES_URL is set."""

import os

import pytest

POSTGRES_URL = os.environ.get("TOLLGATE_TEST_POSTGRES_URL")


def pytest_collection_modifyitems(config, items):
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(
        reason="PostgreSQL leg: set TOLLGATE_TEST_POSTGRES_URL="
        "postgresql+psycopg://USER@HOST:5432/DB (make test-postgres does)"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
