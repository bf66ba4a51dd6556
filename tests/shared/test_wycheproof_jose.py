"""Wycheproof JOSE vectors through the JWS-level path the verifier uses.

Payloads are arbitrary bytes, not claim sets, so each case runs parse -> key selection ->
signature (`parse_jws` + `verify_signature`), never the claim rules.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.errors import TokenError
from shared.jwk import PRIVATE_JWK_MEMBERS, KeySet
from shared.jws import parse_jws
from shared.verify import verify_signature

VECTORS = Path(__file__).parent.parent / "vectors" / "wycheproof" / "testvectors_v1"

# Upstream label problems (vectors/SOURCES.md); nothing else may be listed here. Each
# gets the verdict this verifier must give, so the row still tests something.
LABEL_BUGS = {
    # Valid only if the key's `alg` is ignored; we pin the algorithm by the key.
    346: ("invalid", "PS384 token, key alg PS256"),
    347: ("invalid", "ES512 token, key alg 'ES521' (typo)"),
    350: ("invalid", "PS384 token, key alg PS256"),
    351: ("invalid", "ES512 token, key alg 'ES521' (typo)"),
    # 357/367/370 share one jws (C2SP/wycheproof#236) and 372/373 hold a '?': all five
    # sit in HMAC groups, which we refuse whatever the label, so no override is needed.
}


def _public_only(jwk: dict) -> dict:
    # Groups without a `public` member publish only private keys; a verifier is given
    # their public half (and an `oct` key becomes a key with no material at all).
    return {name: value for name, value in jwk.items() if name not in PRIVATE_JWK_MEMBERS}


def _cases(filename: str):
    doc = json.loads((VECTORS / filename).read_text())
    cases = []
    for group in doc["testGroups"]:
        source = group.get("public") or group["private"]
        jwks = source if "keys" in source else {"keys": [source]}
        keys = [_public_only(k) for k in jwks["keys"]]
        hmac_only = all(k.get("kty") == "oct" for k in keys)
        for test in group["tests"]:
            expected = test["result"]
            if filename == "json_web_signature_test.json" and test["tcId"] in LABEL_BUGS:
                expected = LABEL_BUGS[test["tcId"]][0]
            if hmac_only:
                # We never accept HS*: an HMAC-only group is refused whatever its label.
                expected = "invalid"
            cases.append(
                pytest.param(
                    {"keys": keys},
                    test["jws"],
                    expected,
                    id=f"{filename.split('_test')[0]}-{test['tcId']}-{test['comment']}",
                )
            )
    return cases


def _outcome(jwks: dict, token: str) -> str:
    keys = KeySet.from_jwks(jwks)
    try:
        verify_signature(parse_jws(token), keys.get)
    except TokenError:
        return "invalid"
    return "valid"


@pytest.mark.parametrize(("jwks", "token", "expected"), _cases("json_web_signature_test.json"))
def test_json_web_signature(jwks, token, expected):
    assert _outcome(jwks, token) == expected


@pytest.mark.parametrize(("jwks", "token", "expected"), _cases("json_web_key_test.json"))
def test_json_web_key(jwks, token, expected):
    assert _outcome(jwks, token) == expected


def test_hmac_groups_refused_with_alg_not_allowed():
    doc = json.loads((VECTORS / "json_web_signature_test.json").read_text())
    group = next(g for g in doc["testGroups"] if g["comment"] == "hs256")
    valid = next(t for t in group["tests"] if t["result"] == "valid")
    keys = KeySet.from_jwks({"keys": [_public_only(group["private"])]})
    with pytest.raises(TokenError) as exc:
        verify_signature(parse_jws(valid["jws"]), keys.get)
    assert exc.value.code == "alg_not_allowed"
