"""Load and fault tests: real processes on loopback against a PostgreSQL cluster of the
test's own (helpers/pgcluster.py), so a database restart never touches the machine's
cluster. LOAD_SECONDS sets the load phase (default 10 s; the issue's full figure is 30).
"""

from __future__ import annotations

import os
import secrets

import psycopg
import pytest
from helpers.pgcluster import PgCluster

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "10"))


@pytest.fixture(scope="session")
def pg():
    if not PgCluster.available():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    cluster = PgCluster()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def database(pg) -> str:
    """A fresh database in the test's own cluster; its SQLAlchemy URL."""
    name = "tollgate_" + secrets.token_hex(4)
    with psycopg.connect(
        f"host=127.0.0.1 port={pg.port} user=postgres dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg.url.rsplit("/", 1)[0] + "/" + name


def pytest_collection_modifyitems(config, items):
    """Load tests run in their own leg (`make test-load`, about a minute and a half of
    real processes); `make test` skips them unless TOLLGATE_LOAD=1."""
    if os.environ.get("TOLLGATE_LOAD") == "1":
        return
    skip = pytest.mark.skip(reason="load leg: TOLLGATE_LOAD=1 (make test-load does)")
    for item in items:
        if "load" in item.keywords:
            item.add_marker(skip)
