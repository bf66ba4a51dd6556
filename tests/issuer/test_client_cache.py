"""The token endpoint's client cache (issuer/clients/cache.py) and cached signer.

- An admin change through this process (disable, delete, no-grace secret rotation,
  scope change) is seen by the very next token request: no waiting for the TTL.
- Another issuer instance on the same database (another worker, a Lambda instance) sees
  it within ISSUER_CLIENT_CACHE_TTL of its clock, never later; with the TTL 0, at once.
- A token request that hits both caches costs no database statement at all.
- A load racing an invalidation is not kept; unknown ids are cached like known ones.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_admin import ADMIN, bearer, clocked_http, clocked_issuer, token_for
from sqlalchemy import event

from issuer.clients import cache as client_cache
from issuer.clients.cache import ClientCache
from issuer.http.app import create_app
from issuer.oauth.revocation import is_revoked, token_generation
from issuer.oauth.throttle import FailureThrottle
from issuer.services import build_services
from issuer.store.tables import utcnow
from shared.jws import parse_compact
from shared.revocation_list import client_key

TTL = 5  # the default ISSUER_CLIENT_CACHE_TTL


@pytest.fixture(scope="module")
def env(db_kind, databases, policy_file):
    """Two issuer instances on one database and one clock: `http` (with the admin) and
    `other` (a second worker that only serves tokens)."""
    issuer, clock = clocked_issuer(databases.new_url(db_kind), policy_file)
    second = build_services(
        issuer.settings, issuer.services.engine, FailureThrottle(limit=1_000_000), clock=clock
    )
    with TestClient(issuer.app()) as http, TestClient(create_app(issuer.settings, second)) as other:
        admin = issuer.client([ADMIN], name="admin")
        http.headers.update(bearer(token_for(http, admin.client.client_id, admin.client_secret)))
        yield issuer, clock, http, other
    issuer.services.engine.dispose()


def status(http, client_id: str, secret: str) -> int:
    response = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                         auth=(client_id, secret))
    return response.status_code


def new_client(http) -> tuple[str, str]:
    created = http.post("/admin/clients", json={"name": "svc", "scopes": ["orders:read"]})
    assert created.status_code == 201, created.text
    return created.json()["client_id"], created.json()["client_secret"]


def disable(http, cid):
    assert http.patch(f"/admin/clients/{cid}", json={"enabled": False}).status_code == 200


def delete(http, cid):
    assert http.delete(f"/admin/clients/{cid}").status_code == 204


def rotate(http, cid):
    response = http.post(f"/admin/clients/{cid}/secret", json={"grace_seconds": 0})
    assert response.status_code == 200, response.text


CHANGES = [disable, delete, rotate]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
def test_a_change_through_this_process_is_seen_at_once(env, change):
    _issuer, _clock, http, _other = env
    cid, secret = new_client(http)
    for _ in range(3):
        assert status(http, cid, secret) == 200  # cached now
    change(http, cid)
    assert status(http, cid, secret) == 401


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
def test_another_instance_sees_a_change_within_the_ttl(env, change):
    _issuer, clock, http, other = env
    cid, secret = new_client(http)
    assert status(other, cid, secret) == 200  # the other instance caches the client now
    change(http, cid)
    assert status(http, cid, secret) == 401
    # The documented bound: the other instance may answer from its copy for the TTL...
    clock.advance(TTL - 1)
    assert status(other, cid, secret) == 200
    # ...and never longer.
    clock.advance(1)
    assert status(other, cid, secret) == 401


def test_scope_change_is_seen_at_once(env):
    _issuer, _clock, http, _other = env
    cid, secret = new_client(http)
    assert status(http, cid, secret) == 200
    patched = http.patch(f"/admin/clients/{cid}", json={"scopes": ["orders:write"]})
    assert patched.status_code == 200, patched.text
    response = http.post("/oauth2/token", auth=(cid, secret),
                         data={"grant_type": "client_credentials", "scope": "orders:read"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


@pytest.fixture
def unmoved(databases, policy_file):
    """An issuer whose clock stays where it started (at or before the real time): PyJWT
    and joserfc compare `iat` with the real clock."""
    with clocked_http(databases.new_url("sqlite"), policy_file, admin=True) as env:
        yield env


@pytest.mark.parametrize("change", [disable, rotate], ids=lambda f: f.__name__)
def test_a_token_fetched_right_after_a_revocation_verifies_at_zero_leeway(unmoved, change):
    """Every token is dated now (never ahead); one fetched right after a no-grace
    rotation or a re-enable, in the same second, from the database and from the cache,
    verifies at once with PyJWT and joserfc at zero leeway, and is not revoked."""
    import jwt
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet as JoseKeySet

    _issuer, clock, http, _admin = unmoved
    cid, secret = new_client(http)
    if change is disable:
        disable(http, cid)
        assert http.patch(f"/admin/clients/{cid}", json={"enabled": True}).status_code == 200
    else:
        response = http.post(f"/admin/clients/{cid}/secret", json={"grace_seconds": 0})
        secret = response.json()["client_secret"]
    jwks = http.get("/.well-known/jwks.json").json()
    listed = parse_compact(http.get("/.well-known/revocations.jwt").text).claims["clients"]
    for _ in range(2):  # the second from the cache
        token = token_for(http, cid, secret)
        claims = parse_compact(token).claims
        assert claims["iat"] == int(clock().timestamp())
        assert claims["gen"] == listed[client_key(cid)]  # minted from the record after the change
        kid = parse_compact(token).header["kid"]
        key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid))
        decoded = jwt.decode(token, key.key, algorithms=[key.algorithm_name],
                             audience=claims["aud"], leeway=0,
                             options={"require": ["exp", "iat"]})
        assert decoded["jti"] == claims["jti"]
        verified = jose_jwt.decode(token, JoseKeySet.import_key_set(jwks))
        jose_jwt.JWTClaimsRegistry(leeway=0, iat={"essential": True}).validate(verified.claims)
        introspected = http.post("/oauth2/introspect", data={"token": token},
                                 auth=(cid, secret)).json()
        assert introspected["active"] is True


def test_every_minted_token_is_dated_now_whatever_the_revocations(env):
    _issuer, clock, http, other = env
    cid, secret = new_client(http)
    for change in (rotate, disable):
        if change is rotate:
            secret = http.post(f"/admin/clients/{cid}/secret",
                               json={"grace_seconds": 0}).json()["client_secret"]
        else:
            disable(http, cid)
            assert http.patch(f"/admin/clients/{cid}", json={"enabled": True}).status_code == 200
        clock.advance(TTL)  # the other process reads the client again too
        for process in (http, other):
            token = process.post("/oauth2/token", data={"grant_type": "client_credentials"},
                                 auth=(cid, secret)).json()["access_token"]
            assert parse_compact(token).claims["iat"] <= clock().timestamp()


def test_a_cached_token_request_costs_no_database_statement(env):
    issuer, _clock, http, _other = env
    cid, secret = new_client(http)
    assert status(http, cid, secret) == 200
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(issuer.services.engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            assert status(http, cid, secret) == 200
    finally:
        event.remove(issuer.services.engine, "before_cursor_execute", count)
    assert statements == []


def test_ttl_zero_reads_the_database_every_time(databases, policy_file):
    issuer, clock = clocked_issuer(databases.new_url("sqlite"), policy_file,
                                   ISSUER_CLIENT_CACHE_TTL="0")
    assert issuer.settings.client_cache_ttl == 0
    second = build_services(issuer.settings, issuer.services.engine,
                            FailureThrottle(limit=1_000_000), clock=clock)
    try:
        with TestClient(issuer.app()) as http, \
                TestClient(create_app(issuer.settings, second)) as other:
            admin = issuer.client([ADMIN], name="admin")
            http.headers.update(bearer(token_for(http, admin.client.client_id,
                                                 admin.client_secret)))
            cid, secret = new_client(http)
            assert status(other, cid, secret) == 200
            disable(http, cid)
            assert status(other, cid, secret) == 401  # no clock advance needed
    finally:
        issuer.services.engine.dispose()


def test_a_load_racing_an_invalidation_is_not_kept(monkeypatch):
    now = utcnow()
    cache = ClientCache(TTL, lambda: now)
    loads = []

    def racing_load(session, client_id):
        loads.append(client_id)
        cache.invalidate({client_id})  # an admin commit lands while the row is read
        return "old row"

    monkeypatch.setattr(client_cache, "load_client_record", racing_load)
    assert cache.get(None, "c_x") == "old row"
    assert cache.get(None, "c_x") == "old row"
    assert loads == ["c_x", "c_x"]  # not served from the cache


def test_unknown_ids_are_cached_and_expire(monkeypatch):
    clock = {"now": utcnow()}
    cache = ClientCache(TTL, lambda: clock["now"])
    loads = []
    monkeypatch.setattr(client_cache, "load_client_record",
                        lambda session, cid: loads.append(cid))
    for _ in range(3):
        assert cache.get(None, "c_nobody") is None
    assert loads == ["c_nobody"]
    clock["now"] += timedelta(seconds=TTL)
    assert cache.get(None, "c_nobody") is None
    assert loads == ["c_nobody", "c_nobody"]
    # A clock that went backwards counts as expired.
    clock["now"] -= timedelta(seconds=60)
    cache.get(None, "c_nobody")
    assert len(loads) == 3


def test_what_runs_on_the_event_loop(databases, policy_file):
    """Both caches warm: answered on the loop; private_key_jwt or a cold cache: off the
    loop (they block). Failures seen here change nothing: the throttle only meets them."""
    from issuer.http.oauth.token import _answerable_from_memory
    from issuer.oauth.client_auth import TokenRequest

    issuer, clock = clocked_issuer(databases.new_url("sqlite"), policy_file,
                                   ISSUER_SIGNING_ALG="ES256")
    services = issuer.services
    try:
        with TestClient(issuer.app()) as http:
            new = issuer.client(["orders:read"], name="svc")
            cid, secret = new.client.client_id, new.client_secret
            form = {"grant_type": "client_credentials"}
            request = TokenRequest(form=form, authorization=None)
            assert not _answerable_from_memory(services, request, cid)  # cold
            assert status(http, cid, secret) == 200
            assert _answerable_from_memory(services, request, cid)
            jwt = TokenRequest(form={**form, "client_assertion": "x"}, authorization=None)
            assert not _answerable_from_memory(services, jwt, cid)
            assert not _answerable_from_memory(services, request, None)
            services.throttle.record_failure(["addr:testclient", f"client:{cid}"])
            assert _answerable_from_memory(services, request, cid)
            clock.advance(TTL)  # both caches due for a look at the database
            assert not _answerable_from_memory(services, request, cid)
    finally:
        services.engine.dispose()


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
def test_tokens_a_stale_instance_mints_after_the_change_are_revoked(env, change):
    """The other instance may still mint for the TTL (above); what it mints carries the
    generation of the record it cached, below the client's revocation: revoked."""
    _issuer, clock, http, other = env
    cid, secret = new_client(http)
    assert status(other, cid, secret) == 200  # cached in the other instance
    change(http, cid)
    clock.advance(TTL - 1)
    minted = other.post("/oauth2/token", data={"grant_type": "client_credentials"},
                        auth=(cid, secret))
    assert minted.status_code == 200
    stale = minted.json()["access_token"]
    assert parse_compact(stale).claims["iat"] <= clock().timestamp()  # dated now, too
    gen = parse_compact(stale).claims.get("gen", 0)
    listed = parse_compact(http.get("/.well-known/revocations.jwt").text).claims["clients"]
    assert gen < listed[client_key(cid)]  # minted from the record read before the change
    with _issuer.services.sessions() as session:  # the issuer-side check agrees
        assert is_revoked(session, jti=parse_compact(stale).claims["jti"], client_id=cid,
                          generation=token_generation(parse_compact(stale).claims),
                          now=clock())
