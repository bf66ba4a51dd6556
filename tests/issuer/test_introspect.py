"""POST /oauth2/introspect (RFC 7662): authenticated callers only; a live own token is
described (§2.2 members); expired, revoked, foreign, malformed and other clients' tokens
are `{"active": false}` and nothing else; issuer:admin callers see any token."""

from __future__ import annotations

import pytest
from helpers.client_assertion import assertion_form, client_assertion
from helpers.issuer_admin import token_for
from helpers.issuer_env import BILLING, ISSUER_URL, ORDERS
from helpers.mint import good_claims, make_key, mint

from issuer.oauth.access_token import mint_access_token


@pytest.fixture(scope="module")
def alice(env):
    new = env[0].client(["orders:read", "billing:read"], name="alice")
    return new.client.client_id, new.client_secret


@pytest.fixture(scope="module")
def bob(env):
    new = env[0].client(["orders:read"], name="bob")
    return new.client.client_id, new.client_secret


@pytest.fixture(scope="module")
def admin(env):
    new = env[0].client(["issuer:admin"], name="admin")
    return new.client.client_id, new.client_secret


def introspect(http, caller, token, **extra):
    return http.post("/oauth2/introspect", data={"token": token, **extra}, auth=caller)


def test_own_token_is_described(env, alice):
    issuer, clock, http = env
    token = token_for(http, *alice, scope="orders:read")
    response = introspect(http, alice, token, token_type_hint="access_token")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    now = int(clock().timestamp())
    assert body == {
        "active": True,
        "scope": "orders:read",
        "client_id": alice[0],
        "sub": alice[0],
        "aud": ORDERS,
        "iss": ISSUER_URL,
        "exp": now + issuer.settings.token_lifetime,
        "iat": now,
        "jti": body["jti"],
        "token_type": "Bearer",
    }
    assert isinstance(body["jti"], str) and body["jti"]


def test_client_secret_post_and_unknown_hint(env, alice):
    _, _, http = env
    token = token_for(http, *alice)
    response = http.post("/oauth2/introspect", data={
        "token": token, "token_type_hint": "refresh_token",
        "client_id": alice[0], "client_secret": alice[1]})
    assert response.json()["active"] is True


def test_private_key_jwt_caller(env):
    issuer, clock, http = env
    private, jwk = make_key("ES256", kid="k1")
    new = issuer.client(["orders:read"], name="signer", auth_method="private_key_jwt",
                        jwks={"keys": [jwk]})
    cid = new.client.client_id

    def assertion():
        return client_assertion(private, "ES256", cid, ISSUER_URL + "/oauth2/token",
                                clock().timestamp(), kid="k1")

    token = http.post("/oauth2/token", data=assertion_form(assertion())).json()["access_token"]
    form = assertion_form(assertion(), token=token)
    del form["grant_type"]
    assert http.post("/oauth2/introspect", data=form).json()["client_id"] == cid


@pytest.mark.parametrize("auth", [None, ("c_nobody", "x"), "wrong-secret"])
def test_unauthenticated_caller_is_invalid_client(env, alice, auth):
    _, _, http = env
    token = token_for(http, *alice)
    if auth == "wrong-secret":
        auth = (alice[0], "not-the-secret")
    response = http.post("/oauth2/introspect", data={"token": token}, auth=auth)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "active" not in response.text


def test_token_parameter_required(env, alice):
    response = env[2].post("/oauth2/introspect", data={}, auth=alice)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_other_clients_token_is_inactive_for_them_active_for_admin(env, alice, bob, admin):
    _, _, http = env
    bobs = token_for(http, *bob)
    assert introspect(http, alice, bobs).json() == {"active": False}
    assert introspect(http, bob, bobs).json()["active"] is True
    seen_by_admin = introspect(http, admin, bobs).json()
    assert seen_by_admin["active"] is True and seen_by_admin["client_id"] == bob[0]


def _inactive_tokens(issuer, clock, alice):
    services = issuer.services
    now = int(clock().timestamp())
    with services.sessions() as session:
        signer = services.key_store.signer(session, clock())
    expired = mint_access_token(signer, issuer=ISSUER_URL, client_id=alice[0], audience=ORDERS,
                                scope="orders:read", lifetime=60, now=now - 3600).token
    foreign_key, _ = make_key("RS256")
    foreign = mint(foreign_key, "RS256",
                   good_claims(ISSUER_URL, ORDERS, client_id=alice[0], now=now),
                   kid=signer.kid)
    other_issuer = mint_access_token(signer, issuer="https://evil.test", client_id=alice[0],
                                     audience=ORDERS, scope="orders:read", lifetime=60,
                                     now=now).token
    unknown_aud = mint_access_token(signer, issuer=ISSUER_URL, client_id=alice[0],
                                    audience="https://not-ours.test", scope="orders:read",
                                    lifetime=60, now=now).token
    return {
        "expired": expired,
        "foreign_key": foreign,
        "other_issuer": other_issuer,
        "unknown_audience": unknown_aud,
        "malformed": "not-a-token",
        "alg_none": expired.split(".")[0] + ".e30.",
        "long_garbage": "a" * 7000,  # a longer body is refused by the 8 KiB form limit
    }


@pytest.mark.parametrize("case", ["expired", "foreign_key", "other_issuer", "unknown_audience",
                                  "malformed", "alg_none",
                                  "long_garbage"])
def test_inactive_tokens_say_only_active_false(env, alice, case):
    issuer, clock, http = env
    token = _inactive_tokens(issuer, clock, alice)[case]
    response = introspect(http, alice, token)
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_expiry_follows_the_clock(env, alice):
    issuer, clock, http = env
    token = token_for(http, *alice)
    clock.advance(issuer.settings.token_lifetime - 1)
    assert introspect(http, alice, token).json()["active"] is True
    clock.advance(1)  # RFC 7519 §4.1.4: not accepted on or after exp
    assert introspect(http, alice, token).json() == {"active": False}


def test_revoked_token_is_inactive(env, alice):
    _, _, http = env
    token = token_for(http, *alice)
    assert http.post("/oauth2/revoke", data={"token": token}, auth=alice).status_code == 200
    assert introspect(http, alice, token).json() == {"active": False}


def test_admin_token_for_the_issuer_is_described(env, admin):
    _, _, http = env
    token = token_for(http, *admin)
    body = introspect(http, admin, token).json()
    assert body["aud"] == ISSUER_URL and body["scope"] == "issuer:admin"


def test_billing_audience_is_ours_too(env, alice):
    _, _, http = env
    form = {"grant_type": "client_credentials", "scope": "billing:read", "audience": BILLING}
    token = http.post("/oauth2/token", data=form, auth=alice).json()["access_token"]
    assert introspect(http, alice, token).json()["aud"] == BILLING


def test_metadata_advertises_introspection(env):
    doc = env[2].get("/.well-known/oauth-authorization-server").json()
    assert doc["introspection_endpoint"] == ISSUER_URL + "/oauth2/introspect"
    assert "private_key_jwt" in doc["introspection_endpoint_auth_methods_supported"]
