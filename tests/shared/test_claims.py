"""RFC 9068 §4 claim rules, without signatures (check_access_token is pure)."""

from __future__ import annotations

import pytest
from helpers.mint import DROP, changed, good_claims

from shared.claims import AccessTokenRules, check_access_token
from shared.errors import TokenError

ISS, AUD, NOW = "https://issuer.example", "orders-api", 1_700_000_000
RULES = AccessTokenRules(ISS, frozenset({AUD, "billing-api"}), leeway=30)
HEADER = {"alg": "RS256", "typ": "at+jwt", "kid": "k"}


def claims(**changes):
    return changed(good_claims(ISS, AUD, scope="orders:read orders:write", now=NOW), changes)


def test_good_token_fields():
    token = check_access_token(HEADER, claims(), RULES, NOW)
    assert token.sub == "client-1" and token.client_id == "client-1"
    assert token.scope == "orders:read orders:write"
    assert token.scopes == frozenset({"orders:read", "orders:write"})
    assert token.aud == (AUD,) and token.exp == NOW + 300 and token.iat == NOW
    assert token.nbf is None and isinstance(token.jti, str)


ACCEPTED = [
    ("typ-media-type", {"typ": "application/at+jwt"}, {}),
    ("typ-upper", {"typ": "AT+JWT"}, {}),
    ("aud-list-one-ours", {}, {"aud": ["x", "billing-api"]}),
    ("exp-within-leeway", {}, {"exp": NOW - 29}),
    ("nbf-within-leeway", {}, {"nbf": NOW + 30}),
    ("iat-within-leeway", {}, {"iat": NOW + 30}),
    ("exp-float", {}, {"exp": NOW + 0.5}),
    ("scope-absent", {}, {"scope": DROP}),
    ("jti-absent", {}, {"jti": DROP}),
    ("iat-absent", {}, {"iat": DROP}),
    ("extra-claims", {}, {"cnf": {"x5t#S256": "abc"}, "roles": ["a"]}),
]


@pytest.mark.parametrize(
    ("header", "changes"), [a[1:] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED]
)
def test_accepted(header, changes):
    body = claims(**changes)
    token = check_access_token({**HEADER, **header}, body, RULES, NOW)
    # Accepted as sent: nothing rewritten on the way through.
    assert (token.client_id, token.exp, token.jti) == (body["client_id"], body["exp"],
                                                       body.get("jti"))
    assert token.scopes == frozenset(body.get("scope", "").split())


REFUSED = [
    ("typ-jwt", {"typ": "JWT"}, {}, "wrong_typ"),
    ("typ-missing", {"typ": DROP}, {}, "wrong_typ"),
    ("typ-number", {"typ": 1}, {}, "wrong_typ"),
    ("crit", {"crit": ["b64"]}, {}, "crit_unsupported"),
    ("iss-other", {}, {"iss": "https://other"}, "wrong_issuer"),
    ("iss-case", {}, {"iss": ISS.upper()}, "wrong_issuer"),
    ("iss-missing", {}, {"iss": DROP}, "bad_claim"),
    ("iss-list", {}, {"iss": [ISS]}, "bad_claim"),
    ("aud-other", {}, {"aud": "x"}, "wrong_audience"),
    ("aud-empty-list", {}, {"aud": []}, "bad_claim"),
    ("aud-list-with-number", {}, {"aud": [AUD, 1]}, "bad_claim"),
    ("aud-missing", {}, {"aud": DROP}, "bad_claim"),
    ("expired-beyond-leeway", {}, {"exp": NOW - 30}, "expired"),
    ("exp-missing", {}, {"exp": DROP}, "bad_claim"),
    ("exp-null", {}, {"exp": None}, "bad_claim"),
    ("exp-string", {}, {"exp": "1700000300"}, "bad_claim"),
    ("exp-bool", {}, {"exp": True}, "bad_claim"),
    ("exp-nan", {}, {"exp": float("nan")}, "bad_claim"),
    ("exp-inf", {}, {"exp": float("inf")}, "bad_claim"),
    ("nbf-future", {}, {"nbf": NOW + 31}, "not_yet_valid"),
    ("nbf-string", {}, {"nbf": "0"}, "bad_claim"),
    ("iat-future", {}, {"iat": NOW + 31}, "not_yet_valid"),
    ("iat-null", {}, {"iat": None}, "bad_claim"),
    ("sub-missing", {}, {"sub": DROP}, "bad_claim"),
    ("sub-number", {}, {"sub": 1}, "bad_claim"),
    ("client-id-missing", {}, {"client_id": DROP}, "bad_claim"),
    ("scope-list", {}, {"scope": ["orders:read"]}, "bad_claim"),
    ("scope-null", {}, {"scope": None}, "bad_claim"),
    ("scope-double-space", {}, {"scope": "a  b"}, "bad_claim"),
    ("scope-leading-space", {}, {"scope": " a"}, "bad_claim"),
    ("scope-quote", {}, {"scope": 'a"b'}, "bad_claim"),
    ("scope-backslash", {}, {"scope": "a\\b"}, "bad_claim"),
    ("scope-newline", {}, {"scope": "a\nb"}, "bad_claim"),
    ("scope-non-ascii", {}, {"scope": "café"}, "bad_claim"),
    ("jti-number", {}, {"jti": 5}, "bad_claim"),
]


@pytest.mark.parametrize(
    ("header", "changes", "code"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refused(header, changes, code):
    hdr = {k: v for k, v in {**HEADER, **header}.items() if v is not DROP}
    with pytest.raises(TokenError) as exc:
        check_access_token(hdr, claims(**changes), RULES, NOW)
    assert exc.value.code == code


@pytest.mark.parametrize(
    ("offset", "code"), [(-1, None), (0, "expired")], ids=["second-before-exp", "at-exp"]
)
def test_exp_boundary_without_leeway(offset, code):
    # RFC 7519 §4.1.4: refused "on or after" exp.
    rules = AccessTokenRules(ISS, frozenset({AUD}))
    now = NOW + 300 + offset
    if code is None:
        check_access_token(HEADER, claims(), rules, now)
    else:
        with pytest.raises(TokenError) as exc:
            check_access_token(HEADER, claims(), rules, now)
        assert exc.value.code == code


def test_max_token_age_needs_iat_and_bounds_it():
    rules = AccessTokenRules(ISS, frozenset({AUD}), max_token_age=60)
    check_access_token(HEADER, claims(), rules, NOW + 60)
    for changes, now, code in [({}, NOW + 61, "expired"), ({"iat": DROP}, NOW, "bad_claim")]:
        with pytest.raises(TokenError) as exc:
            check_access_token(HEADER, claims(**changes), rules, now)
        assert exc.value.code == code


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issuer": "", "audiences": frozenset({AUD})},
        {"issuer": ISS, "audiences": frozenset()},
        {"issuer": ISS, "audiences": frozenset({""})},
        {"issuer": ISS, "audiences": frozenset({AUD}), "leeway": -1},
        {"issuer": ISS, "audiences": frozenset({AUD}), "max_token_age": 0},
    ],
    ids=["no-issuer", "no-audience", "empty-audience", "negative-leeway", "zero-max-age"],
)
def test_rules_refuse_open_configuration(kwargs):
    with pytest.raises(ValueError):
        AccessTokenRules(**kwargs)


def test_rules_take_a_single_audience_string_whole():
    assert AccessTokenRules(ISS, AUD).audiences == frozenset({AUD})
