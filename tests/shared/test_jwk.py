"""JWK loading policy (RFC 7517, docs/threat-model.md §1) and the key set lookup rules."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers.mint import make_key

from shared.b64 import b64url_encode
from shared.errors import KeyRejected, KeySetError
from shared.jwa import generate_private_key, sign
from shared.jwk import (
    PRIVATE_JWK_MEMBERS,
    KeySet,
    PublicKey,
    RefetchedKeys,
    load_public_jwk,
    public_jwk,
    thumbprint,
)

ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
RSA_KEY, RSA_JWK = make_key("RS256")
EC_KEY, EC_JWK = make_key("ES256")
ED_KEY, ED_JWK = make_key("EdDSA")


@pytest.mark.parametrize("alg", ALGS)
def test_published_key_round_trips_and_verifies(alg):
    private_key = generate_private_key(alg)
    jwk = public_jwk(private_key, alg)
    assert jwk["kid"] == thumbprint(jwk) and jwk["use"] == "sig" and jwk["alg"] == alg
    assert not PRIVATE_JWK_MEMBERS & jwk.keys()
    key = load_public_jwk(jwk)
    signature = sign(private_key, alg, b"signing input")
    assert key.alg == alg and key.kid == jwk["kid"]
    assert key.verify(b"signing input", signature)
    assert not key.verify(b"signing inpuT", signature)
    assert not key.verify(b"signing input", signature[:-1])
    assert not key.verify(b"signing input", b"")


def _without(jwk, *names):
    return {k: v for k, v in jwk.items() if k not in names}


@pytest.mark.parametrize(
    ("jwk", "alg"),
    [
        (_without(RSA_JWK, "alg"), "RS256"),
        (_without(EC_JWK, "alg"), "ES256"),
        (_without(public_jwk(generate_private_key("ES384"), "ES384"), "alg"), "ES384"),
        (_without(public_jwk(generate_private_key("ES512"), "ES512"), "alg"), "ES512"),
        (_without(ED_JWK, "alg"), "EdDSA"),
        ({**RSA_JWK, "alg": "PS512"}, "PS512"),
        ({**RSA_JWK, "key_ops": ["verify"]}, "RS256"),
        (_without(RSA_JWK, "use", "kid"), "RS256"),
    ],
    ids=["rsa", "p256", "p384", "p521", "ed25519", "rsa-pinned-ps512", "key-ops", "bare"],
)
def test_algorithm_comes_from_the_key(jwk, alg):
    assert load_public_jwk(jwk).alg == alg


def _rsa_jwk(n: int, e: int) -> dict:
    def enc(v):
        return b64url_encode(v.to_bytes((v.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "n": enc(n), "e": enc(e)}


_N2048 = RSA_KEY.public_key().public_numbers().n
_N1024 = rsa.generate_private_key(65537, 1024).public_key().public_numbers().n  # noqa: S505

REJECTED = [
    ("use-enc", {**RSA_JWK, "use": "enc"}, "use"),
    ("key-ops-sign-only", {**RSA_JWK, "key_ops": ["sign"]}, "key_ops"),
    ("key-ops-not-list", {**RSA_JWK, "key_ops": "verify"}, "key_ops"),
    ("oct", {"kty": "oct", "k": "c2VjcmV0"}, "symmetric"),
    ("rsa-1024", _rsa_jwk(_N1024, 65537), "modulus"),
    ("rsa-e-1", _rsa_jwk(_N2048, 1), "exponent"),
    ("rsa-e-even", _rsa_jwk(_N2048, 65538), "exponent"),
    ("rsa-e-3", _rsa_jwk(_N2048, 3), "exponent"),
    ("ec-off-curve", {**EC_JWK, "y": EC_JWK["x"]}, "curve"),
    ("ec-short-coordinate", {**EC_JWK, "x": EC_JWK["x"][:-3]}, "length"),
    ("ec-unknown-crv", {**EC_JWK, "crv": "secp256k1", "alg": "ES256K"}, "not allowed"),
    ("ec-crv-mismatch", {**EC_JWK, "crv": "P-384"}, "fit"),
    ("ed448", {**ED_JWK, "crv": "Ed448"}, "Ed25519"),
    ("rsa-alg-es256", {**RSA_JWK, "alg": "ES256"}, "fit"),
    ("rsa-alg-hs256", {**RSA_JWK, "alg": "HS256"}, "not allowed"),
    ("rsa-alg-none", {**RSA_JWK, "alg": "none"}, "not allowed"),
    ("ec-alg-es384", {**EC_JWK, "alg": "ES384"}, "fit"),
    ("ed-alg-rs256", {**ED_JWK, "alg": "RS256"}, "fit"),
    ("private-d", {**EC_JWK, "d": "AAAA"}, "private"),
    ("private-p", {**RSA_JWK, "p": "AAAA"}, "private"),
    ("kid-number", {**RSA_JWK, "kid": 7}, "kid"),
    ("n-number", {**RSA_JWK, "n": 12345}, "'n'"),
    ("n-bad-b64", {**RSA_JWK, "n": RSA_JWK["n"] + "=="}, "base64url"),
    ("kty-missing", _without(RSA_JWK, "kty"), "kty"),
    ("kty-unknown", {**RSA_JWK, "kty": "DSA"}, "kty"),
    ("not-an-object", ["kty", "RSA"], "object"),
]


@pytest.mark.parametrize(("jwk", "reason"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_unfit_keys_rejected_with_a_reason(jwk, reason):
    with pytest.raises(KeyRejected) as exc:
        load_public_jwk(jwk)
    assert reason in exc.value.reason


def test_keyset_drops_duplicate_kids_and_unfit_keys():
    other_rsa = make_key("RS256", kid="dup")[1]
    dup_ec = {**EC_JWK, "kid": "dup"}
    keys = KeySet.from_jwks(
        {"keys": [RSA_JWK, other_rsa, dup_ec, {"kty": "oct", "k": "AA", "kid": "h"}, 7]}
    )
    assert [k.kid for k in keys.keys] == [RSA_JWK["kid"]]
    assert keys.get("dup") is None and keys.get("h") is None
    assert ("dup", "duplicate kid") in keys.rejected and len(keys.rejected) == 4
    # One usable key left: a token without kid may use it (RFC 7515 §4.1.4).
    assert keys.get(None) is keys.keys[0]


@pytest.mark.parametrize(
    "kid",
    ["", "../../dev/null", "|sleep 10", "x' UNION SELECT '1';--", "*", 0, None],
    ids=["empty", "path", "shell", "sql", "star", "int", "none-with-two-keys"],
)
def test_kid_is_an_opaque_lookup(kid):
    keys = KeySet.from_jwks({"keys": [RSA_JWK, EC_JWK]})
    assert keys.get(kid) is None
    assert keys.get(RSA_JWK["kid"]).alg == "RS256" and keys.get(EC_JWK["kid"]).alg == "ES256"


@pytest.mark.parametrize(
    "doc",
    [None, [], {}, {"keys": {}}, {"keys": "x"}, "{}"],
    ids=["null", "list", "no-keys", "keys-object", "keys-string", "string"],
)
def test_not_a_jwks_is_a_key_source_error(doc):
    with pytest.raises(KeySetError):
        KeySet.from_jwks(doc)


def test_from_key_checks_the_alg_fits():
    assert PublicKey.from_key(RSA_KEY, "PS256").alg == "PS256"
    with pytest.raises(KeyRejected):
        PublicKey.from_key(RSA_KEY, "ES256")
    with pytest.raises(KeyRejected):
        PublicKey.from_key(EC_KEY, "ES384")


@pytest.mark.parametrize(
    ("alg", "key"),
    [("ES256", RSA_KEY), ("RS256", EC_KEY), ("ES384", EC_KEY), ("HS256", RSA_KEY)],
    ids=["es-with-rsa", "rs-with-ec", "wrong-curve", "hmac"],
)
def test_sign_refuses_mismatched_alg(alg, key):
    with pytest.raises(ValueError):
        sign(key, alg, b"x")


@pytest.mark.parametrize("kty", [["RSA"], {"kty": "RSA"}, 1, None], ids=repr)
def test_thumbprint_of_a_non_string_kty_is_refused_not_a_crash(kty):
    # A list or object kty is unhashable: it must be an unsupported kty (KeyRejected),
    # never a TypeError escaping as a 500.
    with pytest.raises(KeyRejected) as exc:
        thumbprint({"kty": kty, "n": "AQAB", "e": "AQAB"})
    assert exc.value.reason == "thumbprint: unsupported kty"


def test_private_member_names_are_the_rfcs_and_each_is_refused():
    """The one list (`shared.jwk.PRIVATE_JWK_MEMBERS`) every check and filter imports:
    RFC 7518 §6.2.2 (EC d), §6.3.2 (RSA d p q dp dq qi oth), §6.4 (k), RFC 8037 §2 (OKP d)."""
    assert frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) == PRIVATE_JWK_MEMBERS
    _, jwk = make_key("RS256", kid="k")
    for name in sorted(PRIVATE_JWK_MEMBERS):
        with pytest.raises(KeyRejected, match="private key material"):
            load_public_jwk({**jwk, name: "AQAB"})


# RefetchedKeys: the TTL/cooldown rules both verifiers share. The authorizer's cases (TTL,
# cooldown, failures absorbed) are in tests/authorizer/test_jwks_cache.py; here what only
# the issuer's wall clock and its narrower `absorbs` reach.


class _Source:
    def __init__(self, jwk):
        self.body = json.dumps({"keys": [jwk]}).encode()
        self.calls = 0
        self.now = 1000.0

    def fetch(self, uri):
        self.calls += 1
        return self.body

    def clock(self):
        return self.now


def test_refetched_keys_treat_a_clock_stepping_back_as_stale():
    source = _Source(dict(RSA_JWK, kid="a"))
    keys = RefetchedKeys("https://i/jwks", source.fetch, source.clock, ttl=300, cooldown=60)
    assert keys.get("a").kid == "a" and source.calls == 1
    source.now -= 1  # a wall clock set back: the keys' age is unknown, not young
    assert keys.get("a").kid == "a" and source.calls == 2
    assert keys.get("made-up") is None and source.calls == 2  # the cooldown holds
    source.now -= 1  # back again: stale again, refetched
    assert keys.get("made-up") is None and source.calls == 3


def test_refetched_keys_let_a_failure_outside_absorbs_through():
    class Narrow(RefetchedKeys):
        absorbs = (KeySetError,)

    def broken(uri):
        raise RuntimeError("fetcher bug")

    narrow = Narrow("https://i/jwks", broken, lambda: 0.0, ttl=300, cooldown=60)
    with pytest.raises(RuntimeError, match="fetcher bug"):
        narrow.get("a")
    wide = RefetchedKeys("https://i/jwks", broken, lambda: 0.0, ttl=300, cooldown=60)
    assert wide.get("a") is None and wide.keys is None


def test_refetched_keys_without_uri_serve_what_they_were_given():
    source = _Source(dict(RSA_JWK, kid="a"))
    given = KeySet.from_jwks({"keys": [dict(EC_JWK, kid="b")]})
    keys = RefetchedKeys(None, source.fetch, source.clock, ttl=300, cooldown=60, keys=given)
    source.now += 10_000
    assert keys.get("b").kid == "b" and keys.get("a") is None and source.calls == 0
