"""Hypothesis properties for the two parsers that face untrusted input first:

- `shared.bearer.bearer_token` (RFC 6750 §2.1), the rule the authorizer and the admin
  guard apply: for any input it returns a token or raises `BearerRefused`, nothing
  else; it accepts exactly `Bearer` (any letter case), one or more spaces and a
  b64token, and returns that b64token;
- `KeySet.from_jwks` on arbitrary JSON-like documents and on mutated real JWKs: it
  raises only `KeySetError` and never yields a symmetric key, an encryption key or an
  RSA key under 2048 bits (docs/threat-model.md §1).
"""

from __future__ import annotations

import re
import string

from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from shared.bearer import BearerRefused, bearer_token
from shared.errors import KeySetError
from shared.jwa import generate_private_key
from shared.jwk import KeySet, public_jwk

from .conftest import FUZZ

B64TOKEN_CHARS = string.ascii_letters + string.digits + "-._~+/"
# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; b64token = 1*(...) *"="
CREDENTIALS = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")
MAX_AUTHORIZATION = 8 * 1024 + 64  # the authorizer's size cap (a JWS is at most 8 KiB)


def _spec(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_AUTHORIZATION:
        return None
    match = CREDENTIALS.fullmatch(value)
    return match.group(1) if match else None


def _check_bearer(value: object) -> None:
    expected = _spec(value)
    try:
        token = bearer_token(value)
    except BearerRefused:
        assert expected is None, f"refused valid credentials {value!r}"
        return
    assert token == expected, (value, token)


scheme = st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR", "Bearer\t", "Basic", "Bearer:"])
b64token = st.text(alphabet=B64TOKEN_CHARS, min_size=1, max_size=60).map(
    lambda t: t.rstrip("=") or "a"
) | st.text(alphabet=B64TOKEN_CHARS, min_size=1, max_size=40).flatmap(
    lambda t: st.integers(0, 3).map(lambda n: t.rstrip("=") + "=" * n)
)
token_ish = (
    b64token | st.text(max_size=40) | st.text(alphabet=B64TOKEN_CHARS + '= \t,"', max_size=40)
)
spaces = st.sampled_from(["", " ", "  ", "\t", " \t", "   "])
credentials = st.builds(
    lambda s, sp, t, tail: s + sp + t + tail,
    scheme,
    spaces,
    token_ish,
    st.sampled_from(["", "", " ", "=", "\n", " x", ".", "=a"]),
)


@FUZZ
@given(value=credentials)
def test_bearer_token_shaped_inputs(value):
    _check_bearer(value)


@FUZZ
@given(
    value=st.one_of(
        st.text(max_size=80),
        st.binary(max_size=40),
        st.none(),
        st.integers(),
        st.lists(st.text(max_size=5), max_size=2),
    )
)
def test_bearer_token_anything(value):
    _check_bearer(value)


def test_bearer_token_boundaries():
    for value in ("Bearer a", "bearer a==", "BEARER   a.b-c_d~e+f/g=", "Bearer " + "a" * 8192):
        _check_bearer(value)
        assert bearer_token(value) == _spec(value)
    for value in (
        "Bearer",
        "Bearer ",
        "Bearer =",
        "Bearer a=b",
        "Bearer a b",
        "Bearer\ta",
        " Bearer a",
        "Bearer a ",
        "Bearer " + "a" * MAX_AUTHORIZATION,
        "Basic a",
    ):
        _check_bearer(value)


# --- KeySet.from_jwks -------------------------------------------------------------


def _jwk(private_key, alg: str, kid: str) -> dict:
    jwk = public_jwk(private_key, alg)
    jwk["kid"] = kid
    return jwk


REAL = [
    _jwk(generate_private_key("RS256"), "RS256", "rsa"),
    _jwk(generate_private_key("ES256"), "ES256", "ec"),
    _jwk(generate_private_key("EdDSA"), "EdDSA", "ed"),
    _jwk(rsa.generate_private_key(65537, 1024), "RS256", "rsa1024"),  # noqa: S505 (must be refused)
    {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "kid": "hmac", "alg": "HS256"},
]

json_scalar = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
MEMBERS = ["kty", "kid", "alg", "use", "key_ops", "n", "e", "crv", "x", "y", "d", "k"]


@st.composite
def mutated_jwk(draw):
    jwk = dict(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(MEMBERS) | st.text(max_size=6))
        action = draw(st.sampled_from(["set", "drop", "swap"]))
        if action == "drop":
            jwk.pop(name, None)
        elif action == "swap":
            other = draw(st.sampled_from(REAL))
            if name in other:
                jwk[name] = other[name]
        else:
            jwk[name] = draw(
                json_value
                | st.sampled_from(
                    [
                        "sig",
                        "enc",
                        "RS256",
                        "HS256",
                        "none",
                        "ES256",
                        "EdDSA",
                        "P-256",
                        "oct",
                        "RSA",
                        "EC",
                        "OKP",
                        "AQAB",
                        "AQ",
                        ["verify"],
                        ["encrypt"],
                    ]
                )
            )
    return jwk


documents = st.one_of(
    json_value,
    st.fixed_dictionaries({"keys": json_value}),
    st.fixed_dictionaries({"keys": st.lists(json_value | mutated_jwk(), max_size=5)}),
    st.fixed_dictionaries({"keys": st.lists(mutated_jwk(), min_size=1, max_size=5)}),
)


@FUZZ
@given(doc=documents)
def test_from_jwks_never_yields_a_key_it_must_not(doc):
    try:
        keys = KeySet.from_jwks(doc)
    except KeySetError:
        return
    entries = doc["keys"]
    assert len(keys.keys) <= len(entries)
    for key in keys.keys:
        assert key.kty in ("RSA", "EC", "OKP"), key
        if key.kty == "RSA":
            assert isinstance(key.key, rsa.RSAPublicKey) and key.key.key_size >= 2048
            assert key.key.public_numbers().e >= 65537
        if key.kid is not None:
            (entry,) = [e for e in entries if isinstance(e, dict) and e.get("kid") == key.kid]
            assert entry.get("use", "sig") == "sig", entry
            assert entry.get("kty") != "oct"
            assert "d" not in entry and "k" not in entry
