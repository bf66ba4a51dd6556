"""Differential property: every access token `shared.verify.AccessTokenVerifier` accepts,
PyJWT accepts under the same contract, with the same claims.

"The same contract" is the verifier's `AccessTokenRules` given to PyJWT: the same public
key and `algorithms=[that key's alg]` (RFC 8725 §3.1: the alg comes from the key), the
same issuer, audiences, leeway and clock, the claims our verifier requires (`exp`, `iss`,
`aud`, `sub`, `client_id`) as PyJWT's `require`, and the RFC 9068 checks PyJWT does not
know, written here from the RFCs and not from our code: `typ` is `at+jwt` or
`application/at+jwt` in any letter case (RFC 9068 §4, RFC 7515 §4.1.9), `client_id` is a
string (RFC 9068 §2.2), `scope` a string of RFC 6749 §3.3 scope-tokens.

Inputs: Hypothesis-built headers, claims, JSON encodings and signatures, and mutations of
valid tokens (flipped bits and characters, changed alg, `kid: null`, duplicate members,
huge integers, whitespace, base64 padding, extra or missing segments), each re-signed or
not. Our verifier may refuse what PyJWT accepts only for one of its documented stricter
rules (`STRICTER`); `test_stricter_rules_pinned` pins one example of each. Anything our
verifier raises other than `TokenError` fails the property.

Nothing is tolerated in the other direction (ours accepts, PyJWT refuses): the two
shapes the property found (`FORMER_DISAGREEMENTS`) are now refused by both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime
from typing import Any, NamedTuple
from unittest import mock

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from shared.b64 import b64url_decode, b64url_encode
from shared.claims import AccessToken, AccessTokenRules
from shared.errors import TokenError
from shared.jwa import COORD_BYTES, EC_CURVE_FOR_ALG, generate_private_key, sign
from shared.jwk import KeySet, public_jwk
from shared.jws import MAX_TOKEN_BYTES
from shared.verify import AccessTokenVerifier

from .conftest import FUZZ, FUZZ_EXAMPLES

# Each example is two verifications and at most one signature (about 1 ms): ten per unit
# of the fuzzing budget keeps the file at a few seconds at the default budget.
DIFF = settings(FUZZ, max_examples=FUZZ_EXAMPLES * 10)

NOW = 1_700_000_000
ISSUER = "https://issuer.test"
AUD = "https://orders.test"
AUD2 = "https://billing.test"
REQUIRED = ["exp", "iss", "aud", "sub", "client_id"]
ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by one space.
SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*\Z")

# Our verifier refuses, PyJWT accepts, only for these reasons (each pinned below):
STRICTER = {
    # duplicate members (RFC 7515 §5.2, RFC 8725 §3.4: PyJWT keeps the last), NaN or
    # Infinity anywhere, non-UTF-8 JSON or a BOM (RFC 8259 §8.1), base64 padding (RFC
    # 7515 §2), a payload that is JSON but not what RFC 7519 §7.2 expects
    "malformed",
    "too_large",  # over MAX_TOKEN_BYTES, before any parsing (RFC 8725 §3.11 spirit)
    "crit_unsupported",  # any crit: we understand no extension (RFC 7515 §4.1.11)
    # a kid absent from the key set, empty, or absent with several keys: PyJWT ignores
    # kid when it is given the key (RFC 7515 §4.1.4 makes kid the selection hint)
    "unknown_kid",
    # a NumericDate that is a bool, a numeric string or an integer beyond float range
    # (PyJWT runs int() on it); a non-string jti the same way
    "bad_claim",
    # iat or nbf a fraction of a second ahead (PyJWT truncates to an integer first)
    "not_yet_valid",
}


class Key(NamedTuple):
    alg: str
    private: Any
    public: Any
    jwk: dict
    spare: Any  # another key of the same type: a right-shaped, wrong signature


def _key(alg: str, private: Any | None = None) -> Key:
    private = private or generate_private_key(alg)
    return Key(alg, private, private.public_key(), public_jwk(private, alg),
               generate_private_key(alg))


_RSA = generate_private_key("RS256")
# RS256 and PS256 share one RSA key under two JWKs: an RS/PS swap is then a token whose
# signature is right for the key but made with the other alg.
KEYS = [_key("RS256", _RSA), _key("PS256", _RSA), _key("ES256"), _key("ES384"),
        _key("ES512"), _key("EdDSA")]
KEY_BY_ALG = {key.alg: key for key in KEYS}
PEM = _RSA.public_key().public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)


class _FrozenClock(datetime):
    """PyJWT reads `datetime.now(tz=timezone.utc)`; this makes it read our `now`."""

    at = float(NOW)

    @classmethod
    def now(cls, tz=None):
        return datetime.fromtimestamp(cls.at, tz)


def ours(token: str, key: Key, rules: AccessTokenRules, now: float) -> AccessToken | TokenError:
    verifier = AccessTokenVerifier(rules, KeySet.from_jwks({"keys": [key.jwk]}).get)
    try:
        return verifier.verify(token, now=now)
    except TokenError as exc:  # anything else is a crash and fails the test
        return exc


class ContractRefusal(Exception):
    """An RFC 9068 rule PyJWT does not check, refused by the reference side."""


def theirs(token: str, key: Key, rules: AccessTokenRules, now: float) -> dict | Exception:
    _FrozenClock.at = now
    try:
        with mock.patch.object(jwt.api_jwt, "datetime", _FrozenClock):
            complete = jwt.decode_complete(
                token, key.public, algorithms=[key.alg], audience=sorted(rules.audiences),
                issuer=rules.issuer, leeway=rules.leeway, options={"require": REQUIRED})
    except Exception as exc:  # a PyJWT refusal of any kind
        return exc
    header, claims = complete["header"], complete["payload"]
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
        return ContractRefusal("typ")
    if not isinstance(claims["client_id"], str):
        return ContractRefusal("client_id")
    # An empty scope is the empty list of scopes (RFC 8693 §4.2): both read it as none.
    scope = claims.get("scope", "")
    if not isinstance(scope, str) or (scope and not SCOPE.match(scope)):
        return ContractRefusal("scope")
    return claims


def check(token: str, key: Key, rules: AccessTokenRules, now: float) -> None:
    note(f"token={token!r} key={key.alg} rules={rules} now={now}")
    mine, reference = ours(token, key, rules, now), theirs(token, key, rules, now)
    note(f"ours={mine!r} pyjwt={reference!r}")
    if isinstance(mine, AccessToken):
        assert isinstance(reference, dict), f"ours accepts, PyJWT refuses: {reference!r}"
        assert reference == mine.claims
        event("both accept")
    elif isinstance(reference, dict):
        assert mine.code in STRICTER, f"ours refuses ({mine.code}: {mine.detail}), PyJWT accepts"
        event(f"stricter: {mine.code}")
    else:
        event("both refuse")


# ---- building tokens -------------------------------------------------------------------

MISSING = object()


def _json(obj: dict, style: str) -> bytes:
    compact = json.dumps(obj, separators=(",", ":")).encode()
    if style == "compact" or not obj:
        return compact
    if style == "spaced":  # insignificant whitespace (RFC 8259 §2): valid JSON
        return json.dumps(obj, indent=1).encode()
    if style == "utf8":
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    if style == "duplicate":  # the first member again, first with another value
        name = next(iter(obj))
        return b'{"' + name.encode() + b'":"x",' + compact[1:]
    if style == "nan":
        return compact[:-1] + b',"x":NaN}'
    if style == "bom":
        return b"\xef\xbb\xbf" + compact
    if style == "utf16":
        return compact.decode().encode("utf-16")
    raise AssertionError(style)


styles = st.one_of(st.just("compact"), st.just("compact"), st.sampled_from(
    ["spaced", "utf8", "duplicate", "nan", "bom", "utf16"]))


def _signature(key: Key, signer: str, signing_input: bytes) -> bytes:
    if signer == "right":
        return sign(key.private, key.alg, signing_input)
    if signer == "spare":
        return sign(key.spare, key.alg, signing_input)
    if signer == "empty":  # alg none's signature
        return b""
    if signer == "hmac_pem":  # RS/HS key confusion, CVE-2016-10555
        return hmac.new(PEM, signing_input, hashlib.sha256).digest()
    if signer == "zero":  # r = s = 0 for ECDSA: CVE-2022-21449
        size = COORD_BYTES.get(EC_CURVE_FOR_ALG.get(key.alg, ""), 32)
        return bytes(2 * size)
    raise AssertionError(signer)


signers = st.one_of(st.just("right"), st.just("right"), st.just("right"), st.sampled_from(
    ["spare", "empty", "hmac_pem", "zero"]))


def assemble(header: bytes, payload: bytes, key: Key, signer: str) -> str:
    signing_input = f"{b64url_encode(header)}.{b64url_encode(payload)}"
    return f"{signing_input}.{b64url_encode(_signature(key, signer, signing_input.encode()))}"


json_leaf = (st.none() | st.booleans() | st.integers() | st.text(max_size=6)
             | st.floats(allow_nan=False, allow_infinity=False))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=2)
                          | st.dictionaries(st.text(max_size=3), inner, max_size=2),
                          max_leaves=4)
ODD_NUMBERS = [True, False, None, "1700000600", 10**400, -(10**400), 2**63, 1e308, -1e308,
               0, -1, 0.5, [NOW], MISSING]


def numeric_date(center: int) -> st.SearchStrategy:
    return st.one_of(st.integers(center - 400, center + 400),
                     st.floats(center - 400, center + 400),
                     st.sampled_from(ODD_NUMBERS))


def string_claim(*usual: str) -> st.SearchStrategy:
    return st.one_of(st.sampled_from(usual), st.sampled_from(["", 1, None, ["a"], MISSING]),
                     st.text(max_size=8))


SELF = "<the key's>"
# What a change may set each member to (MISSING removes it). A generated token is a valid
# one with a few of these changes, so both verifiers accept a fair share of them.
HEADER_VALUES = {
    "alg": st.sampled_from(["none", "None", "HS256", "RS256", "PS256", "ES256", "ES512",
                            "EdDSA", "rs256", "", None, 1, MISSING]),
    "typ": st.sampled_from(["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+Jwt",
                            "JWT", "at+jwt ", "", None, 1, MISSING]),
    "kid": st.sampled_from([MISSING, None, "", "other", 1, ["k"], SELF]),
    "crit": st.sampled_from([["b64"], ["exp"], [], "b64"]),
    "b64": st.booleans(),
    "jwk": st.just(public_jwk(generate_private_key("ES256"), "ES256")),
    "jku": st.just("https://evil.test/jwks.json"),
    "x5u": st.just("https://evil.test/cert.pem"),
    "cty": st.sampled_from(["JWT", "at+jwt"]),
    "zip": st.just("DEF"),
}
CLAIM_VALUES = {
    "iss": st.sampled_from([ISSUER, ISSUER + "/", "https://evil.test", 1, None, [ISSUER],
                            MISSING]),
    "aud": st.one_of(
        st.sampled_from([AUD, AUD2, "https://other.test", [], [AUD, 1], None, 1,
                         {"aud": AUD}, MISSING]),
        st.lists(st.sampled_from([AUD, AUD2, "https://other.test"]), max_size=3)),
    "exp": numeric_date(NOW + 60),
    "nbf": numeric_date(NOW),
    "iat": numeric_date(NOW),
    "sub": string_claim("c_1"),
    "client_id": string_claim("c_1"),
    "jti": string_claim("j1"),
    "scope": st.one_of(
        st.sampled_from(["orders:read", "orders:read orders:write", "", " a", "a  b", 'a"b',
                         "a\\b", "é", None, 1, ["a"], MISSING]),
        st.text(max_size=10)),
}


def changes(values: dict, extra: st.SearchStrategy, most: int) -> st.SearchStrategy:
    one = st.one_of([st.tuples(st.just(name), value) for name, value in values.items()]
                    + [extra])
    return st.lists(one, max_size=most)


header_changes = changes(HEADER_VALUES, st.nothing(), 2)
claim_changes = changes(CLAIM_VALUES, st.tuples(st.text(max_size=5), json_value), 3)

rules = st.builds(AccessTokenRules, st.just(ISSUER),
                  st.sampled_from([frozenset({AUD}), frozenset({AUD, AUD2})]),
                  st.sampled_from([0, 30]))
nows = st.sampled_from([float(NOW), NOW + 0.5, NOW + 59.75])


def _apply(members: dict, changed: list[tuple[str, Any]], key: Key) -> dict:
    members = dict(members)
    for name, value in changed:
        members.pop(name, None)
        if value is SELF:
            value = key.jwk["kid"]
        if value is not MISSING:
            members[name] = value
    return members


@DIFF
@given(key=st.sampled_from(KEYS), header_change=header_changes, claim_change=claim_changes,
       header_style=styles, claims_style=styles, signer=signers, rules=rules, now=nows)
def test_generated_tokens(key, header_change, claim_change, header_style, claims_style,
                          signer, rules, now):
    header, claims = valid_token(key)
    header, claims = _apply(header, header_change, key), _apply(claims, claim_change, key)
    token = assemble(_json(header, header_style), _json(claims, claims_style), key, signer)
    check(token, key, rules, now)


# ---- mutations of a valid token --------------------------------------------------------

def valid_token(key: Key, now: int = NOW) -> tuple[dict, dict]:
    header = {"alg": key.alg, "typ": "at+jwt", "kid": key.jwk["kid"]}
    claims = {"iss": ISSUER, "sub": "c_1", "aud": AUD, "exp": now + 60, "iat": now,
              "jti": "j1", "client_id": "c_1", "scope": "orders:read"}
    return header, claims


B64_CHARS = "ABCXYZabcxyz0189-_"
ODD_CHARS = B64_CHARS + "=+/. \t\n\x00é"
HEADER_CHANGES = [("alg", a) for a in ["none", "HS256", "RS256", "PS256", "ES256", "ES384",
                                       "EdDSA", "RS256 ", "", None]] + [
    ("kid", None), ("kid", MISSING), ("kid", ""), ("kid", "../../dev/null"), ("kid", 1),
    ("typ", MISSING), ("typ", "JWT"), ("typ", "AT+JWT"), ("crit", ["b64"]), ("b64", False),
    ("b64", True), ("alg", MISSING)]
CLAIM_CHANGES = [(name, value) for name in ("exp", "nbf", "iat")
                 for value in [10**400, -(10**400), 2**53 + 1, True, "1700000060",
                               NOW + 0.5, NOW + 59.5, 1e308, None, MISSING]] + [
    ("aud", [AUD, AUD]), ("aud", []), ("aud", [AUD2, AUD]), ("iss", ISSUER.upper()),
    ("sub", None), ("client_id", 7), ("jti", None), ("scope", "a\tb"), ("scope", ""),
    ("big", "x" * MAX_TOKEN_BYTES)]


def _segments(token: str) -> list[str]:
    return token.split(".")


class Mutation(NamedTuple):
    """One change to a token. Every field is drawn whatever the kind, with bounds that do
    not depend on the token: ECDSA and PSS signatures are randomised, so a draw bounded
    by the token's length would make Hypothesis' generation depend on chance."""

    kind: str
    at: int  # a position, taken modulo the length of what it indexes
    bit: int
    char: str
    header_change: tuple[str, Any]
    claim_change: tuple[str, Any]
    signer: str
    resign: bool
    header_style: str
    claims_style: str
    segments: str


mutations = st.lists(st.builds(
    Mutation,
    st.sampled_from(["flip_bit", "char", "insert", "delete", "pad", "header", "claims",
                     "reencode", "segments"]),
    st.integers(0, 2**16), st.integers(0, 7), st.sampled_from(ODD_CHARS),
    st.sampled_from(HEADER_CHANGES), st.sampled_from(CLAIM_CHANGES),
    st.sampled_from(["right", "right", "spare"]), st.booleans(), styles, styles,
    st.sampled_from(["extra", "drop_sig", "swap", "empty_sig", "two"]),
), min_size=1, max_size=3)


def mutate(key: Key, changes: list[Mutation]) -> str:
    header, claims = valid_token(key)
    token = assemble(_json(header, "compact"), _json(claims, "compact"), key, "right")
    for change in changes:
        parts = _segments(token)
        kind = change.kind
        if kind == "flip_bit":
            index = change.at % len(parts)
            try:
                raw = bytearray(b64url_decode(parts[index]))
            except ValueError:
                continue
            if raw:
                raw[change.at % len(raw)] ^= 1 << change.bit
                parts[index] = b64url_encode(bytes(raw))
                token = ".".join(parts)
        elif kind in ("char", "insert", "delete") and token:
            at, char = change.at % len(token), change.char
            token = {"char": token[:at] + char + token[at + 1:],
                     "insert": token[:at] + char + token[at:],
                     "delete": token[:at] + token[at + 1:]}[kind]
        elif kind == "pad":
            parts[change.at % len(parts)] += "=" * (1 + change.bit % 2)
            token = ".".join(parts)
        elif kind in ("header", "claims"):
            name, value = change.header_change if kind == "header" else change.claim_change
            target = dict(header if kind == "header" else claims)
            target.pop(name, None)
            if value is not MISSING:
                target[name] = value
            if kind == "header":
                header = target
            else:
                claims = target
            # Re-signed: the signature holds, only the contract can refuse it. Not
            # re-signed: the old signature over new bytes.
            old = parts[2] if len(parts) == 3 else ""
            token = assemble(_json(header, "compact"), _json(claims, "compact"), key,
                             change.signer)
            if not change.resign:
                token = token.rsplit(".", 1)[0] + "." + old
        elif kind == "reencode":  # same members, other bytes, re-signed
            token = assemble(_json(header, change.header_style),
                             _json(claims, change.claims_style), key, "right")
        elif kind == "segments":
            token = {"extra": token + "." + parts[-1],
                     "drop_sig": ".".join(parts[:-1]),
                     "swap": ".".join([*parts[1::-1], *parts[2:]]),
                     "empty_sig": ".".join(parts[:-1]) + ".",
                     "two": ".".join(parts[:2])}[change.segments]
    return token


@DIFF
@given(key=st.sampled_from(KEYS), changes=mutations, rules=rules, now=nows)
def test_mutated_tokens(key, changes, rules, now):
    check(mutate(key, changes), key, rules, now)


# ---- named cases: what each side does, exactly ------------------------------------------

ES256 = KEY_BY_ALG["ES256"]
RULES = AccessTokenRules(ISSUER, frozenset({AUD}))


def _signed(header_changes: dict | None = None, claim_changes: dict | None = None,
            header_style: str = "compact", claims_style: str = "compact",
            key: Key = ES256) -> str:
    header, claims = valid_token(key)
    for target, changes in ((header, header_changes), (claims, claim_changes)):
        for name, value in (changes or {}).items():
            target.pop(name, None)
            if value is not MISSING:
                target[name] = value
    return assemble(_json(header, header_style), _json(claims, claims_style), key, "right")


def _padded(token: str) -> str:
    parts = _segments(token)
    parts[2] += "=" * (-len(parts[2]) % 4)
    return ".".join(parts)


# (case, token, our reason code). PyJWT accepts every one of them.
STRICTER_CASES = [
    ("duplicate member (PyJWT keeps the last)", _signed(claims_style="duplicate"),
     "malformed"),
    ("NaN in an extra claim", _signed(claims_style="nan"), "malformed"),
    ("UTF-8 BOM before the header", _signed(header_style="bom"), "malformed"),
    ("UTF-16 claims", _signed(claims_style="utf16"), "malformed"),
    ("base64 padding on the signature", _padded(_signed(claim_changes={"jti": "j12"})),
     "malformed"),
    ("token over 8 KiB", _signed(claim_changes={"big": "x" * MAX_TOKEN_BYTES}), "too_large"),
    ("crit b64 with b64 true", _signed({"crit": ["b64"], "b64": True}), "crit_unsupported"),
    ("kid not in the key set", _signed({"kid": "other"}), "unknown_kid"),
    ("empty kid", _signed({"kid": ""}), "unknown_kid"),
    ("exp beyond float range", _signed(claim_changes={"exp": 10**400}), "bad_claim"),
    ("exp a numeric string", _signed(claim_changes={"exp": str(NOW + 60)}), "bad_claim"),
    ("nbf true", _signed(claim_changes={"nbf": True}), "bad_claim"),
    ("iat half a second ahead", _signed(claim_changes={"iat": NOW + 0.5}), "not_yet_valid"),
    ("nbf half a second ahead", _signed(claim_changes={"nbf": NOW + 0.5}), "not_yet_valid"),
]


@pytest.mark.parametrize(("case", "token", "code"), STRICTER_CASES,
                         ids=[case for case, _, _ in STRICTER_CASES])
def test_stricter_rules_pinned(case, token, code):
    assert code in STRICTER
    mine = ours(token, ES256, RULES, NOW)
    assert isinstance(mine, TokenError) and mine.code == code, mine
    assert isinstance(theirs(token, ES256, RULES, NOW), dict)


BOTH_REFUSE = [
    ("alg none, empty signature",
     assemble(_json({"alg": "none", "typ": "at+jwt"}, "compact"),
              _json(valid_token(ES256)[1], "compact"), ES256, "empty"), "alg_not_allowed"),
    ("HS256 keyed with the RSA public key (CVE-2016-10555)",
     assemble(_json({"alg": "HS256", "typ": "at+jwt"}, "compact"),
              _json(valid_token(KEY_BY_ALG["RS256"])[1], "compact"), KEY_BY_ALG["RS256"],
              "hmac_pem"), "alg_not_allowed"),
    ("ECDSA r = s = 0 (CVE-2022-21449)",
     assemble(_json(valid_token(ES256)[0], "compact"), _json(valid_token(ES256)[1], "compact"),
              ES256, "zero"), "bad_signature"),
    ("kid null with a one-key set", _signed({"kid": None}), "unknown_kid"),
    ("typ JWT", _signed({"typ": "JWT"}), "wrong_typ"),
    ("wrong issuer", _signed(claim_changes={"iss": ISSUER + "/"}), "wrong_issuer"),
    ("audience list without ours", _signed(claim_changes={"aud": [AUD2]}), "wrong_audience"),
    ("exp one second ago", _signed(claim_changes={"exp": NOW - 1}), "expired"),
]


@pytest.mark.parametrize(("case", "token", "code"), BOTH_REFUSE,
                         ids=[case for case, _, _ in BOTH_REFUSE])
def test_both_refuse(case, token, code):
    key = KEY_BY_ALG["RS256"] if "RSA" in case else ES256
    mine = ours(token, key, RULES, NOW)
    assert isinstance(mine, TokenError) and mine.code == code, mine
    assert isinstance(theirs(token, key, RULES, NOW), Exception)


# Found by the properties above (ours accepted, PyJWT refused); both now refuse.
FORMER_DISAGREEMENTS = [
    # RFC 7519 §2 allows a fractional NumericDate; PyJWT truncates exp with int() and so
    # refuses up to a second earlier. We refuse from floor(exp): never later than exp.
    ("fractional exp inside its last second", _signed(claim_changes={"exp": NOW + 0.5}),
     "expired"),
    # RFC 7797 §3: "b64": false asks for an unencoded payload we do not implement.
    ("b64 false without crit", _signed({"b64": False}), "crit_unsupported"),
]


@pytest.mark.parametrize(("case", "token", "code"), FORMER_DISAGREEMENTS,
                         ids=[case for case, _, _ in FORMER_DISAGREEMENTS])
def test_former_disagreement_both_refuse(case, token, code):
    assert isinstance(theirs(token, ES256, RULES, NOW), Exception)
    mine = ours(token, ES256, RULES, NOW)
    assert isinstance(mine, TokenError) and mine.code == code, mine
