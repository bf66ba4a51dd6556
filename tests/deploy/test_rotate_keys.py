"""The scheduled key rotation (deploy/rotate_keys.py) calls the key administration
(`issuer.keys.admin.rotate_if_due`) itself: no CLI, no captured stdout. It rotates when
the active key is ISSUER_KEY_ROTATION_DAYS old, reports what it did as JSON-able data,
logs one line, and raises on failure (the invocation then counts as failed and the
schedule's alarm sees it) with a one-line reason that holds no password."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from deploy.rotate_keys import handler
from issuer.keys.kek import Kek, decode_kek, new_kek_text
from issuer.keys.store import new_signing_key
from issuer.store.engine import make_engine, make_session_factory
from issuer.store.migrate import upgrade
from issuer.store.models import SigningKey
from issuer.store.tables import utcnow


@pytest.fixture
def database(tmp_path, monkeypatch, policy_file):
    url = f"sqlite:///{tmp_path}/rotate.db"
    kek_text = new_kek_text()
    for name in ("ISSUER_ENV", "TOLLGATE_DB_SECRET_ARN", "TOLLGATE_KEK_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ISSUER_URL", "https://issuer.example.test")
    monkeypatch.setenv("ISSUER_DATABASE_URL", url)
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", kek_text)
    monkeypatch.setenv("POLICY_FILE", str(policy_file))
    engine = make_engine(url)
    upgrade(engine)
    yield engine, Kek(decode_kek(kek_text))
    engine.dispose()


@pytest.fixture
def policy_file(tmp_path_factory):
    from helpers.issuer_env import write_policy

    return write_policy(tmp_path_factory.mktemp("policy"))


def _active_key_aged(engine, kek: Kek, days: int) -> str:
    with make_session_factory(engine)() as session:
        key = new_signing_key(kek, "ES256", "active", now=utcnow() - timedelta(days=days))
        session.add(key)
        session.commit()
        return key.kid


def _statuses(engine) -> list[str]:
    with make_session_factory(engine)() as session:
        return sorted(session.scalars(select(SigningKey.status)))


def test_an_old_active_key_is_rotated_once(database, monkeypatch, caplog):
    engine, kek = database
    # The CLI is not on this path any more: were it called, the rotation would fail.
    monkeypatch.setattr("issuer.cli.main", lambda *a, **k: pytest.fail("the CLI was called"))
    _active_key_aged(engine, kek, days=31)
    caplog.set_level(logging.INFO, logger="issuer")
    first = handler({}, None)
    assert (first["reason"], first["created"], first["key"]["status"]) == ("due", True, "next")
    assert _statuses(engine) == ["active", "next"]
    assert any('"event": "key_rotation_checked"' in r.getMessage() for r in caplog.records)
    second = handler({}, None)
    assert (second["reason"], second["created"]) == ("a rotation is pending", False)
    assert second["key"]["kid"] == first["key"]["kid"]
    assert _statuses(engine) == ["active", "next"]


def test_a_young_active_key_is_left_alone(database):
    engine, kek = database
    _active_key_aged(engine, kek, days=1)
    result = handler({}, None)
    assert result == {"reason": "not due", "created": False, "key": None, "transitions": []}
    assert _statuses(engine) == ["active"]


def test_no_active_key_is_reported_not_made(database):
    engine, _kek = database
    result = handler({}, None)
    assert (result["reason"], result["created"]) == ("no active key (start the issuer first)",
                                                     False)
    assert _statuses(engine) == []


def test_an_unreachable_database_fails_the_invocation_without_its_password(database,
                                                                          monkeypatch):
    monkeypatch.setenv("ISSUER_DATABASE_URL",
                       "postgresql+psycopg://tollgate:s3cr3t-pw@127.0.0.1:1/tollgate")
    with pytest.raises(RuntimeError) as failed:
        handler({}, None)
    message = str(failed.value)
    assert message.startswith("scheduled key rotation failed: OperationalError")
    assert "s3cr3t-pw" not in message and "\n" not in message


def test_a_secret_it_cannot_read_fails_the_invocation_in_one_line(database, monkeypatch):
    # On AWS (a secret ARN set): the other ARN missing is named, as the issuer's cold
    # start names it (deploy/aws_secrets.py), and the schedule's alarm sees a failure.
    monkeypatch.setenv("TOLLGATE_DB_SECRET_ARN",
                       "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf")
    with pytest.raises(RuntimeError) as failed:
        handler({}, None)
    assert str(failed.value) == ("scheduled key rotation failed: SecretError: "
                                 "TOLLGATE_KEK_SECRET_ARN unset: both secrets are needed on AWS")


def test_the_ops_function_answers_a_secret_problem_in_one_line(monkeypatch):
    from deploy import ops_lambda

    monkeypatch.delenv("TOLLGATE_DB_SECRET_ARN", raising=False)
    monkeypatch.setenv("TOLLGATE_KEK_SECRET_ARN",
                       "arn:aws:secretsmanager:eu-west-1:123456789012:secret:kek-AbCdEf")
    assert ops_lambda.handler({"command": "migrate"}, None) == {
        "ok": False,
        "error": "TOLLGATE_DB_SECRET_ARN unset: both secrets are needed on AWS"}
