"""The lifecycle's settings and its multi-process behaviour: the verifier cache TTL
covers the JWKS max-age; two processes reaching the same promotion agree."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers.issuer_admin import clocked_issuer
from sqlalchemy import select

from issuer.audit import Actor
from issuer.keys.admin import rotate
from issuer.keys.store import KeyStore, ensure_active_key
from issuer.settings import SettingsError, load_settings
from issuer.store.models import SigningKey


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (300, 30, 86400)),
        ({"ISSUER_JWKS_MAX_AGE": "900"}, (900, 30, 86400)),  # TTL follows max-age up
        ({"ISSUER_VERIFIER_CACHE_TTL": "600", "ISSUER_KEY_ROTATION_DAYS": "7",
          "ISSUER_SECRET_ROTATION_GRACE": "0"}, (600, 7, 0)),
    ],
    ids=["defaults", "ttl-follows-max-age", "explicit"],
)
def test_lifecycle_settings(env, expected):
    s = load_settings(env, env_file=None)
    assert (s.verifier_cache_ttl, s.key_rotation_days, s.secret_rotation_grace) == expected


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"ISSUER_VERIFIER_CACHE_TTL": "60"}, "ISSUER_JWKS_MAX_AGE"),  # below max-age 300
        ({"ISSUER_KEY_ROTATION_DAYS": "0"}, "ISSUER_KEY_ROTATION_DAYS"),
        ({"ISSUER_KEY_ROTATION_DAYS": "monthly"}, "days"),
        ({"ISSUER_SECRET_ROTATION_GRACE": "-1"}, "ISSUER_SECRET_ROTATION_GRACE"),
    ],
    ids=["ttl-below-max-age", "zero-days", "not-a-number", "negative-grace"],
)
def test_lifecycle_settings_refused(env, names):
    with pytest.raises(SettingsError, match=names):
        load_settings(env, env_file=None)


def test_two_processes_promote_once(db_kind, databases, policy_file):
    issuer, clock = clocked_issuer(databases.new_url(db_kind), policy_file)
    services = issuer.services
    try:
        first = ensure_active_key(services.sessions, services.kek, "ES256")
        schedule = services.key_store._schedule
        stores = [KeyStore(services.kek, schedule), KeyStore(services.kek, schedule)]
        with services.sessions() as session:
            new = rotate(session, services.kek, "ES256", Actor("t", None), clock()).key.kid
            for store in stores:  # both look before it is due: nothing happens
                assert store.maintain(session, clock()) == []
            clock.advance(schedule.publish_lead.total_seconds())
            done = [store.maintain(session, clock()) for store in stores]
            assert [len(d) for d in done] == [2, 0]  # demote + promote, once
            assert {s.signer(session, clock()).kid for s in stores} == {new}
            rows = {k.kid: k.status for k in session.scalars(select(SigningKey))}
            assert rows == {first: "retiring", new: "active"}
            clock.advance((schedule.retire_after - timedelta(seconds=1)).total_seconds())
            assert stores[1].maintain(session, clock()) == []  # not yet
            clock.advance(1)
            assert [(t.kid, t.new) for t in stores[1].maintain(session, clock())] == [
                (first, "retired")]
    finally:
        services.engine.dispose()
