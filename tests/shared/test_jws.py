"""Compact JWS parse/sign (RFC 7515 §7.1): structure refused before crypto."""

from __future__ import annotations

import json

import pytest
from helpers.mint import make_key, raw_token

from shared.b64 import b64url_decode
from shared.errors import TokenError
from shared.jwk import load_public_jwk
from shared.jws import MAX_TOKEN_BYTES, encode_compact, parse_compact, parse_jws
from shared.verify import verify_signature

KEY, JWK = make_key("ES256")


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_encode_then_parse_round_trip(alg):
    private_key, jwk = make_key(alg)
    token = encode_compact({"typ": "at+jwt", "kid": "k1"}, {"sub": "ü", "n": 1}, private_key, alg)
    header_b64 = token.split(".")[0]
    # Compact JSON, alg first (the issuer's canonical form).
    assert b64url_decode(header_b64) == b'{"alg":"%s","typ":"at+jwt","kid":"k1"}' % alg.encode()
    compact = parse_compact(token)
    assert compact.header == {"alg": alg, "typ": "at+jwt", "kid": "k1"}
    assert compact.claims == {"sub": "ü", "n": 1}
    key = load_public_jwk(jwk)
    assert verify_signature(compact, lambda kid: key) is key


def test_encode_refuses_conflicting_alg():
    with pytest.raises(ValueError):
        encode_compact({"alg": "RS256"}, {}, KEY, "ES256")


def test_signature_check_pins_alg_and_checks_signature():
    token = encode_compact({}, {"a": 1}, KEY, "ES256")
    other = load_public_jwk(make_key("ES256")[1])
    with pytest.raises(TokenError) as exc:
        verify_signature(parse_compact(token), lambda kid: other)
    assert exc.value.code == "bad_signature"
    with pytest.raises(TokenError) as exc:
        verify_signature(parse_compact(token), lambda kid: load_public_jwk(make_key("EdDSA")[1]))
    assert exc.value.code == "alg_not_allowed"


H = {"alg": "ES256"}
STRUCTURE = [
    ("not-str", b"a.b.c", "malformed"),
    ("too-large", "a" * (MAX_TOKEN_BYTES + 1), "too_large"),
    ("json-serialization", '{"protected":"e30","payload":"","signature":""}', "malformed"),
    ("one-segment", "abc", "malformed"),
    ("two-segments", "eyJhbGciOiJFUzI1NiJ9.e30", "malformed"),
    ("four-segments", "eyJhbGciOiJFUzI1NiJ9.e30.AA.AA", "malformed"),
    ("padding", "eyJhbGciOiJFUzI1NiJ9.e30=.AA", "malformed"),
    ("std-alphabet", "eyJhbGciOiJFUzI1NiJ9.e30.A+/A", "malformed"),
    ("empty-header", ".e30.AA", "malformed"),
    ("header-array", raw_token(b"[]", {}, b"s"), "malformed"),
    ("header-invalid-json", raw_token(b"{alg:1}", {}, b"s"), "malformed"),
    ("header-trailing-data", raw_token(b'{"alg":"ES256"} x', {}, b"s"), "malformed"),
    (
        "header-latin1",
        raw_token('{"alg":"ES256","x":"é"}'.encode("latin-1"), {}, b"s"),
        "malformed",
    ),
    ("header-dup", raw_token(b'{"alg":"ES256","alg":"none"}', {}, b"s"), "malformed"),
    ("nested-dup", raw_token(b'{"alg":"ES256","x":{"a":1,"a":2}}', {}, b"s"), "malformed"),
    ("claims-dup", raw_token(H, b'{"sub":"a","sub":"b"}', b"s"), "malformed"),
    ("claims-infinity", raw_token(H, b'{"exp":Infinity}', b"s"), "malformed"),
    ("claims-huge-int", raw_token(H, b'{"exp":' + b"9" * 5000 + b"}", b"s"), "malformed"),
    ("claims-string", raw_token(H, b'"x"', b"s"), "malformed"),
    ("claims-empty", raw_token(H, b"", b"s"), "malformed"),
    ("alg-missing", raw_token({"typ": "at+jwt"}, {}, b"s"), "malformed"),
    ("alg-null", raw_token({"alg": None}, {}, b"s"), "malformed"),
    ("alg-list", raw_token({"alg": ["ES256"]}, {}, b"s"), "malformed"),
]


@pytest.mark.parametrize(
    ("token", "code"), [s[1:] for s in STRUCTURE], ids=[s[0] for s in STRUCTURE]
)
def test_structure_refused(token, code):
    with pytest.raises(TokenError) as exc:
        parse_compact(token)
    assert exc.value.code == code


def test_parse_jws_keeps_payload_opaque():
    token = raw_token(H, b"\x00\xffnot json", b"sig")
    jws = parse_jws(token)
    assert jws.payload == b"\x00\xffnot json" and jws.signature == b"sig"
    assert jws.signing_input == token.rsplit(".", 1)[0].encode()


@pytest.mark.parametrize(
    ("length", "code"),
    [(MAX_TOKEN_BYTES, "malformed"), (MAX_TOKEN_BYTES + 1, "too_large")],
    ids=["at-limit-reaches-structure-checks", "over-limit"],
)
def test_size_limit_is_inclusive(length, code):
    with pytest.raises(TokenError) as exc:
        parse_compact("a" * length)
    assert exc.value.code == code


def test_header_unicode_round_trips():
    token = raw_token(json.dumps({"alg": "ES256", "x": "ü"}).encode(), {}, b"")
    assert parse_jws(token).header["x"] == "ü"
