"""Who may call /admin (docs/threat-model.md §3): bearer tokens of this issuer with the
`issuer:admin` scope and the issuer's URL as audience, verified by the shared verifier.
Every refusal is 401 (with a Bearer challenge) or 403, and changes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_admin import ADMIN, bearer, clocked_issuer, db_state, token_for
from helpers.issuer_env import ISSUER_URL
from helpers.mint import good_claims, make_key, mint

# Every admin endpoint, with a body that would be valid, so only the token decides.
ENDPOINTS = [
    ("POST", "/admin/clients", {"name": "x", "scopes": ["orders:read"]}),
    ("GET", "/admin/clients", None),
    ("GET", "/admin/clients/{cid}", None),
    ("PATCH", "/admin/clients/{cid}", {"name": "renamed"}),
    ("POST", "/admin/clients/{cid}/secret", None),
    ("DELETE", "/admin/clients/{cid}", None),
    ("GET", "/admin/keys", None),
    ("POST", "/admin/keys/rotate", None),
    ("GET", "/admin/audit", None),
]
ENDPOINT_IDS = [f"{m} {p}" for m, p, _ in ENDPOINTS]


@pytest.fixture(scope="module")
def admin_env(db_kind, databases, policy_file):
    issuer, clock = clocked_issuer(databases.new_url(db_kind), policy_file)
    with TestClient(issuer.app()) as http:
        admin = issuer.client([ADMIN], name="admin")
        reader = issuer.client(["orders:read"], name="reader")
        yield issuer, clock, http, admin, reader
    issuer.services.engine.dispose()


def call(http, method, path, body, headers, cid):
    url = path.format(cid=cid)
    return http.request(method, url, json=body, headers=headers)


def assert_refused(response, status, error, token_sent=True):
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer realm=")
    # RFC 6750 §3.1: a request with no authentication gets a challenge without an error.
    assert (f'error="{error}"' in challenge) is token_sent
    assert response.headers["cache-control"] == "no-store"


def _foreign_issuer_token(now):
    key, jwk = make_key("RS256")
    claims = good_claims("https://evil.example", ISSUER_URL, scope=ADMIN, now=now)
    return mint(key, "RS256", claims, kid=jwk["kid"])


def _unknown_key_token(now, admin_id):
    # Right issuer, audience and scope, but signed with a key this issuer never published.
    key, jwk = make_key("RS256")
    claims = good_claims(ISSUER_URL, ISSUER_URL, scope=ADMIN, now=now, client_id=admin_id)
    return mint(key, "RS256", claims, kid=jwk["kid"])


BAD_HEADERS = {
    "no-header": lambda env: {},
    "empty-bearer": lambda env: {"Authorization": "Bearer "},
    "basic-scheme": lambda env: {"Authorization": "Basic YWRtaW46c2VjcmV0"},
    "garbage-token": lambda env: bearer("not.a.token"),
    "foreign-issuer": lambda env: bearer(_foreign_issuer_token(env[1]().timestamp())),
    "unknown-key": lambda env: bearer(
        _unknown_key_token(env[1]().timestamp(), env[3].client.client_id)
    ),
    "api-audience": lambda env: bearer(
        token_for(env[2], env[4].client.client_id, env[4].client_secret)
    ),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize("bad", list(BAD_HEADERS))
def test_invalid_token_is_401_and_changes_nothing(admin_env, endpoint, bad):
    issuer, _clock, http, _admin, reader = admin_env
    method, path, body = endpoint
    before = db_state(issuer)
    response = call(http, method, path, body, BAD_HEADERS[bad](admin_env), reader.client.client_id)
    assert_refused(response, 401, "invalid_token", token_sent=bad != "no-header")
    assert db_state(issuer) == before


def test_malformed_body_without_token_is_still_401(admin_env):
    _issuer, _clock, http, _admin, _reader = admin_env
    response = http.post(
        "/admin/clients", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_refused(response, 401, "invalid_token", token_sent=False)


def test_token_without_admin_scope_is_403(admin_env):
    # Right issuer, key and audience, but not the scope: minted with the issuer's own key,
    # since the token endpoint would never grant it (the issuer's audience has one scope).
    issuer, clock, http, admin, _reader = admin_env
    signer = issuer.services.key_store.signer(issuer.services.sessions(), clock())
    claims = good_claims(ISSUER_URL, ISSUER_URL, scope="orders:read",
                         client_id=admin.client.client_id, now=clock().timestamp())
    scoped = mint(signer.private_key, signer.alg, claims, kid=signer.kid)
    before = db_state(issuer)
    for method, path, body in ENDPOINTS:
        response = call(http, method, path, body, bearer(scoped), admin.client.client_id)
        assert_refused(response, 403, "insufficient_scope")
        assert 'scope="issuer:admin"' in response.headers["www-authenticate"]
    assert db_state(issuer) == before


def test_expired_token_is_401(admin_env):
    issuer, clock, http, admin, _reader = admin_env
    token = token_for(http, admin.client.client_id, admin.client_secret)
    assert http.get("/admin/keys", headers=bearer(token)).status_code == 200
    clock.advance(issuer.settings.token_lifetime)
    response = http.get("/admin/keys", headers=bearer(token))
    assert_refused(response, 401, "invalid_token")
    assert "expired" in response.json()["error_description"]


def test_token_of_disabled_or_demoted_admin_stops_working(db_kind, databases, policy_file):
    issuer, _clock = clocked_issuer(databases.new_url(db_kind), policy_file)
    with TestClient(issuer.app()) as http:
        boss = issuer.client([ADMIN], name="boss")
        other = issuer.client([ADMIN], name="other")
        boss_h = bearer(token_for(http, boss.client.client_id, boss.client_secret))
        other_h = bearer(token_for(http, other.client.client_id, other.client_secret))
        cid = other.client.client_id
        assert http.patch(f"/admin/clients/{cid}", json={"enabled": False},
                          headers=boss_h).status_code == 200
        assert_refused(http.get("/admin/keys", headers=other_h), 401, "invalid_token")
        assert http.patch(f"/admin/clients/{cid}", json={"enabled": True},
                          headers=boss_h).status_code == 200
        # Re-enabled, but the token it held before the disable stays revoked.
        assert_refused(http.get("/admin/keys", headers=other_h), 401, "invalid_token")
        other_h = bearer(token_for(http, other.client.client_id, other.client_secret))
        assert http.get("/admin/keys", headers=other_h).status_code == 200
        response = http.patch(f"/admin/clients/{cid}", json={"scopes": ["orders:read"]},
                              headers=boss_h)
        assert response.status_code == 200, response.text
        assert_refused(http.get("/admin/keys", headers=other_h), 403, "insufficient_scope")
        assert http.delete(f"/admin/clients/{cid}", headers=boss_h).status_code == 204
        assert_refused(http.get("/admin/keys", headers=other_h), 401, "invalid_token")
    issuer.services.engine.dispose()


# -- revocation (RFC 7009 and client-wide): a revoked admin token has no admin power ------


def _two_processes(db_kind, databases, policy_file):
    """The admin's issuer (`http`) and a second instance on the same database and clock
    (another worker or Lambda instance), as tests/issuer/test_client_cache.py makes it."""
    from issuer.http.app import create_app
    from issuer.oauth.throttle import FailureThrottle
    from issuer.services import build_services

    issuer, clock = clocked_issuer(databases.new_url(db_kind), policy_file)
    second = build_services(issuer.settings, issuer.services.engine,
                            FailureThrottle(limit=1_000_000), clock=clock)
    return issuer, clock, TestClient(issuer.app()), TestClient(create_app(issuer.settings, second))


@pytest.fixture(scope="module")
def two_processes(db_kind, databases, policy_file):
    issuer, clock, http, other = _two_processes(db_kind, databases, policy_file)
    with http, other:
        yield issuer, clock, http, other
    issuer.services.engine.dispose()


def _admin(issuer, name="admin"):
    new = issuer.client([ADMIN], name=name)
    return new.client.client_id, new.client_secret


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_token_revoked_by_jti_is_401_at_every_route_in_every_process(two_processes, endpoint):
    issuer, _clock, http, other = two_processes
    admin = _admin(issuer)
    token = token_for(http, *admin)
    victim = issuer.client(["orders:read"], name="victim").client.client_id
    assert http.post("/oauth2/revoke", data={"token": token}, auth=admin).status_code == 200
    method, path, body = endpoint
    before = db_state(issuer)
    for process in (http, other):  # at once, here and in another process
        response = call(process, method, path, body, bearer(token), victim)
        assert_refused(response, 401, "invalid_token")
        assert "revoked" in response.json()["error_description"]
    assert db_state(issuer) == before


def _rotate_without_grace(http, headers, cid):
    response = http.post(f"/admin/clients/{cid}/secret", json={"grace_seconds": 0},
                         headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["client_secret"]


def test_token_from_before_a_no_grace_rotation_is_401_and_a_new_one_works_at_once(
    two_processes,
):
    issuer, _clock, http, other = two_processes
    cid, secret = _admin(issuer, "rotating")
    old = bearer(token_for(http, cid, secret))
    secret = _rotate_without_grace(http, old, cid)  # its own secret, with its own token
    for process in (http, other):
        assert_refused(process.get("/admin/keys", headers=old), 401, "invalid_token")
        # ... and it can no longer mint an admin client.
        made = process.post("/admin/clients", json={"name": "x", "scopes": [ADMIN]}, headers=old)
        assert_refused(made, 401, "invalid_token")
    fresh = bearer(token_for(http, cid, secret))  # the same second: no waiting
    for process in (http, other):
        assert process.get("/admin/keys", headers=fresh).status_code == 200


def test_token_minted_by_a_stale_process_after_a_disable_stays_revoked(two_processes):
    """The other process serves the admin client from its cache for the TTL after a
    disable and re-enable made here: what it mints meanwhile is revoked; what the
    client gets here after the re-enable works at once."""
    issuer, clock, http, other = two_processes
    boss = bearer(token_for(http, *_admin(issuer, "boss")))
    cid, secret = _admin(issuer, "flapping")
    assert token_for(other, cid, secret)  # cached in the other process now
    for enabled in (False, True):
        response = http.patch(f"/admin/clients/{cid}", json={"enabled": enabled}, headers=boss)
        assert response.status_code == 200, response.text
    clock.advance(1)
    stale = bearer(token_for(other, cid, secret))  # from its cached record
    fresh = bearer(token_for(http, cid, secret))
    for process in (http, other):
        assert_refused(process.get("/admin/keys", headers=stale), 401, "invalid_token")
        assert process.get("/admin/keys", headers=fresh).status_code == 200
