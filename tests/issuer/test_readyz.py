"""`GET /readyz`: 200 only when the database answers at head, the policy is loaded, the
KEK opens the check value and the active signing key, and a key is active; else 503
naming the first failed check, with nothing secret in the body."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_env import make_settings

from issuer.http.app import create_app
from issuer.keys.kek import new_kek_text
from issuer.keys.store import ensure_active_key
from issuer.services import build_services
from issuer.store.engine import make_engine
from issuer.store.migrate import upgrade

CHECKS = ["database", "migrations", "policy", "kek", "signing_key"]
DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def ready(app) -> tuple[int, dict]:
    # No lifespan (no `with`): the first key is not made behind the test's back.
    response = TestClient(app).get("/readyz")
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, response.json()


def assert_failed(app, name: str, secret_texts=()) -> None:
    status, body = ready(app)
    assert status == 503
    assert body["status"] == "not_ready" and body["failed"] == name
    at = CHECKS.index(name)
    assert body["checks"] == {
        c: "ok" if i < at else "failed" if i == at else "skipped" for i, c in enumerate(CHECKS)
    }
    for text in secret_texts:
        assert text not in str(body)


def services_on(url, policy_file, kek=None):
    settings = make_settings(url, policy_file, ISSUER_KEY_ENCRYPTION_KEY=kek or new_kek_text())
    return settings, build_services(settings, make_engine(url))


@pytest.mark.parametrize("db", DB_KINDS)
def test_ready_then_each_failing_check(databases, policy_file, db):
    url = databases.new_url(db)
    upgrade(make_engine(url))
    settings, services = services_on(url, policy_file)
    app = create_app(settings, services)

    # signing_key: migrated, KEK verified, no key made yet.
    assert_failed(app, "signing_key")
    ensure_active_key(services.sessions, services.kek, "ES256")
    assert ready(app) == (200, {"status": "ready", "checks": dict.fromkeys(CHECKS, "ok")})

    # policy: none loaded.
    no_policy = create_app(settings, services._replace(policy=None))
    assert_failed(no_policy, "policy")
    services.engine.dispose()


def test_database_down(tmp_path, policy_file):
    url = f"sqlite:///{tmp_path}/missing/dir/issuer.db"
    settings, services = services_on(url, policy_file)
    app = create_app(settings, services)  # the KEK check is deferred, not fatal
    assert_failed(app, "database", [str(tmp_path)])


@pytest.mark.parametrize("db", DB_KINDS)
def test_not_at_head(databases, policy_file, db):
    url = databases.new_url(db)
    engine = make_engine(url)
    upgrade(engine, "0006")
    settings, services = services_on(url, policy_file)
    app = create_app(settings, services)  # verify_kek fails on the missing column: deferred
    assert_failed(app, "migrations")
    engine.dispose()
    services.engine.dispose()


@pytest.mark.parametrize("db", DB_KINDS)
def test_a_wrong_kek_whose_startup_check_was_deferred_is_not_ready(databases, policy_file, db):
    """The server started while the database was not there (not migrated): the KEK check
    was deferred. Then the database is set up under another KEK: not ready, `kek`."""
    url = databases.new_url(db)
    wrong = new_kek_text()
    settings, services = services_on(url, policy_file, wrong)
    app = create_app(settings, services)  # no tables yet: kek_check_deferred
    upgrade(make_engine(url))
    right_settings, right = services_on(url, policy_file)
    create_app(right_settings, right)  # stores the check value under the right KEK
    ensure_active_key(right.sessions, right.kek, "ES256")
    assert_failed(app, "kek", [wrong])
    assert ready(create_app(right_settings, right))[0] == 200
    services.engine.dispose()
    right.engine.dispose()
