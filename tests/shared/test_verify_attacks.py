"""The token attacks of docs/threat-model.md §1 against AccessTokenVerifier: each row a
forged or broken token and the reason code it must get; after each, a good token still
verifies (nothing was harmed)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from helpers.mint import (
    DROP,
    P256_ORDER,
    changed,
    forge_hmac,
    forge_none,
    forge_psychic,
    good_claims,
    header_for,
    jwks,
    make_key,
    mint,
    public_pem,
    raw_token,
    sign_raw,
    signing_input,
    strip_signature,
    truncate_signature,
)

from shared.b64 import b64url_encode
from shared.claims import AccessTokenRules
from shared.errors import TokenError
from shared.jwk import KeySet, public_jwk
from shared.jws import MAX_TOKEN_BYTES
from shared.verify import AccessTokenVerifier

ISS, AUD, NOW = "https://issuer.example", "orders-api", 1_700_000_000
RSA_KEY, RSA_JWK = make_key("RS256")
EC_KEY, EC_JWK = make_key("ES256")
RSA_KID, EC_KID = RSA_JWK["kid"], EC_JWK["kid"]
ATTACKER_KEY, ATTACKER_JWK = make_key("RS256")


def claims(**changes):
    return changed(good_claims(ISS, AUD, now=NOW), changes)


def rs(claims_=None, **header):
    return mint(RSA_KEY, "RS256", claims_ or claims(), header_overrides=header, kid=RSA_KID)


def header_bytes(raw: str) -> bytes:
    return raw.encode()


def _good_hdr(**extra):
    return {"alg": "RS256", "typ": "at+jwt", "kid": RSA_KID, **extra}


FORGED_TOKENS = [
    # 1. alg none, any case, with or without a signature part
    ("none", lambda: forge_none(claims(), "none", RSA_KID), "alg_not_allowed"),
    ("None", lambda: forge_none(claims(), "None", RSA_KID), "alg_not_allowed"),
    ("NONE-with-sig", lambda: forge_none(claims(), "NONE", RSA_KID, b"x" * 32), "alg_not_allowed"),
    ("nOnE", lambda: forge_none(claims(), "nOnE", RSA_KID), "alg_not_allowed"),
    ("none-two-segments", lambda: forge_none(claims(), "none", RSA_KID)[:-1], "malformed"),
    # 2. null / truncated signature
    ("signature-stripped", lambda: strip_signature(rs()), "bad_signature"),
    # RSA-2048 signatures are 342 chars: cutting 2 leaves valid base64url (255 bytes)
    # that reaches the signature check; cutting 1 leaves an impossible length.
    ("signature-truncated", lambda: truncate_signature(rs(), 2), "bad_signature"),
    ("signature-one-char-cut", lambda: truncate_signature(rs(), 1), "malformed"),
    # 3. HMAC, including the RS/HS key confusion with the public key PEM as secret
    (
        "HS256-pubkey-pem",
        lambda: forge_hmac(public_pem(RSA_KEY), claims(), "HS256", RSA_KID),
        "alg_not_allowed",
    ),
    (
        "HS384-jwk-json",
        lambda: forge_hmac(json.dumps(RSA_JWK).encode(), claims(), "HS384", RSA_KID),
        "alg_not_allowed",
    ),
    ("HS512", lambda: forge_hmac(b"secret", claims(), "HS512", RSA_KID), "alg_not_allowed"),
    (
        "hs256-lowercase",
        lambda: forge_hmac(b"secret", claims(), "HS256", RSA_KID).replace(
            *_swap_alg("HS256", "hs256")
        ),
        "alg_not_allowed",
    ),
    # 4. alg that does not match the key
    (
        "ES256-token-RSA-kid",
        lambda: mint(EC_KEY, "ES256", claims(), kid=RSA_KID),
        "alg_not_allowed",
    ),
    (
        "PS256-with-RS256-key",
        lambda: mint(RSA_KEY, "PS256", claims(), kid=RSA_KID),
        "alg_not_allowed",
    ),
    (
        "RS512-with-RS256-key",
        lambda: mint(RSA_KEY, "RS512", claims(), kid=RSA_KID),
        "alg_not_allowed",
    ),
    # 5. embedded key sources are never used
    (
        "embedded-jwk",
        lambda: mint(
            ATTACKER_KEY, "RS256", claims(), kid=RSA_KID, header_overrides={"jwk": ATTACKER_JWK}
        ),
        "bad_signature",
    ),
    (
        "embedded-jwk-no-kid",
        lambda: mint(ATTACKER_KEY, "RS256", claims(), header_overrides={"jwk": ATTACKER_JWK}),
        "unknown_kid",
    ),
    (
        "jku",
        lambda: mint(
            ATTACKER_KEY,
            "RS256",
            claims(),
            kid=RSA_KID,
            header_overrides={"jku": "https://evil.example/jwks"},
        ),
        "bad_signature",
    ),
    (
        "x5u",
        lambda: mint(
            ATTACKER_KEY,
            "RS256",
            claims(),
            kid=RSA_KID,
            header_overrides={"x5u": "https://evil.example/cert"},
        ),
        "bad_signature",
    ),
    (
        "x5c",
        lambda: mint(
            ATTACKER_KEY, "RS256", claims(), kid=RSA_KID, header_overrides={"x5c": ["MIIBkTCB+wIJ"]}
        ),
        "bad_signature",
    ),
    (
        "x5t",
        lambda: mint(ATTACKER_KEY, "RS256", claims(), kid=RSA_KID, header_overrides={"x5t": "abc"}),
        "bad_signature",
    ),
    # 6. kid games: no fallback to other keys
    ("kid-empty", lambda: mint(RSA_KEY, "RS256", claims(), kid=""), "unknown_kid"),
    ("kid-missing-two-keys", lambda: mint(RSA_KEY, "RS256", claims()), "unknown_kid"),
    ("kid-unknown", lambda: mint(RSA_KEY, "RS256", claims(), kid="other"), "unknown_kid"),
    ("kid-path", lambda: mint(RSA_KEY, "RS256", claims(), kid="../../dev/null"), "unknown_kid"),
    ("kid-shell", lambda: mint(RSA_KEY, "RS256", claims(), kid="|sleep 10"), "unknown_kid"),
    (
        "kid-sql",
        lambda: mint(RSA_KEY, "RS256", claims(), kid="x' UNION SELECT '1';--"),
        "unknown_kid",
    ),
    ("kid-number", lambda: rs(kid=1), "unknown_kid"),
    ("kid-list", lambda: rs(kid=[RSA_KID]), "unknown_kid"),
    # 7. psychic signatures (CVE-2022-21449)
    ("ecdsa-r0-s0", lambda: forge_psychic(claims(), "ES256", EC_KID, 0, 0), "bad_signature"),
    ("ecdsa-r0", lambda: forge_psychic(claims(), "ES256", EC_KID, 0, 1), "bad_signature"),
    ("ecdsa-s0", lambda: forge_psychic(claims(), "ES256", EC_KID, 1, 0), "bad_signature"),
    (
        "ecdsa-r-s-n",
        lambda: forge_psychic(claims(), "ES256", EC_KID, P256_ORDER, P256_ORDER),
        "bad_signature",
    ),
    ("ecdsa-der-not-raw", lambda: _der_es256(), "bad_signature"),
    # 8. time
    ("expired", lambda: rs(claims(exp=NOW - 1)), "expired"),
    ("expired-at-exp", lambda: rs(claims(exp=NOW)), "expired"),
    ("nbf-future", lambda: rs(claims(nbf=NOW + 60)), "not_yet_valid"),
    ("iat-future", lambda: rs(claims(iat=NOW + 60)), "not_yet_valid"),
    ("exp-missing", lambda: rs(claims(exp=DROP)), "bad_claim"),
    # 9. wrong iss / aud / typ
    ("iss-wrong", lambda: rs(claims(iss="https://evil.example")), "wrong_issuer"),
    ("iss-trailing-slash", lambda: rs(claims(iss=ISS + "/")), "wrong_issuer"),
    ("aud-wrong", lambda: rs(claims(aud="other-api")), "wrong_audience"),
    ("aud-list-without-ours", lambda: rs(claims(aud=["a", "b"])), "wrong_audience"),
    ("typ-JWT", lambda: rs(typ="JWT"), "wrong_typ"),
    ("typ-missing", lambda: rs(typ=DROP), "wrong_typ"),
    ("typ-id-token", lambda: rs(typ="id_token+jwt"), "wrong_typ"),
    ("crit", lambda: rs(crit=["exp"]), "crit_unsupported"),
    # 10. claim types
    ("exp-string", lambda: rs(claims(exp=str(NOW + 300))), "bad_claim"),
    ("exp-bool", lambda: rs(claims(exp=True)), "bad_claim"),
    ("scope-list", lambda: rs(claims(scope=["orders:read"])), "bad_claim"),
    ("scope-null", lambda: rs(claims(scope=None)), "bad_claim"),
    ("scope-bad-chars", lambda: rs(claims(scope='orders:read "x"')), "bad_claim"),
    ("aud-number", lambda: rs(claims(aud=42)), "bad_claim"),
    ("sub-missing", lambda: rs(claims(sub=DROP)), "bad_claim"),
    ("client_id-number", lambda: rs(claims(client_id=7)), "bad_claim"),
    ("iat-string", lambda: rs(claims(iat="now")), "bad_claim"),
    # 11. structure, refused before any crypto
    ("two-segments", lambda: rs().rsplit(".", 1)[0], "malformed"),
    ("four-segments", lambda: rs() + ".AAAA", "malformed"),
    ("json-serialization", lambda: json.dumps({"payload": "e30", "signature": "AA"}), "malformed"),
    ("bad-base64url", lambda: rs().replace(".", "+.", 1), "malformed"),
    ("padded-base64url", lambda: _padded(rs()), "malformed"),
    ("non-utf8-header", lambda: raw_token(b"\xff\xfe{}", claims(), b"sig"), "malformed"),
    (
        "utf16-header",
        lambda: raw_token(json.dumps(_good_hdr()).encode("utf-16"), claims(), b"s"),
        "malformed",
    ),
    ("header-not-object", lambda: raw_token(b"[1]", claims(), b"s"), "malformed"),
    ("claims-not-object", lambda: sign_raw(RSA_KEY, "RS256", _good_hdr(), b'"x"'), "malformed"),
    (
        "dup-alg",
        lambda: raw_token(
            header_bytes(f'{{"alg":"none","alg":"RS256","typ":"at+jwt","kid":"{RSA_KID}"}}'),
            claims(),
            b"s",
        ),
        "malformed",
    ),
    (
        "dup-sub-signed",
        lambda: sign_raw(
            RSA_KEY,
            "RS256",
            _good_hdr(),
            json.dumps(claims()).replace('"sub":', '"sub":"admin","sub":').encode(),
        ),
        "malformed",
    ),
    (
        "nan-exp",
        lambda: sign_raw(
            RSA_KEY,
            "RS256",
            _good_hdr(),
            json.dumps(claims()).replace(f'"exp": {NOW + 300}', '"exp": NaN').encode(),
        ),
        "malformed",
    ),
    ("alg-missing", lambda: rs(alg=DROP), "malformed"),
    ("alg-number", lambda: rs(alg=256), "malformed"),
    ("oversized", lambda: rs(claims(pad="x" * MAX_TOKEN_BYTES)), "too_large"),
    ("not-a-string", lambda: rs().encode(), "malformed"),
    ("none-object", lambda: None, "malformed"),
    ("empty", lambda: "", "malformed"),
    ("deep-json", lambda: raw_token(b"[" * 2000 + b"]" * 2000, claims(), b"s"), "malformed"),
]


def _swap_alg(old: str, new: str) -> tuple[str, str]:
    def hdr(alg: str) -> str:
        return b64url_encode(
            json.dumps(
                {"alg": alg, "typ": "at+jwt", "kid": RSA_KID}, separators=(",", ":")
            ).encode()
        )

    return hdr(old), hdr(new)


def _padded(token: str) -> str:
    header, payload, signature = token.split(".")
    return f"{header}{'=' * (-len(header) % 4) or '=='}.{payload}.{signature}"


def _der_es256() -> str:
    # A valid ECDSA signature in DER (what OpenSSL emits) instead of JWS raw r||s.
    data = signing_input(header_for("ES256", EC_KID), claims())
    return data.decode() + "." + b64url_encode(EC_KEY.sign(data, ec.ECDSA(hashes.SHA256())))


@pytest.fixture(scope="module")
def verifier():
    # Two keys, so a token without kid has no unambiguous key (RFC 7515 §4.1.4).
    keys = KeySet.from_jwks(jwks(RSA_JWK, EC_JWK))
    assert len(keys.keys) == 2
    return AccessTokenVerifier(AccessTokenRules(ISS, frozenset({AUD})), keys.get)


@pytest.mark.parametrize(
    ("make_token", "code"), [a[1:] for a in FORGED_TOKENS], ids=[a[0] for a in FORGED_TOKENS]
)
def test_attack_refused_and_good_token_still_verifies(verifier, make_token, code):
    with pytest.raises(TokenError) as exc:
        verifier.verify(make_token(), now=NOW)
    assert exc.value.code == code
    assert verifier.verify(rs(), now=NOW).sub == "client-1"
    assert verifier.verify(mint(EC_KEY, "ES256", claims(), kid=EC_KID), now=NOW).aud == (AUD,)


def test_attacker_key_verifies_when_trusted_proving_forgeries_are_well_formed():
    # The embedded-jwk rows fail only because the key is untrusted, not by accident.
    attacker_set = KeySet.from_jwks(jwks(public_jwk(ATTACKER_KEY, "RS256")))
    verifier = AccessTokenVerifier(AccessTokenRules(ISS, frozenset({AUD})), attacker_set.get)
    token = mint(ATTACKER_KEY, "RS256", claims(), header_overrides={"jwk": ATTACKER_JWK})
    assert verifier.verify(token, now=NOW).client_id == "client-1"


def test_refusal_message_never_contains_the_token(verifier):
    token = rs(claims(exp=NOW - 1))
    with pytest.raises(TokenError) as exc:
        verifier.verify(token, now=NOW)
    signature = token.rsplit(".", 1)[1]
    assert signature not in str(exc.value) and token not in exc.value.detail
