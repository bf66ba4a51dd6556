"""The token endpoint's client cache (issuer/client_cache.py) and cached signer.

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
from helpers.issuer_admin import ADMIN, bearer, clocked_issuer, token_for
from sqlalchemy import event

from issuer import client_cache
from issuer.app import create_app
from issuer.client_cache import ClientCache
from issuer.models import utcnow
from issuer.oauth.throttle import FailureThrottle
from issuer.services import build_services
from shared.jws import parse_compact

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


def test_reenabled_client_after_revocation_gets_a_later_iat(env):
    """The revocation record comes with the cached client: a token minted after a
    disable is dated after its cut-off (revocation.earliest_iat), which reaches the
    client-cache TTL past the change, from the cache too."""
    _issuer, clock, http, _other = env
    cid, secret = new_client(http)
    disable(http, cid)
    assert http.patch(f"/admin/clients/{cid}", json={"enabled": True}).status_code == 200
    for _ in range(2):  # the second from the cache
        token = token_for(http, cid, secret)
        assert parse_compact(token).claims["iat"] == int(clock().timestamp()) + TTL + 1


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
    from issuer.oauth.client_auth import TokenRequest
    from issuer.routes.token import _answerable_from_memory

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
    """The other instance may still mint for the TTL (above); the client's revocation
    cut-off reaches past that window, so what it mints is on the revocation list."""
    _issuer, clock, http, other = env
    cid, secret = new_client(http)
    assert status(other, cid, secret) == 200  # cached in the other instance
    change(http, cid)
    clock.advance(TTL - 1)
    minted = other.post("/oauth2/token", data={"grant_type": "client_credentials"},
                        auth=(cid, secret))
    assert minted.status_code == 200
    iat = parse_compact(minted.json()["access_token"]).claims["iat"]
    listed = parse_compact(http.get("/.well-known/revocations.jwt").text).claims["clients"]
    assert iat <= listed[cid]
