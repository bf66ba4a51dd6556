"""AccessTokenVerifier wiring: clock default, key source failures, check order."""

from __future__ import annotations

import pytest
from helpers.mint import good_claims, make_key, mint

from shared.claims import AccessTokenRules
from shared.errors import KeySetError, TokenError
from shared.jwk import load_public_jwk
from shared.verify import AccessTokenVerifier

ISS, AUD = "https://issuer.example", "orders-api"
KEY, JWK = make_key("EdDSA")
RULES = AccessTokenRules(ISS, frozenset({AUD}))


def test_now_defaults_to_the_wall_clock():
    verifier = AccessTokenVerifier(RULES, {JWK["kid"]: load_public_jwk(JWK)}.get)
    fresh = mint(KEY, "EdDSA", good_claims(ISS, AUD), kid=JWK["kid"])
    stale = mint(KEY, "EdDSA", good_claims(ISS, AUD, now=1_000_000), kid=JWK["kid"])
    assert verifier.verify(fresh).client_id == "client-1"
    with pytest.raises(TokenError) as exc:
        verifier.verify(stale)
    assert exc.value.code == "expired"


def test_key_source_failure_is_not_a_bad_token():
    def lookup(kid):
        raise KeySetError("issuer down")

    verifier = AccessTokenVerifier(RULES, lookup)
    with pytest.raises(KeySetError):
        verifier.verify(mint(KEY, "EdDSA", good_claims(ISS, AUD), kid=JWK["kid"]))


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("a.b", "malformed"),
        (mint(KEY, "EdDSA", good_claims(ISS, AUD), {"typ": "JWT"}, kid="x"), "wrong_typ"),
        (mint(KEY, "EdDSA", good_claims(ISS, AUD), {"alg": "none"}, kid="x"), "alg_not_allowed"),
        (mint(KEY, "EdDSA", good_claims(ISS, AUD), kid="x"), "unknown_kid"),
    ],
    ids=["structure", "typ", "alg", "kid"],
)
def test_refused_before_any_key_lookup(token, code):
    looked_up = []

    def lookup(kid):
        looked_up.append(kid)
        return None

    with pytest.raises(TokenError) as exc:
        AccessTokenVerifier(RULES, lookup).verify(token)
    assert exc.value.code == code
    # Only a structurally sound, allowlisted token may cost a key lookup (docs/threat-model.md §1).
    assert looked_up == (["x"] if code == "unknown_kid" else [])
