"""The revocation list's numbers (issue 12, item 12): an integer beyond float range
(10**400; `math.isfinite` raises OverflowError on it) in a NumericDate of the list
(`iat`, `exp`, the `jtis` expiries) makes the list malformed (`bad_claim`), like NaN
would, never an exception of another kind."""

from __future__ import annotations

import pytest
from helpers.mint import sign_raw

from authorizer.revocation import parse_revocation_list
from shared.errors import TokenError
from shared.jwk import KeySet

ISSUER = "https://issuer.example.com"
NOW = 1_700_000_000
HUGE = 10**400


def _list(key, **claims):
    # `seq`: the list's sequence number (ignored by parsers that predate it).
    body = {"iss": ISSUER, "iat": NOW, "exp": NOW + 300, "seq": 1, "jtis": {}, "clients": {}}
    body.update(claims)
    header = {"alg": "RS256", "typ": "revocation-list+jwt", "kid": "rsa-1"}
    return sign_raw(key, "RS256", header, body).encode()


def test_control_list_is_adopted(rsa_key):
    keys = KeySet.from_jwks({"keys": [rsa_key[1]]})
    listed = parse_revocation_list(_list(rsa_key[0], jtis={"j": NOW + 60}), keys.get, ISSUER,
                                   NOW)
    assert listed.jtis == {"j": NOW + 60}


@pytest.mark.parametrize(
    "claims",
    [{"iat": HUGE}, {"iat": -HUGE}, {"exp": HUGE}, {"jtis": {"j": HUGE}},
     {"jtis": {"j": -HUGE}}],
    ids=["iat", "-iat", "exp", "jtis", "-jtis"],
)
def test_number_beyond_float_range_is_bad_claim(rsa_key, claims):
    keys = KeySet.from_jwks({"keys": [rsa_key[1]]})
    with pytest.raises(TokenError) as exc:
        parse_revocation_list(_list(rsa_key[0], **claims), keys.get, ISSUER, NOW)
    assert exc.value.code == "bad_claim"
