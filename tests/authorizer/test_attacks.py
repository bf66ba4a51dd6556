"""The token attacks of docs/threat-model.md §1 through the handler (case ids numbered
1-13 by attack class): every forged or broken token is a 401
(`Exception("Unauthorized")`), and afterwards the keys cache is unharmed: the next good
token passes and no JWKS fetch happened beyond the cooldown rule."""

from __future__ import annotations

import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers.mint import (
    DROP,
    P256_ORDER,
    forge_hmac,
    forge_none,
    forge_psychic,
    make_key,
    mint,
    public_pem,
    raw_token,
    sign_raw,
    strip_signature,
    truncate_signature,
)

from shared.b64 import b64url_encode

ATTACKER_RSA = make_key("RS256", kid="rsa-1")  # same kid as ours, different key
ATTACKER_EC = make_key("ES256", kid="ec-1")
EC_KEY = make_key("ES256", kid="ec-1")


def _rs(h, claims=None, header=None, kid="rsa-1"):
    return mint(h.private, "RS256", claims if claims is not None else h.claims(),
                header_overrides=header, kid=kid)


def _ec(h, claims=None, header=None, kid="ec-1"):
    return mint(EC_KEY[0], "ES256", claims if claims is not None else h.claims(),
                header_overrides=header, kid=kid)


def _without(claims: dict, name: str) -> dict:
    return {k: v for k, v in claims.items() if k != name}


def _payload_bytes(h) -> bytes:
    return json.dumps(h.claims()).encode()


def _small_rsa_jwk() -> tuple:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the attack)
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "kid": "small", "alg": "RS256", "use": "sig",
           "n": b64url_encode(numbers.n.to_bytes(128, "big")), "e": "AQAB"}
    return key, jwk


SMALL_RSA = _small_rsa_jwk()
ENC_KEY = make_key("RS256", kid="enc")
DUP_A = make_key("RS256", kid="dup")
DUP_B = make_key("RS256", kid="dup")
HMAC_SECRET = b"s3cr3t-shared-by-nobody"

# (id, token builder, expected reason code). Reason codes come from shared/errors.py.
FORGED_TOKENS = [
    # 1. alg none, any case, with or without a signature part
    *[pytest.param(lambda h, a=alg, s=sig: forge_none(h.claims(), alg=a, kid="rsa-1", sig=s),
                   "alg_not_allowed", id=f"1-{alg}-{'sig' if sig else 'nosig'}")
      for alg in ("none", "None", "NONE", "nOnE") for sig in (b"", b"junk")],
    # 2. null or truncated signature
    pytest.param(lambda h: strip_signature(_rs(h)), "bad_signature", id="2-null-signature"),
    pytest.param(lambda h: truncate_signature(_rs(h), 4), None, id="2-truncated-4"),
    pytest.param(lambda h: truncate_signature(_rs(h), 1), None, id="2-truncated-1"),
    # 3. HS* at all, including keyed with the public key (CVE-2016-10555)
    *[pytest.param(lambda h, a=alg: forge_hmac(public_pem(h.private), h.claims(), alg=a,
                                               kid="rsa-1"),
                   "alg_not_allowed", id=f"3-{alg}-public-pem") for alg in ("HS256", "HS384",
                                                                          "HS512")],
    pytest.param(lambda h: forge_hmac(json.dumps(h.jwk).encode(), h.claims(), kid="rsa-1"),
                 "alg_not_allowed", id="3-HS256-jwk-bytes"),
    pytest.param(lambda h: forge_hmac(HMAC_SECRET, h.claims(), kid=None), "alg_not_allowed",
                 id="3-HS256-no-kid"),
    # 4. alg not matching the key
    pytest.param(lambda h: mint(EC_KEY[0], "ES256", h.claims(), kid="rsa-1"), "alg_not_allowed",
                 id="4-ES256-token-RSA-key"),
    pytest.param(lambda h: _rs(h, header={"alg": "PS256"}), "alg_not_allowed",
                 id="4-PS256-header-RS256-key"),
    pytest.param(lambda h: mint(h.private, "RS512", h.claims(), kid="rsa-1"), "alg_not_allowed",
                 id="4-RS512-with-RS256-key"),
    pytest.param(lambda h: mint(h.private, "RS256", h.claims(), kid="ec-1"), "alg_not_allowed",
                 id="4-RS256-token-EC-key"),
    # 5. embedded key sources are ignored (never fetched, never trusted)
    pytest.param(lambda h: mint(ATTACKER_RSA[0], "RS256", h.claims(), kid="rsa-1",
                                header_overrides={"jwk": ATTACKER_RSA[1]}),
                 "bad_signature", id="5-embedded-jwk"),
    *[pytest.param(lambda h, m=member: mint(ATTACKER_RSA[0], "RS256", h.claims(),
                                           kid="attacker", header_overrides={
                                               m: "https://evil.example/jwks.json"}),
                   "unknown_kid", id=f"5-{member}") for member in ("jku", "x5u")],
    pytest.param(lambda h: mint(ATTACKER_RSA[0], "RS256", h.claims(), kid="rsa-1",
                                header_overrides={"x5c": ["MIIB"], "x5t": "abc"}),
                 "bad_signature", id="5-x5c-x5t"),
    # 6. kid games: no fallback to trying every key
    *[pytest.param(lambda h, k=kid: _rs(h, kid=k), "unknown_kid", id=f"6-kid-{name}")
      for name, kid in (("empty", ""), ("unknown", "nope"), ("path", "../../dev/null"),
                        ("shell", "|sleep 10"), ("sql", "x' UNION SELECT '1';--"))],
    pytest.param(lambda h: _rs(h, kid=None), "unknown_kid", id="6-kid-missing-several-keys"),
    pytest.param(lambda h: _rs(h, header={"kid": 7}), "unknown_kid", id="6-kid-number"),
    # 7. psychic ECDSA signatures (CVE-2022-21449)
    *[pytest.param(lambda h, r=r, s=s: forge_psychic(h.claims(), kid="ec-1", r=r, s=s),
                   "bad_signature", id=f"7-{name}")
      for name, r, s in (("r0-s0", 0, 0), ("r0", 0, 1), ("s0", 1, 0),
                         ("r-n", P256_ORDER, 1), ("s-n", 1, P256_ORDER))],
    pytest.param(lambda h: _ec(h)[:-4] + "AAAA", None, id="7-tampered-ec"),
    # 8. time
    pytest.param(lambda h: _rs(h, h.claims(exp=int(h.wall()) - 31)), "expired", id="8-expired"),
    pytest.param(lambda h: _rs(h, _without(h.claims(), "exp")), "bad_claim", id="8-no-exp"),
    pytest.param(lambda h: _rs(h, h.claims(nbf=int(h.wall()) + 120)), "not_yet_valid",
                 id="8-nbf-future"),
    pytest.param(lambda h: _rs(h, h.claims(iat=int(h.wall()) + 120)), "not_yet_valid",
                 id="8-iat-future"),
    # 9. issuer, audience, typ
    pytest.param(lambda h: _rs(h, h.claims(iss=h.ISSUER + "/")), "wrong_issuer",
                 id="9-iss-trailing-slash"),
    pytest.param(lambda h: _rs(h, h.claims(iss="https://evil.example")), "wrong_issuer",
                 id="9-iss-other"),
    pytest.param(lambda h: _rs(h, h.claims(aud="https://api.example.com/billing")),
                 "wrong_audience", id="9-aud-not-ours"),
    pytest.param(lambda h: _rs(h, h.claims(aud=[h.AUDIENCE + "x"])), "wrong_audience",
                 id="9-aud-prefix"),
    *[pytest.param(lambda h, t=typ: _rs(h, header={"typ": t}), "wrong_typ", id=f"9-typ-{typ}")
      for typ in ("JWT", "id_token+jwt", "at+jwt ", "")],
    pytest.param(lambda h: _rs(h, header={"typ": DROP}), "wrong_typ", id="9-typ-missing"),
    # 10. claim types
    *[pytest.param(lambda h, n=name, v=value: _rs(h, h.claims(**{n: v})), "bad_claim",
                   id=f"10-{name}-{label}")
      for name, value, label in (("exp", "9999999999", "string"), ("exp", True, "bool"),
                                 ("exp", None, "null"), ("scope", ["orders:read"], "list"),
                                 ("scope", 5, "number"), ("aud", 5, "number"),
                                 ("aud", [], "empty-list"), ("sub", 5, "number"),
                                 ("client_id", None, "null"), ("iss", None, "null"),
                                 # beyond float range: OverflowError, once internal_error
                                 ("exp", 10**400, "int-1e400"), ("nbf", 10**400, "int-1e400"),
                                 ("iat", 10**400, "int-1e400"), ("iat", -10**400, "int--1e400"))],
    pytest.param(lambda h: _rs(h, _without(h.claims(), "sub")), "bad_claim", id="10-no-sub"),
    # 11. structure, refused before crypto
    pytest.param(lambda h: ".".join(_rs(h).split(".")[:2]), "malformed", id="11-two-segments"),
    pytest.param(lambda h: _rs(h) + ".e30", "malformed", id="11-four-segments"),
    pytest.param(lambda h: json.dumps({"payload": "e30", "signatures": []}), None,
                 id="11-json-serialization"),
    pytest.param(lambda h: _rs(h).replace(".", ".*", 1), None, id="11-bad-base64"),
    pytest.param(lambda h: "=" + _rs(h), None, id="11-padding"),
    pytest.param(lambda h: raw_token({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"},
                                     b"\xff\xfe{}", b"x" * 256), "malformed",
                 id="11-non-utf8"),
    pytest.param(lambda h: sign_raw(h.private, "RS256",
                                    b'{"alg":"RS256","alg":"none","typ":"at+jwt","kid":"rsa-1"}',
                                    _payload_bytes(h)), "malformed", id="11-dup-header-key"),
    pytest.param(lambda h: sign_raw(h.private, "RS256",
                                    {"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"},
                                    _payload_bytes(h)[:-1] + b',"sub":"admin"}'), "malformed",
                 id="11-dup-claim"),
    pytest.param(lambda h: _rs(h, h.claims(pad="x" * 9000)), None, id="11-oversized"),
    pytest.param(lambda h: sign_raw(h.private, "RS256", b"[]", _payload_bytes(h)), "malformed",
                 id="11-header-not-object"),
    # 12. keys unfit for signatures are never used
    pytest.param(lambda h: mint(SMALL_RSA[0], "RS256", h.claims(), kid="small"), "unknown_kid",
                 id="12-rsa-1024"),
    pytest.param(lambda h: mint(ENC_KEY[0], "RS256", h.claims(), kid="enc"), "unknown_kid",
                 id="12-use-enc"),
    pytest.param(lambda h: mint(DUP_A[0], "RS256", h.claims(), kid="dup"), "unknown_kid",
                 id="12-duplicate-kid"),
    pytest.param(lambda h: forge_hmac(HMAC_SECRET, h.claims(), kid="oct"), "alg_not_allowed",
                 id="12-oct-key"),
]


def _unfit_jwks() -> list[dict]:
    enc = dict(ENC_KEY[1], use="enc")
    oct_key = {"kty": "oct", "kid": "oct", "alg": "HS256", "k": b64url_encode(HMAC_SECRET)}
    return [SMALL_RSA[1], enc, DUP_A[1], DUP_B[1], oct_key]


@pytest.fixture
def attacked(make_harness, rsa_key, fake_issuer):
    """Our RSA key and an EC key, plus every kind of unfit key, served by the issuer."""
    issuer = fake_issuer(rsa_key[1], EC_KEY[1], *_unfit_jwks())
    return make_harness(issuer=issuer)


@pytest.mark.parametrize(("build", "reason"), FORGED_TOKENS)
@pytest.mark.parametrize("kind", ["go-token", "go-request", "go-v2"])
def test_attack_token_is_unauthorized_and_cache_unharmed(attacked, events, build, reason, kind):
    h = attacked
    event = events(kind)
    h.handler(event.with_token(h.token()))  # warm: the first fetch happens here
    assert h.issuer.calls == 1
    token = build(h)
    with pytest.raises(Exception, match=r"\AUnauthorized\Z") as info:
        h.handler(event.with_authorization("Bearer " + token))
    assert type(info.value) is Exception
    line = h.last()
    assert line["decision"] == "unauthorized"
    if reason is not None:
        assert line["reason"] == reason
    # At most the one unknown-kid refetch of the cooldown rule; a URL from the token
    # (jku, x5u) is never fetched.
    assert h.issuer.calls <= 2
    assert set(h.issuer.uris) == {h.settings.jwks_uri}
    response = h.handler(event.with_token(h.token("orders:read orders:write")))
    assert response.get("isAuthorized", True) is True
    assert h.issuer.calls <= 2


def test_unfit_keys_were_offered_and_rejected(attacked):
    h = attacked
    keys = h.authorizer._keys
    keys.get("rsa-1")
    assert {key.kid for key in keys.keys.keys} == {"rsa-1", "ec-1"}
    assert {kid for kid, _ in keys.keys.rejected} >= {"small", "enc", "dup", "oct"}


@pytest.mark.parametrize("kind", ["go-token", "go-request", "go-v2"])
def test_flood_of_random_kids_costs_one_fetch_per_cooldown(attacked, events, kind):
    h = attacked
    event = events(kind)
    h.handler(event.with_token(h.token()))
    assert h.issuer.calls == 1
    h.clock.advance(61)  # past the cooldown of the first fetch
    for _ in range(500):
        token = mint(ATTACKER_RSA[0], "RS256", h.claims(), kid=uuid.uuid4().hex)
        with pytest.raises(Exception, match="Unauthorized"):
            h.handler(event.with_authorization("Bearer " + token))
    assert h.issuer.calls == 2  # the first random kid refetched; the other 499 did not
    assert all(line["reason"] == "unknown_kid" for line in h.decisions()[1:])
    h.clock.advance(61)
    for _ in range(100):
        token = mint(ATTACKER_RSA[0], "RS256", h.claims(), kid=uuid.uuid4().hex)
        with pytest.raises(Exception, match="Unauthorized"):
            h.handler(event.with_authorization("Bearer " + token))
    assert h.issuer.calls == 3  # one more per cooldown, no more
    response = h.handler(event.with_token(h.token("orders:read orders:write")))
    assert response.get("isAuthorized", True) is True
    assert h.issuer.calls == 3


def test_token_signed_by_kid_the_issuer_publishes_later_passes_after_refetch(
    make_harness, rsa_key, fake_issuer, events
):
    issuer = fake_issuer(rsa_key[1])
    h = make_harness(issuer=issuer)
    event = events("go-request")
    h.handler(event.with_token(h.token()))
    rotated = make_key("RS256", kid="rsa-2")
    issuer.doc["keys"].append(rotated[1])
    h.clock.advance(61)
    token = h.token(key=rotated[0], kid="rsa-2")
    assert h.handler(event.with_token(token))["principalId"] == "client-1"
    assert issuer.calls == 2


def test_structural_refusals_cost_no_crypto_and_no_fetch(attacked, events):
    h = attacked
    event = events("go-request")
    for token in ("a.b", "a.b.c.d", "x" * 9000, "e30.e30.", "....."):
        with pytest.raises(Exception, match="Unauthorized"):
            h.handler(event.with_authorization("Bearer " + token))
    assert h.issuer.calls == 0



@pytest.mark.parametrize("kind", ["go-token", "go-request", "go-v2"])
def test_kid_null_is_refused_when_the_jwks_holds_one_key(harness, events, kind):
    """RFC 7515 §4.1.4: kid is a string. `"kid": null` is not an absent kid, so it must
    not select the sole key that a token without a kid would be checked against."""
    h = harness
    assert len(h.issuer.doc["keys"]) == 1
    event = events(kind)
    no_kid = mint(h.private, "RS256", h.claims("orders:read orders:write"), kid=None)
    assert h.handler(event.with_token(no_kid)).get("isAuthorized", True) is True
    null_kid = mint(h.private, "RS256", h.claims(), header_overrides={"kid": None})
    with pytest.raises(Exception, match=r"\AUnauthorized\Z"):
        h.handler(event.with_authorization("Bearer " + null_kid))
    assert (h.last()["decision"], h.last()["reason"]) == ("unauthorized", "unknown_kid")
