"""Who may call /admin (ATTACKS.md 19): bearer tokens of this issuer with the
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
        assert http.get("/admin/keys", headers=other_h).status_code == 200
        response = http.patch(f"/admin/clients/{cid}", json={"scopes": ["orders:read"]},
                              headers=boss_h)
        assert response.status_code == 200, response.text
        assert_refused(http.get("/admin/keys", headers=other_h), 403, "insufficient_scope")
        assert http.delete(f"/admin/clients/{cid}", headers=boss_h).status_code == 204
        assert_refused(http.get("/admin/keys", headers=other_h), 401, "invalid_token")
    issuer.services.engine.dispose()
