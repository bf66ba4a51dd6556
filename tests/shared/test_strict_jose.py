"""Strict JOSE at the shared layer (issue 12, items 11-14):
- a `kid` that is present must be a string, `null` included (RFC 7515 §4.1.4), even when
  the key set has a single key that an absent kid would select;
- NumericDate claims beyond float range are a malformed claim (`bad_claim`), never an
  OverflowError;
- the ECDSA group orders are the curves' own (FIPS 186-4 D.1.2), checked against
  `cryptography`'s curves, and r or s equal to the order is refused before the library;
- the strict JSON reader tokens use (duplicates, NaN/Infinity, UTF-8 only) is public for
  the other signed-or-trusted documents (JWKS, paging cursors)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers.mint import good_claims, make_key, mint

from shared.claims import AccessTokenRules, check_claims
from shared.errors import TokenError
from shared.jwa import COORD_BYTES, CURVES, ORDER, verifier
from shared.jwk import KeySet, load_public_jwk
from shared.jws import parse_compact, strict_json
from shared.verify import AccessTokenVerifier, select_key, verify_signature

ISS, AUD, NOW = "https://issuer.example", "orders-api", 1_700_000_000
RULES = AccessTokenRules(ISS, frozenset({AUD}), leeway=30, max_token_age=3600)
KEY, JWK = make_key("ES256", kid="only")
SOLE = KeySet.from_jwks({"keys": [JWK]})  # one key: an absent kid selects it


# -- item 11: "kid": null ---------------------------------------------------------------


def test_absent_kid_selects_the_sole_key():
    token = mint(KEY, "ES256", good_claims(ISS, AUD), kid=None)
    assert "kid" not in parse_compact(token).header
    assert AccessTokenVerifier(RULES, SOLE.get).verify(token).client_id == "client-1"


@pytest.mark.parametrize("kid", [None, 7, True, ["only"], {"kid": "only"}])
def test_present_kid_that_is_not_a_string_is_refused(kid):
    token = mint(KEY, "ES256", good_claims(ISS, AUD), {"kid": kid})
    looked_up = []

    def lookup(k):
        looked_up.append(k)
        return SOLE.get(k)

    with pytest.raises(TokenError) as exc:
        AccessTokenVerifier(RULES, lookup).verify(token)
    assert exc.value.code == "unknown_kid"
    assert exc.value.detail == "kid is not a string"
    assert looked_up == []  # refused before any key lookup
    with pytest.raises(TokenError) as exc:
        verify_signature(parse_compact(token), SOLE.get)  # the JWS-level path too
    assert exc.value.code == "unknown_kid"


def test_select_key_tells_null_from_absent():
    assert select_key({"alg": "ES256"}, SOLE.get).kid == "only"
    with pytest.raises(TokenError) as exc:
        select_key({"alg": "ES256", "kid": None}, SOLE.get)
    assert exc.value.code == "unknown_kid"


# -- item 12: NumericDate beyond float range -------------------------------------------


def _claims(**changes):
    body = good_claims(ISS, AUD, now=NOW)
    body.update(changes)
    return body


HUGE = 10**400  # float(HUGE) raises OverflowError


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [HUGE, -HUGE, 2**1024], ids=["1e400", "-1e400", "2^1024"])
def test_numeric_date_beyond_float_range_is_bad_claim(name, value):
    with pytest.raises(TokenError) as exc:
        check_claims(_claims(**{name: value}), RULES, NOW)
    assert exc.value.code == "bad_claim"


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_numeric_date_beyond_float_range_through_the_verifier(name):
    # json.dumps writes the integer exactly; the parser reads it back as an int.
    token = mint(KEY, "ES256", _claims(**{name: HUGE}), kid="only")
    with pytest.raises(TokenError) as exc:
        AccessTokenVerifier(RULES, SOLE.get).verify(token, now=NOW)
    assert exc.value.code == "bad_claim"


def test_largest_float_sized_integer_is_still_a_number():
    # The bound is float range, not an arbitrary cut: a far-future exp still verifies.
    biggest = int(1.7976931348623157e308)
    token = check_claims(_claims(exp=biggest), RULES, NOW)
    assert token.exp == biggest


# -- item 13: group orders ---------------------------------------------------------------

# FIPS 186-4 D.1.2.1-3 (typed here independently of shared/jwa.py).
FIPS_ORDER = {
    "P-256": int(
        "115792089210356248762697446949407573529996955224135760342422259061068512044369"
    ),
    "P-384": int(
        "39402006196394479212279040100143613805079739270465446667946905279627659399113263569"
        "398956308152294913554433653942643"
    ),
    "P-521": int(
        "68647976601306097149819007990813932172694353001433054093944634591855431833976553942"
        "45057746333217197532963996371363321113864768612440380340372808892707005449"
    ),
}


@pytest.mark.parametrize("crv", sorted(CURVES))
def test_order_is_the_fips_value(crv):
    assert ORDER[crv] == FIPS_ORDER[crv]
    assert ORDER[crv].bit_length() == CURVES[crv].key_size


@pytest.mark.parametrize("crv", sorted(CURVES))
def test_order_is_the_order_of_cryptographys_generator(crv):
    # (n-1)·G = -G exactly when n is a multiple of G's order; with n no longer than the
    # curve's key size that multiple is the order itself.
    curve = CURVES[crv]
    g = ec.derive_private_key(1, curve).public_key().public_numbers()
    minus_g = ec.derive_private_key(ORDER[crv] - 1, curve).public_key().public_numbers()
    p = {"P-256": 2**256 - 2**224 + 2**192 + 2**96 - 1,
         "P-384": 2**384 - 2**128 - 2**96 + 2**32 - 1,
         "P-521": 2**521 - 1}[crv]
    assert (minus_g.x, minus_g.y) == (g.x, p - g.y)
    assert ORDER[crv].bit_length() <= curve.key_size


class _RecordingKey:
    """Stands in for a cryptography key: records what reaches the library."""

    def __init__(self):
        self.calls = 0

    def verify(self, signature, data, algorithm):
        self.calls += 1


@pytest.mark.parametrize(("crv", "alg"), [("P-256", "ES256"), ("P-384", "ES384"),
                                          ("P-521", "ES512")])
def test_r_or_s_at_the_order_never_reaches_the_library(crv, alg):
    size, n = COORD_BYTES[crv], FIPS_ORDER[crv]
    key = _RecordingKey()
    check = verifier(key, alg, crv)

    def sig(r, s):
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    for r, s in ((n, 1), (1, n), (n + 1, 1), (1, 2 ** (8 * size) - 1)):
        with pytest.raises(Exception) as exc:
            check(b"data", sig(r, s))
        assert type(exc.value).__name__ == "InvalidSignature"
    assert key.calls == 0
    check(b"data", sig(n - 1, n - 1))  # the largest values in range do reach it
    assert key.calls == 1


def test_es512_malleable_twin_is_handled_as_cryptography_handles_it():
    private, jwk = make_key("ES512", kid="p521")
    public = load_public_jwk(jwk)
    token = mint(private, "ES512", good_claims(ISS, AUD), kid="p521")
    compact = parse_compact(token)
    r = int.from_bytes(compact.signature[:66], "big")
    s = int.from_bytes(compact.signature[66:], "big")
    twin = r.to_bytes(66, "big") + (FIPS_ORDER["P-521"] - s).to_bytes(66, "big")
    assert public.verify(compact.signing_input, compact.signature)
    assert public.verify(compact.signing_input, twin)  # ECDSA: (r, n - s) verifies too
    over = r.to_bytes(66, "big") + (FIPS_ORDER["P-521"] + s).to_bytes(66, "big")
    assert not public.verify(compact.signing_input, over)


# -- item 14: the strict JSON reader -----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"keys": [], "keys": [{"kty": "EC"}]}',
        '{"keys": [{"kid": "a", "kid": "b"}]}',
        '{"n": NaN}',
        '{"n": Infinity}',
        '{"n": -Infinity}',
        '{"a": 1} x',
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["dup-top", "dup-nested", "nan", "inf", "-inf", "trailing", "deep"],
)
def test_strict_json_refuses(text):
    with pytest.raises(ValueError):
        strict_json(text)
    with pytest.raises(ValueError):
        strict_json(text.encode())


def test_strict_json_reads_utf8_bytes_only():
    doc = {"keys": [{"kid": "ü"}]}
    assert strict_json(json.dumps(doc, ensure_ascii=False).encode()) == doc
    with pytest.raises(ValueError):
        strict_json(json.dumps(doc).encode("utf-16"))  # json.loads(bytes) would accept
    with pytest.raises(ValueError):
        strict_json(b'{"a": "\xff"}')
