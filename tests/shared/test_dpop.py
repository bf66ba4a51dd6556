"""RFC 9449 §4.3: every check of `shared.dpop.verify_proof`, each refusal with its code."""

from __future__ import annotations

import hashlib
import json

import pytest

from shared.b64 import b64url_decode, b64url_encode
from shared.dpop import (
    DPOP_ALGS,
    ReplayWindow,
    access_token_hash,
    jwk_thumbprint,
    make_proof,
    normalise_htu,
    verify_proof,
)
from shared.errors import TokenError
from shared.jwa import generate_private_key, private_key_pem, sign

NOW = 1_700_000_000.0
URL = "https://api.example.com/orders/42"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjIn0.c2ln"


@pytest.fixture(scope="module")
def es_key():
    return generate_private_key("ES256")


def proof(key, alg="ES256", **kw):
    kw.setdefault("method", "GET")
    kw.setdefault("url", URL)
    kw.setdefault("iat", NOW)
    return make_proof(key, alg, **kw)


def check(p, **kw):
    kw.setdefault("method", "GET")
    kw.setdefault("url", URL)
    kw.setdefault("now", NOW)
    return verify_proof(p, **kw)


def refused(p, **kw) -> str:
    with pytest.raises(TokenError) as exc:
        check(p, **kw)
    return exc.value.code


def forge(header: dict, claims: dict, key=None, alg="ES256", signature: bytes | None = None):
    """A compact JWS with exactly this header (make_proof always sets typ/jwk)."""
    h = b64url_encode(json.dumps(header).encode())
    c = b64url_encode(json.dumps(claims).encode())
    signing_input = f"{h}.{c}".encode()
    if signature is None:
        signature = sign(key, alg, signing_input)
    return f"{h}.{c}.{b64url_encode(signature)}"


def parts(p: str) -> tuple[dict, dict]:
    h, c, _ = p.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(c))


@pytest.mark.parametrize("alg", DPOP_ALGS)
def test_a_good_proof_verifies_for_every_alg(alg):
    key = generate_private_key(alg)
    result = check(proof(key, alg, jti="j1", access_token=TOKEN), access_token=TOKEN,
                   expected_jkt=jwk_thumbprint(key, alg))
    assert result.jkt == jwk_thumbprint(key, alg)
    assert (result.jti, result.htm, result.htu, result.iat, result.nonce) == (
        "j1", "GET", URL, NOW, None)


def test_jkt_is_the_rfc7638_thumbprint_of_the_header_jwk(es_key):
    header, _ = parts(proof(es_key))
    jwk = header["jwk"]
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")},
                           separators=(",", ":"), sort_keys=True)
    expected = b64url_encode(hashlib.sha256(canonical.encode()).digest())
    assert check(proof(es_key)).jkt == expected


@pytest.mark.parametrize("value", ["", "a.b", "a.b.c.d", "{}", "x" * 9000, None, 7])
def test_not_one_compact_jws_is_malformed(value):
    assert refused(value) == "dpop_malformed"


@pytest.mark.parametrize("typ", [None, "JWT", "at+jwt", "DPOP+JWT", "application/dpop+jwt"])
def test_wrong_typ(es_key, typ):
    extra = {"typ": typ} if typ is not None else {}
    p = proof(es_key, extra_header=extra)
    if typ is None:
        header, claims = parts(p)
        del header["typ"]
        p = forge(header, claims, es_key)
    assert refused(p) == "dpop_bad_typ"


def test_alg_none_refused(es_key):
    header, claims = parts(proof(es_key))
    header["alg"] = "none"
    assert refused(forge(header, claims, signature=b"")) == "dpop_bad_alg"


def test_alg_hs256_refused_even_with_a_valid_hmac(es_key):
    import hmac

    header, claims = parts(proof(es_key))
    header["alg"] = "HS256"
    h = b64url_encode(json.dumps(header).encode())
    c = b64url_encode(json.dumps(claims).encode())
    mac = hmac.new(b"secret", f"{h}.{c}".encode(), hashlib.sha256).digest()
    assert refused(f"{h}.{c}.{b64url_encode(mac)}") == "dpop_bad_alg"


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS512"])
def test_algs_outside_the_dpop_list_refused(alg):
    key = generate_private_key("RS256")
    header, claims = parts(proof(key, "RS256"))
    header["alg"] = alg
    assert refused(forge(header, claims, key, alg)) == "dpop_bad_alg"


def test_alg_that_does_not_fit_the_key(es_key):
    # an EC jwk with ES384 claimed, signed by a P-384 key: the alg is not the jwk's
    other = generate_private_key("ES384")
    header, claims = parts(proof(es_key))
    header["alg"] = "ES384"
    assert refused(forge(header, claims, other, "ES384")) == "dpop_bad_alg"


def test_jwk_alg_member_differing_from_header_alg(es_key):
    header, claims = parts(proof(es_key))
    header["jwk"]["alg"] = "ES384"
    assert refused(forge(header, claims, es_key)) == "dpop_bad_alg"


def test_missing_jwk(es_key):
    header, claims = parts(proof(es_key))
    del header["jwk"]
    assert refused(forge(header, claims, es_key)) == "dpop_bad_key"


@pytest.mark.parametrize("jwk", ["a string", ["list"], 1])
def test_jwk_not_an_object(es_key, jwk):
    header, claims = parts(proof(es_key))
    header["jwk"] = jwk
    assert refused(forge(header, claims, es_key)) == "dpop_bad_key"


def test_private_key_in_jwk_refused(es_key):
    header, claims = parts(proof(es_key))
    d = es_key.private_numbers().private_value.to_bytes(32, "big")
    header["jwk"]["d"] = b64url_encode(d)
    p = forge(header, claims, es_key)
    with pytest.raises(TokenError) as exc:
        check(p)
    assert exc.value.code == "dpop_bad_key"
    assert header["jwk"]["d"] not in str(exc.value)  # the leaked key is not echoed


def test_weak_rsa_key_refused():
    from cryptography.hazmat.primitives.asymmetric import rsa

    from shared.jwk import _public_members

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test
    header = {"alg": "RS256", "typ": "dpop+jwt", "jwk": _public_members(weak.public_key(),
                                                                       "RS256")}
    claims = {"jti": "j", "htm": "GET", "htu": URL, "iat": NOW}
    assert refused(forge(header, claims, weak, "RS256")) == "dpop_bad_key"


def test_bad_signature(es_key):
    other = generate_private_key("ES256")
    header, claims = parts(proof(es_key))  # es_key's jwk, other's signature
    assert refused(forge(header, claims, other)) == "dpop_bad_signature"


def test_claims_changed_after_signing(es_key):
    h, _, s = proof(es_key).split(".")
    _, claims = parts(proof(es_key))
    claims["htm"] = "POST"
    c = b64url_encode(json.dumps(claims).encode())
    assert refused(f"{h}.{c}.{s}", method="POST") == "dpop_bad_signature"


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat"])
def test_missing_claims_malformed(es_key, claim):
    header, claims = parts(proof(es_key))
    del claims[claim]
    assert refused(forge(header, claims, es_key)) == "dpop_malformed"


@pytest.mark.parametrize(("claim", "value"), [("jti", 5), ("jti", ""), ("jti", "j" * 201),
                                              ("htm", ["GET"]), ("htu", None),
                                              ("iat", "1700000000"), ("iat", True),
                                              ("nonce", 5)])
def test_mistyped_claims_malformed(es_key, claim, value):
    header, claims = parts(proof(es_key))
    claims[claim] = value
    assert refused(forge(header, claims, es_key)) == "dpop_malformed"


@pytest.mark.parametrize("htm", ["POST", "get", "Get", "GET "])
def test_htm_mismatch(es_key, htm):
    assert refused(proof(es_key, method=htm)) == "dpop_htm_mismatch"


@pytest.mark.parametrize("htu", [
    "https://api.example.com/orders/42?x=1",  # query ignored (§4.3 item 9)
    "https://api.example.com/orders/42#frag",  # fragment ignored
    "https://api.example.com/orders/42?x=1#f",
    "HTTPS://API.Example.COM/orders/42",  # scheme and host case-insensitive
    "https://api.example.com:443/orders/42",  # default port dropped
    "https://api.example.com:0443/orders/42",
    "https://api.example.com/%6Frders/42",  # encoded unreserved character
])
def test_htu_equivalent_forms_match(es_key, htu):
    assert check(proof(es_key, url=htu)).htu == htu


@pytest.mark.parametrize("htu", [
    "https://api.example.com/orders/43",
    "https://api.example.com/Orders/42",  # path is case-sensitive
    "https://api.example.com/orders/42/",
    "http://api.example.com/orders/42",  # other scheme
    "https://api.example.com:8443/orders/42",  # other port
    "https://evil.example.com/orders/42",
    "https://user@api.example.com/orders/42",
    "https://api.example.com/orders/./42",  # dot segments compared literally
    "/orders/42",  # not absolute
    "ftp://api.example.com/orders/42",
])
def test_htu_mismatch(es_key, htu):
    assert refused(proof(es_key, url=htu)) == "dpop_htu_mismatch"


def test_htu_default_port_on_the_server_side_too(es_key):
    assert check(proof(es_key, url="http://127.0.0.1/x"), url="http://127.0.0.1:80/x")
    assert refused(proof(es_key, url="http://127.0.0.1/x"),
                   url="http://127.0.0.1:8080/x") == "dpop_htu_mismatch"


def test_normalise_htu():
    assert normalise_htu("HTTP://[::1]:80/a%2fb?q") == "http://[::1]/a%2Fb"
    assert normalise_htu("https://h") == "https://h/"
    assert normalise_htu("https://h:x/") is None
    assert normalise_htu("https://[::1/") is None


@pytest.mark.parametrize(("iat", "code"), [
    (NOW - 65, None), (NOW - 66, "dpop_stale"),  # max_age 60 + leeway 5
    (NOW + 5, None), (NOW + 6, "dpop_stale"),
    (NOW - 10_000, "dpop_stale"),
])
def test_iat_window(es_key, iat, code):
    p = proof(es_key, iat=iat)
    if code is None:
        assert check(p).iat == iat
    else:
        assert refused(p) == code


def test_nonce_required_and_checked(es_key):
    assert refused(proof(es_key), nonce="n-1") == "dpop_nonce_required"
    assert refused(proof(es_key, nonce="n-2"), nonce="n-1") == "dpop_bad_nonce"
    assert check(proof(es_key, nonce="n-1"), nonce="n-1").nonce == "n-1"


def test_ath(es_key):
    assert access_token_hash(TOKEN) == b64url_encode(hashlib.sha256(TOKEN.encode()).digest())
    assert check(proof(es_key, access_token=TOKEN), access_token=TOKEN)
    assert refused(proof(es_key), access_token=TOKEN) == "dpop_ath_mismatch"
    assert refused(proof(es_key, access_token=TOKEN + "x"),
                   access_token=TOKEN) == "dpop_ath_mismatch"


def test_jkt_mismatch(es_key):
    other = generate_private_key("ES256")
    assert refused(proof(es_key), expected_jkt=jwk_thumbprint(other, "ES256")) == (
        "dpop_key_mismatch")


def test_replay_window():
    key = generate_private_key("ES256")
    window = ReplayWindow(capacity=100)
    first = check(proof(key, jti="same"))
    window.check_and_remember(first, NOW)
    with pytest.raises(TokenError) as exc:
        window.check_and_remember(check(proof(key, jti="same")), NOW + 30)
    assert exc.value.code == "dpop_replay"
    # another key's proof with the same jti is not a replay (keyed by jkt, jti)
    other = generate_private_key("ES256")
    window.check_and_remember(check(proof(other, jti="same")), NOW)
    # once the window is over the entry is gone (and verify_proof refuses it as stale)
    window.check_and_remember(first, NOW + 65.01)
    assert refused(proof(key, jti="same"), now=NOW + 65.01) == "dpop_stale"


def test_replay_window_is_bounded():
    key = generate_private_key("ES256")
    window = ReplayWindow(capacity=3)
    for i in range(5):
        window.check_and_remember(check(proof(key, jti=f"j{i}")), NOW)
    assert len(window) == 3


def test_pem_of_the_private_key_never_in_errors(es_key):
    pem = private_key_pem(es_key).decode()
    with pytest.raises(TokenError) as exc:
        check(pem)
    assert exc.value.code == "dpop_malformed" and "PRIVATE" not in str(exc.value)
