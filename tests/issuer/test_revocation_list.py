"""GET /.well-known/revocations.jwt: a JWS signed with the active key, verifiable with the
published JWKS, holding exactly the revocations still in force."""

from __future__ import annotations

import pytest
from helpers.issuer_admin import token_for
from helpers.issuer_env import ISSUER_URL, ORDERS

from authorizer.revocation import parse_revocation_list
from issuer.revocation import LIST_LIFETIME, revoke_client
from shared.claims import AccessTokenRules
from shared.errors import TokenError
from shared.jwk import KeySet
from shared.jws import parse_compact
from shared.verify import AccessTokenVerifier


def fetch(http):
    response = http.get("/.well-known/revocations.jwt")
    assert response.status_code == 200
    keys = KeySet.from_jwks(http.get("/.well-known/jwks.json").json())
    return response, keys


def test_empty_list_is_signed_and_short_lived(env):
    _, clock, http = env
    response, keys = fetch(http)
    assert response.headers["content-type"] == "application/jwt"
    assert response.headers["cache-control"] == "public, max-age=30"
    compact = parse_compact(response.text)
    assert compact.header["typ"] == "revocation-list+jwt"
    assert compact.header["kid"] in {key.kid for key in keys.keys}
    now = clock().timestamp()
    assert compact.claims == {"iss": ISSUER_URL, "iat": int(now), "exp": int(now) + LIST_LIFETIME,
                              "jtis": {}, "clients": {}}
    parsed = parse_revocation_list(response.content, keys.get, ISSUER_URL, now)
    assert parsed.jtis == {} and parsed.clients == {}


def test_revocations_appear_until_they_expire(env):
    issuer, clock, http = env
    new = issuer.client(["orders:read"], name="listed")
    caller = (new.client.client_id, new.client_secret)
    token = token_for(http, *caller)
    claims = parse_compact(token).claims
    assert http.post("/oauth2/revoke", data={"token": token}, auth=caller).status_code == 200
    with issuer.services.sessions() as session:
        revoke_client(session, "c_deleted_one", "deleted", clock())
        session.commit()
    response, keys = fetch(http)
    listed = parse_revocation_list(response.content, keys.get, ISSUER_URL, clock().timestamp())
    assert listed.jtis == {claims["jti"]: claims["exp"]}
    assert listed.clients == {"c_deleted_one": int(clock().timestamp())}

    clock.advance(issuer.settings.token_lifetime)  # the revoked token has expired
    response, keys = fetch(http)
    listed = parse_revocation_list(response.content, keys.get, ISSUER_URL, clock().timestamp())
    assert listed.jtis == {}
    assert "c_deleted_one" in listed.clients  # kept for the longest token lifetime


def test_the_list_never_passes_for_an_access_token(env):
    _, clock, http = env
    response, keys = fetch(http)
    rules = AccessTokenRules(issuer=ISSUER_URL, audiences={ORDERS, ISSUER_URL})
    with pytest.raises(TokenError) as refused:
        AccessTokenVerifier(rules, keys.get).verify(response.text, clock().timestamp())
    assert refused.value.code == "wrong_typ"
