"""Bearer-token parsing (RFC 6750 §2.1), one rule for both halves: `shared.bearer`, as the
authorizer's events and the issuer's admin guard apply it, answer each value alike."""

from __future__ import annotations

import pytest

from authorizer.events import Refused
from authorizer.events import credentials as authorizer_credentials
from issuer.http.admin.errors import InvalidToken, MissingToken
from issuer.http.admin.guard import bearer_token as guard_bearer
from shared.bearer import MAX_AUTHORIZATION, BearerRefused, bearer_token
from shared.jws import MAX_TOKEN_BYTES

LONG = "a" * (MAX_AUTHORIZATION - len("Bearer "))

# value -> the token, or the refusal code
CASES = [
    ("Bearer a.b.c", "a.b.c"),
    ("bearer a.b.c", "a.b.c"),  # the scheme is case-insensitive (RFC 7235 §2.1)
    ("BEARER a.b.c", "a.b.c"),
    ("Bearer   a.b.c", "a.b.c"),  # 1*SP
    ("Bearer abc-._~+/==", "abc-._~+/=="),  # the whole b64token alphabet, trailing "="
    ("Bearer " + LONG, LONG),  # the longest value taken
    (None, "no_token"),
    ("", "no_token"),
    ("Bearer", "bad_authorization"),
    ("Bearer ", "bad_authorization"),
    ("Bearer a.b.c ", "bad_authorization"),  # trailing whitespace is not in the grammar
    ("Bearer a.b.c\n", "bad_authorization"),
    ("Bearer a.b.c\t", "bad_authorization"),
    ("Bearer\ta.b.c", "bad_authorization"),  # SP only, not HTAB
    (" Bearer a.b.c", "bad_authorization"),
    ("Bearer a b", "bad_authorization"),
    ("Bearer a=b", "bad_authorization"),  # "=" only at the end
    ("Bearer =", "bad_authorization"),
    ("Bearer a.b.c,Bearer d.e.f", "bad_authorization"),
    ("Basic dXNlcjpwYXNz", "bad_authorization"),
    ("Token a.b.c", "bad_authorization"),
    ("a.b.c", "bad_authorization"),
    ("Bearer a\u00e9b", "bad_authorization"),
    ("Bearer a.b.c" + "\u3000", "bad_authorization"),  # not even Unicode whitespace
    (b"Bearer a.b.c", "bad_authorization"),
    (["Bearer a.b.c"], "bad_authorization"),
    ("Bearer " + LONG + "a", "too_large"),
    ("x" * (MAX_AUTHORIZATION + 1), "too_large"),
]
IDS = [repr(v)[:40] for v, _ in CASES]


def _ok(expected: str) -> bool:
    return expected not in ("no_token", "bad_authorization", "too_large")


def test_the_largest_token_fits_under_the_size_limit_with_its_scheme():
    # The header limit is the token limit plus room for the scheme: a token as large as
    # shared.jws takes passes here too, with "Bearer" and any run of spaces before it.
    largest = "a" * MAX_TOKEN_BYTES
    assert bearer_token("Bearer " + largest) == largest
    assert bearer_token("Bearer" + " " * 50 + largest) == largest


@pytest.mark.parametrize(("value", "expected"), CASES, ids=IDS)
def test_shared_rule(value, expected):
    if _ok(expected):
        assert bearer_token(value) == expected
    else:
        with pytest.raises(BearerRefused) as refused:
            bearer_token(value)
        assert refused.value.code == expected


@pytest.mark.parametrize(("value", "expected"), CASES, ids=IDS)
def test_authorizer_events_apply_it(value, expected):
    if _ok(expected):
        assert authorizer_credentials(value) == ("bearer", expected)
    else:
        with pytest.raises(Refused) as refused:
            authorizer_credentials(value)
        assert refused.value.code == expected


@pytest.mark.parametrize(("value", "expected"), CASES, ids=IDS)
def test_admin_guard_applies_it(value, expected):
    """No token: 401 without an error code (RFC 6750 §3.1, `MissingToken`); any other
    refusal: 401 `invalid_token`, its debug code the shared refusal's."""
    if _ok(expected):
        assert guard_bearer(value) == expected
    elif expected == "no_token":
        with pytest.raises(MissingToken):
            guard_bearer(value)
    else:
        with pytest.raises(InvalidToken) as refused:
            guard_bearer(value)
        assert not isinstance(refused.value, MissingToken)
        assert refused.value.debug == expected


# RFC 9449 §7.1: `DPoP` 1*SP token68, the scheme case-insensitive; `credentials` names it.
DPOP_CASES = [
    ("DPoP a.b.c", ("dpop", "a.b.c")),
    ("dpop a.b.c", ("dpop", "a.b.c")),
    ("DPOP   a.b.c", ("dpop", "a.b.c")),
    ("Bearer a.b.c", ("bearer", "a.b.c")),
    ("DPoP " + LONG + "aa", ("dpop", LONG + "aa")),
    ("DPoP", "bad_authorization"),
    ("DPoP ", "bad_authorization"),
    ("DPoP\ta.b.c", "bad_authorization"),
    ("DPoP a.b.c ", "bad_authorization"),
    ("DPoP a b", "bad_authorization"),
    ("DPoPa.b.c", "bad_authorization"),
    ("DPoP-Bearer a.b.c", "bad_authorization"),
    ("DPoP " + LONG + "aaa", "too_large"),
    (None, "no_token"),
]


@pytest.mark.parametrize(("value", "expected"), DPOP_CASES,
                         ids=[repr(v)[:40] for v, _ in DPOP_CASES])
def test_credentials_reads_bearer_and_dpop(value, expected):
    from shared.bearer import credentials

    if isinstance(expected, tuple):
        assert credentials(value) == expected
    else:
        with pytest.raises(BearerRefused) as refused:
            credentials(value)
        assert refused.value.code == expected


def test_bearer_token_still_refuses_the_dpop_scheme():
    # the admin guard takes bearer tokens only
    with pytest.raises(BearerRefused) as refused:
        bearer_token("DPoP a.b.c")
    assert refused.value.code == "bad_authorization"
    with pytest.raises(InvalidToken):
        guard_bearer("DPoP a.b.c")
