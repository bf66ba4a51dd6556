"""The issuer signs its access tokens with PyJWT (`jwt.encode`), and the result is the
RFC 9068 token the verifiers expect: header exactly `alg`, `typ: at+jwt`, `kid` (no
`typ: JWT` added), claims in compact JSON, accepted by PyJWT and by `shared.verify`."""

from __future__ import annotations

import json

import jwt
import pytest
from helpers.mint import make_key

from issuer.keys.store import Signer
from issuer.oauth.access_token import mint_access_token
from shared.b64 import b64url_decode
from shared.claims import AccessTokenRules
from shared.jwk import KeySet
from shared.verify import AccessTokenVerifier

ISSUER = "https://issuer.test"
AUD = "https://orders.test"
NOW = 1_700_000_000


def _mint(signer: Signer) -> str:
    return mint_access_token(signer, issuer=ISSUER, client_id="c_1", audience=AUD,
                             scope="orders:read orders:write", lifetime=600, now=NOW).token


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"])
def test_minted_token_is_exact_and_both_verifiers_accept_it(alg):
    private_key, jwk = make_key(alg)
    signer = Signer(kid=jwk["kid"], alg=alg, private_key=private_key)
    token = _mint(signer)
    header_b64, payload_b64, _ = token.split(".")
    assert json.loads(b64url_decode(header_b64)) == {"alg": alg, "typ": "at+jwt",
                                                     "kid": jwk["kid"]}
    payload = b64url_decode(payload_b64)
    claims = json.loads(payload)
    # Compact JSON (RFC 7515 §7.1 leaves it free; smaller tokens): no whitespace at all.
    assert payload == json.dumps(claims, separators=(",", ":")).encode()
    assert claims == {"iss": ISSUER, "sub": "c_1", "aud": AUD, "exp": NOW + 600, "iat": NOW,
                      "jti": claims["jti"], "client_id": "c_1",
                      "scope": "orders:read orders:write"}
    ours = AccessTokenVerifier(AccessTokenRules(ISSUER, frozenset({AUD})),
                               KeySet.from_jwks({"keys": [jwk]}).get).verify(token, now=NOW)
    assert ours.claims == claims
    theirs = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[alg], audience=AUD,
                        issuer=ISSUER, options={"verify_exp": False})
    assert theirs == claims


def test_issuer_signs_with_pyjwt(monkeypatch):
    private_key, jwk = make_key("ES256")
    calls = []
    real = jwt.encode

    def spy(*args, **kwargs):
        calls.append(kwargs.get("algorithm"))
        return real(*args, **kwargs)

    monkeypatch.setattr(jwt, "encode", spy)
    _mint(Signer(kid=jwk["kid"], alg="ES256", private_key=private_key))
    assert calls == ["ES256"]
