"""Strict JOSE at the issuer (issue 12, items 11-12): a signed token or client assertion
whose `exp`, `nbf` or `iat` is an integer beyond float range (10**400: OverflowError in
float arithmetic) is refused like any malformed claim, and `"kid": null` never selects
a one-key set's sole key (RFC 7515 §4.1.4), at every place the issuer verifies:
- the admin guard: 401 `invalid_token`, never 500;
- introspection: `{"active": false}`, never 500;
- the token endpoint's private_key_jwt assertion: `invalid_client`, never 500."""

from __future__ import annotations

import pytest
from helpers.client_assertion import assertion_form, client_assertion
from helpers.issuer_admin import bearer
from helpers.issuer_env import ISSUER_URL, ORDERS
from helpers.mint import DROP, good_claims, make_key, mint

HUGE = 10**400
TOKEN_ENDPOINT = ISSUER_URL + "/oauth2/token"
IDS = ["exp-1e400", "nbf-1e400", "iat-1e400", "iat--1e400"]


def _signer(issuer, clock):
    services = issuer.services
    with services.sessions() as session:
        return services.key_store.signer(session, clock())


def _own_token(issuer, clock, *, audience, scope, client_id, header=None, **claims):
    """A token signed with the issuer's active key, claims as given."""
    signer = _signer(issuer, clock)
    body = good_claims(ISSUER_URL, audience, scope=scope, client_id=client_id,
                       now=clock().timestamp())
    body.update(claims)
    return mint(signer.private_key, signer.alg, body,
                header_overrides=header, kid=signer.kid)


def _published_keys(http) -> int:
    return len(http.get("/.well-known/jwks.json").json()["keys"])


# -- admin guard ------------------------------------------------------------------------


def _admin_token(admin_env, **kwargs):
    issuer, clock, _, admin = admin_env
    return _own_token(issuer, clock, audience=ISSUER_URL, scope="issuer:admin",
                      client_id=admin.client.client_id, **kwargs)


def test_hand_signed_admin_token_is_accepted(admin_env):
    # The control: the tokens below differ from this one only by the claim or member.
    http = admin_env[2]
    assert http.get("/admin/audit", headers=bearer(_admin_token(admin_env))).status_code == 200
    no_kid = _admin_token(admin_env, header={"kid": DROP})
    assert _published_keys(http) == 1  # so an absent kid selects the one key
    assert http.get("/admin/audit", headers=bearer(no_kid)).status_code == 200


@pytest.mark.parametrize(("claim", "value"), [("exp", HUGE), ("nbf", HUGE), ("iat", HUGE),
                                              ("iat", -HUGE)], ids=IDS)
def test_admin_token_with_numeric_date_beyond_float_range_is_401(admin_env, claim, value):
    http = admin_env[2]
    response = http.get("/admin/audit", headers=bearer(_admin_token(admin_env, **{claim: value})))
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_admin_token_with_kid_null_is_401(admin_env):
    http = admin_env[2]
    assert _published_keys(http) == 1  # an absent kid would select this one key
    token = _admin_token(admin_env, header={"kid": None})
    response = http.get("/admin/audit", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


# -- introspection ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def alice(env):
    new = env[0].client(["orders:read"], name="alice")
    return new.client.client_id, new.client_secret


def _introspect(env, alice, token):
    return env[2].post("/oauth2/introspect", data={"token": token}, auth=alice)


def _alice_token(env, alice, **kwargs):
    issuer, clock, _ = env
    return _own_token(issuer, clock, audience=ORDERS, scope="orders:read", client_id=alice[0],
                      **kwargs)


def test_hand_signed_token_is_introspected_active(env, alice):
    response = _introspect(env, alice, _alice_token(env, alice))
    assert response.status_code == 200
    assert response.json()["active"] is True


@pytest.mark.parametrize(("claim", "value"), [("exp", HUGE), ("nbf", HUGE), ("iat", HUGE)],
                         ids=IDS[:3])
def test_introspected_numeric_date_beyond_float_range_is_inactive(env, alice, claim,
                                                                  value):
    response = _introspect(env, alice, _alice_token(env, alice, **{claim: value}))
    assert response.status_code == 200, response.text
    assert response.json() == {"active": False}


def test_introspected_kid_null_is_inactive(env, alice):
    token = _alice_token(env, alice, header={"kid": None})
    response = _introspect(env, alice, token)
    assert response.status_code == 200, response.text
    assert response.json() == {"active": False}


# -- private_key_jwt assertions ---------------------------------------------------------


@pytest.fixture(scope="module")
def signer_client(env):
    """A private_key_jwt client with a single key: an absent kid selects it."""
    private, jwk = make_key("ES256", kid="only")
    new = env[0].client(["orders:read"], name="one-key", auth_method="private_key_jwt",
                              jwks={"keys": [jwk]})
    return private, new.client.client_id


def _assert(env, signer_client, **kwargs):
    _, clock, http = env
    private, cid = signer_client
    assertion = client_assertion(private, "ES256", cid, TOKEN_ENDPOINT, clock().timestamp(),
                                 **kwargs)
    return http.post("/oauth2/token", data=assertion_form(assertion))


def _invalid_client(response):
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def test_assertion_control_is_accepted(env, signer_client):
    assert _assert(env, signer_client, kid="only").status_code == 200
    assert _assert(env, signer_client).status_code == 200  # no kid: the sole key


@pytest.mark.parametrize(("claim", "value"), [("exp", HUGE), ("nbf", HUGE), ("iat", HUGE),
                                              ("iat", -HUGE)], ids=IDS)
def test_assertion_numeric_date_beyond_float_range_is_invalid_client(env, signer_client,
                                                                     claim, value):
    _invalid_client(_assert(env, signer_client, kid="only", **{claim: value}))


def test_assertion_kid_null_is_invalid_client(env, signer_client):
    _invalid_client(_assert(env, signer_client, header={"kid": None}))
