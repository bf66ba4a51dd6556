"""Issuer fixtures. `db_kind` runs a test on SQLite and, when TOLLGATE_TEST_POSTGRES_URL
is set, on PostgreSQL too (the postgres param carries the `postgres` mark)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_admin import clocked_http
from helpers.issuer_db import DatabaseFactory
from helpers.issuer_env import TestIssuer, make_issuer, write_policy

DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    factory = DatabaseFactory(tmp_path_factory.mktemp("issuer-db"))
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def policy_file(tmp_path_factory):
    return write_policy(tmp_path_factory.mktemp("policy"))


@pytest.fixture(scope="module", params=DB_KINDS)
def db_kind(request):
    return request.param


@pytest.fixture(scope="module")
def issuer(db_kind, databases, policy_file) -> TestIssuer:
    test_issuer = make_issuer(databases.new_url(db_kind), policy_file)
    yield test_issuer
    test_issuer.services.engine.dispose()


@pytest.fixture(scope="module")
def http(issuer):
    with TestClient(issuer.app()) as client:
        yield client


@pytest.fixture(scope="module")
def reader(issuer):
    """A client allowed orders:read and orders:write (orders API) and billing:read."""
    return issuer.client(["orders:read", "orders:write", "billing:read"], name="reader")


@pytest.fixture
def admin_cli_env(tmp_path, monkeypatch, policy_file):
    """A migrated SQLite database for `issuer.cli.main` in this test's own folder (the
    KEK from the environment; no stray .env or database from elsewhere)."""
    from issuer.cli import main
    from issuer.keys.kek import new_kek_text

    monkeypatch.chdir(tmp_path)
    for name in ("ISSUER_ENV", "ISSUER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", new_kek_text())
    monkeypatch.setenv("ISSUER_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("POLICY_FILE", str(policy_file))
    assert main(["db", "upgrade"]) == 0
    return tmp_path


@pytest.fixture(scope="module")
def env(db_kind, databases, policy_file):
    """(issuer, clock, http): this module's issuer with a clock the tests move. A module
    that needs another `env` defines its own."""
    with clocked_http(databases.new_url(db_kind), policy_file) as env:
        yield env


@pytest.fixture(scope="module")
def admin_env(db_kind, databases, policy_file):
    """(issuer, clock, http, admin client): `http` carries the admin's bearer token."""
    with clocked_http(databases.new_url(db_kind), policy_file, admin=True) as env:
        yield env
