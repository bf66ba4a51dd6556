"""Wycheproof raw signature vectors through `PublicKey.verify` (JWS signature formats:
ECDSA as IEEE P1363 r||s, Ed25519, RSASSA-PKCS1-v1_5 and PSS with SHA-256).

Groups without a JWK (only PEM/DER) are out of scope: our keys only ever come as JWKs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.b64 import b64url_decode
from shared.errors import KeyRejected
from shared.jwk import PublicKey, load_public_jwk

VECTORS = Path(__file__).parent.parent / "vectors" / "wycheproof" / "testvectors_v1"
FILES = {
    "ecdsa_secp256r1_sha256_p1363_test.json": "ES256",
    "ecdsa_secp384r1_sha384_p1363_test.json": "ES384",
    "ecdsa_secp521r1_sha512_p1363_test.json": "ES512",
    "ed25519_test.json": "EdDSA",
    "rsa_signature_2048_sha256_test.json": "RS256",
    "rsa_pss_2048_sha256_mgf1_32_test.json": "PS256",
}
# `acceptable` cases: the verdict we give, and why it is our choice.
ACCEPTABLE = {
    # MissingNull: DigestInfo without the NULL parameter. OpenSSL refuses it; refusing
    # is the stricter of the two allowed answers.
    ("rsa_signature_2048_sha256_test.json", 8): False,
}


def _key(jwk: dict, alg: str) -> PublicKey:
    try:
        return load_public_jwk(jwk)
    except KeyRejected:
        # e = 3 groups: our JWK policy refuses them (test_jwk covers that), yet their
        # forged-signature cases (Bleichenbacher e=3) still exercise the verify path.
        n = int.from_bytes(b64url_decode(jwk["n"]), "big")
        e = int.from_bytes(b64url_decode(jwk["e"]), "big")
        assert e == 3
        return PublicKey.from_key(rsa.RSAPublicNumbers(e, n).public_key(), alg)


def _cases():
    cases = []
    for filename, alg in FILES.items():
        doc = json.loads((VECTORS / filename).read_text())
        for group in doc["testGroups"]:
            jwk = group.get("publicKeyJwk") or group.get("keyJwk")
            if jwk is None:
                continue
            for test in group["tests"]:
                if test["result"] == "acceptable":
                    expected = ACCEPTABLE[filename, test["tcId"]]
                else:
                    expected = test["result"] == "valid"
                cases.append(
                    pytest.param(
                        jwk,
                        alg,
                        test["msg"],
                        test["sig"],
                        expected,
                        id=f"{filename.split('_test')[0]}-{test['tcId']}-{test['comment']}",
                    )
                )
    return cases


@pytest.mark.parametrize(("jwk", "alg", "msg", "sig", "expected"), _cases())
def test_signature_vector(jwk, alg, msg, sig, expected):
    key = _key(jwk, alg)
    assert key.alg == alg
    assert key.verify(bytes.fromhex(msg), bytes.fromhex(sig)) is expected


def test_rsa_e3_groups_are_refused_by_jwk_policy():
    doc = json.loads((VECTORS / "rsa_signature_2048_sha256_test.json").read_text())
    small_e = [g["keyJwk"] for g in doc["testGroups"] if g["keyJwk"]["e"] == "Aw"]
    assert small_e
    for jwk in small_e:
        with pytest.raises(KeyRejected, match="exponent"):
            load_public_jwk(jwk)
