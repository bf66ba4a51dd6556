"""Signing keys are decrypted once per process and reloaded only when the active kid
changes (read again at most every SIGNER_RECHECK); every RFC 6749 §5.2 error renders as
the RFC says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, update

from issuer.http.errors import oauth_error_response
from issuer.keys.store import (
    SIGNER_RECHECK,
    KeyStore,
    ensure_active_key,
    new_signing_key,
    published_jwks,
)
from issuer.oauth import errors as oauth_errors
from issuer.store.models import SigningKey
from issuer.store.tables import utcnow


class CountingKek:
    def __init__(self, kek):
        self._kek = kek
        self.decrypts = 0

    def decrypt(self, blob, kid):
        self.decrypts += 1
        return self._kek.decrypt(blob, kid)


def _rotate_behind_the_store(session, kek, active_kid: str) -> SigningKey:
    """What another process's rotation leaves in the database: a new ES256 key active,
    the old one retiring (written directly, so no KeyStore hears of it)."""
    new = new_signing_key(kek, "ES256", "next")
    session.add(new)
    session.commit()
    session.execute(update(SigningKey).where(SigningKey.kid == active_kid)
                    .values(status="retiring"))
    session.execute(update(SigningKey).where(SigningKey.kid == new.kid).values(status="active"))
    session.commit()
    return new


def test_key_store_loads_once_and_follows_rotation(issuer):
    services = issuer.services
    kek = CountingKek(services.kek)
    store = KeyStore(kek)
    first_kid = ensure_active_key(services.sessions, services.kek, "RS256")
    assert ensure_active_key(services.sessions, services.kek, "RS256") == first_kid
    t0 = utcnow()
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(services.engine, "before_cursor_execute", count)
    try:
        with services.sessions() as session:
            for i in range(5):
                assert store.signer(session, t0 + timedelta(seconds=i)).kid == first_kid
    finally:
        event.remove(services.engine, "before_cursor_execute", count)
    assert kek.decrypts == 1
    # The active kid is read once (then the key row), not on every signature.
    assert len(statements) == 2, statements

    # Another process rotates: a new key becomes active, the old one retires.
    with services.sessions() as session:
        new = _rotate_behind_the_store(session, services.kek, first_kid)
        # Until SIGNER_RECHECK has passed since the last read, the key read last signs
        # (still published: a retiring key stays in the JWKS for a token lifetime + TTL).
        almost = t0 + SIGNER_RECHECK - timedelta(seconds=1)
        assert store.signer(session, almost).kid == first_kid
        later = t0 + SIGNER_RECHECK
        signer = store.signer(session, later)
        assert (signer.kid, signer.alg) == (new.kid, "ES256")
        assert store.signer(session, later).kid == new.kid
        assert {k["kid"] for k in published_jwks(session)["keys"]} == {first_kid, new.kid}
        session.execute(
            update(SigningKey).where(SigningKey.kid == first_kid).values(status="retired")
        )
        session.commit()
        assert [k["kid"] for k in published_jwks(session)["keys"]] == [new.kid]
    assert kek.decrypts == 2


def test_key_store_rereads_at_once_after_invalidate(issuer):
    """A rotation through this process (admin API) calls invalidate(): no waiting."""
    services = issuer.services
    store = KeyStore(services.kek)
    t0 = utcnow()
    with services.sessions() as session:
        first = store.signer(session, t0).kid
        new = _rotate_behind_the_store(session, services.kek, first)
        assert store.signer(session, t0).kid == first
        store.invalidate()
        assert store.signer(session, t0).kid == new.kid


def test_private_key_is_encrypted_at_rest(issuer):
    with issuer.services.sessions() as session:
        row = session.query(SigningKey).first()
        assert b"PRIVATE KEY" not in row.private_key_encrypted
        assert not {"d", "p", "q"} & set(row.public_jwk)


ERRORS = [
    ("InvalidRequest", "invalid_request", 400),
    ("InvalidClient", "invalid_client", 401),
    ("InvalidGrant", "invalid_grant", 400),
    ("UnauthorizedClient", "unauthorized_client", 400),
    ("UnsupportedGrantType", "unsupported_grant_type", 400),
    ("InvalidScope", "invalid_scope", 400),
    ("InvalidTarget", "invalid_target", 400),
    ("TemporarilyUnavailable", "temporarily_unavailable", 503),
]


@pytest.mark.parametrize(("name", "code", "status"), ERRORS, ids=[e[1] for e in ERRORS])
def test_error_rendering(name, code, status):
    exc = getattr(oauth_errors, name)(debug="server-side only")
    response = oauth_error_response(exc)
    assert response.status_code == status
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.body.decode()
    assert f'"error":"{code}"' in body and "server-side only" not in body
    challenge = response.headers.get("www-authenticate")
    assert (challenge == 'Basic realm="tollgate"') == (code == "invalid_client")


def test_every_section_5_2_error_has_a_class():
    codes = {cls.error for cls in oauth_errors.TOKEN_ENDPOINT_ERRORS}
    assert codes >= {
        "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
        "unsupported_grant_type", "invalid_scope",
    }
