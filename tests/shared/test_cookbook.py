"""RFC 7520 (JOSE Cookbook), RFC 7638 and RFC 8037 examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from shared.b64 import b64url_decode
from shared.errors import KeyRejected, TokenError
from shared.jwa import sign
from shared.jwk import PRIVATE_JWK_MEMBERS, KeySet, load_public_jwk, thumbprint
from shared.jws import parse_jws
from shared.verify import verify_signature

VECTORS = Path(__file__).parent.parent / "vectors"
COOKBOOK = VECTORS / "jose-cookbook"


def _load(relative: str) -> dict:
    return json.loads((COOKBOOK / relative).read_text())


def _published(example: dict) -> dict:
    # As an issuer would publish it: public half only, with the alg it signs with.
    key = {k: v for k, v in example["input"]["key"].items() if k not in PRIVATE_JWK_MEMBERS}
    return {"keys": [{**key, "alg": example["input"]["alg"]}]}


SIGNED = [
    "jws/4_1.rsa_v15_signature.json",
    "jws/4_2.rsa-pss_signature.json",
    "jws/4_3.ecdsa_signature.json",
    "curve25519/jws.json",
]
HMAC = [
    "jws/4_4.hmac-sha2_integrity_protection.json",
    "jws/4_5.signature_with_detached_content.json",
]
JSON_ONLY = [
    "jws/4_6.protecting_specific_header_fields.json",
    "jws/4_7.protecting_content_only.json",
    "jws/4_8.multiple_signatures.json",
]


@pytest.mark.parametrize("relative", SIGNED, ids=["RS256", "PS384", "ES512", "EdDSA"])
def test_signed_example_verifies(relative):
    example = _load(relative)
    jws = parse_jws(example["output"]["compact"])
    key = verify_signature(jws, KeySet.from_jwks(_published(example)).get)
    assert key.alg == example["input"]["alg"]
    assert jws.payload == example["input"]["payload"].encode("utf-8")


@pytest.mark.parametrize("relative", SIGNED, ids=["RS256", "PS384", "ES512", "EdDSA"])
def test_tampered_example_refused(relative):
    example = _load(relative)
    header, payload, signature = example["output"]["compact"].split(".")
    tampered = f"{header}.{payload[:-4]}{'AAAA' if payload[-4:] != 'AAAA' else 'BBBB'}.{signature}"
    with pytest.raises(TokenError) as exc:
        verify_signature(parse_jws(tampered), KeySet.from_jwks(_published(example)).get)
    assert exc.value.code == "bad_signature"


def _rsa_private(jwk: dict):
    n, e, d, p, q, dp, dq, qi = (
        int.from_bytes(b64url_decode(jwk[m]), "big")
        for m in ("n", "e", "d", "p", "q", "dp", "dq", "qi")
    )
    return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, rsa.RSAPublicNumbers(e, n)).private_key()


@pytest.mark.parametrize(
    ("relative", "loader"),
    [
        ("jws/4_1.rsa_v15_signature.json", _rsa_private),
        (
            "curve25519/jws.json",
            lambda jwk: ed25519.Ed25519PrivateKey.from_private_bytes(b64url_decode(jwk["d"])),
        ),
    ],
    ids=["RS256", "EdDSA"],
)
def test_deterministic_signature_reproduced(relative, loader):
    # RFC 7520 §4.1 and RFC 8037 A.4 are deterministic: our signer must match byte for byte.
    example = _load(relative)
    header, payload, signature = example["output"]["compact"].split(".")
    produced = sign(
        loader(example["input"]["key"]), example["input"]["alg"], f"{header}.{payload}".encode()
    )
    assert produced == b64url_decode(signature)


@pytest.mark.parametrize("relative", HMAC, ids=["HS256", "HS256-detached"])
def test_hmac_example_refused(relative):
    example = _load(relative)
    keys = KeySet.from_jwks({"keys": [example["input"]["key"]]})
    assert keys.keys == () and keys.rejected
    with pytest.raises(TokenError) as exc:
        verify_signature(parse_jws(example["output"]["compact"]), keys.get)
    assert exc.value.code == "alg_not_allowed"


@pytest.mark.parametrize(
    "relative", SIGNED + JSON_ONLY, ids=["RS256", "PS384", "ES512", "EdDSA", "4_6", "4_7", "4_8"]
)
def test_json_serialization_refused(relative):
    # Only the compact form is an access token (RFC 9068 §2.1, RFC 7515 §7.1).
    example = _load(relative)
    with pytest.raises(TokenError) as exc:
        parse_jws(json.dumps(example["output"]["json"]))
    assert exc.value.code == "malformed"


@pytest.mark.parametrize(
    ("relative", "outcome"),
    [
        ("jwk/3_1.ec_public_key.json", "ES512"),
        ("jwk/3_3.rsa_public_key.json", "RS256"),
        ("jwk/3_2.ec_private_key.json", "private key material"),
        ("jwk/3_4.rsa_private_key.json", "private key material"),
        ("jwk/3_5.symmetric_key_mac_computation.json", "symmetric"),
        ("jwk/3_6.symmetric_key_encryption.json", "symmetric"),
    ],
    ids=["ec-public", "rsa-public", "ec-private", "rsa-private", "oct-mac", "oct-enc"],
)
def test_cookbook_keys(relative, outcome):
    jwk = _load(relative)
    if outcome in ("ES512", "RS256"):
        assert load_public_jwk(jwk).alg == outcome
    else:
        with pytest.raises(KeyRejected, match=outcome):
            load_public_jwk(jwk)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # RFC 7638 §3.1 (published).
        (
            "rfc-example-keys/authlib/tests/files/thumbprint_example.json",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
        ),
        # RFC 8037 A.3 (published); the private JWK must give the same value.
        (
            "rfc-example-keys/pyjwt/tests/keys/jwk_okp_pub_Ed25519.json",
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
        ),
        (
            "rfc-example-keys/pyjwt/tests/keys/jwk_okp_key_Ed25519.json",
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
        ),
        # Cross-checks computed by the vector collection (vectors/SOURCES.md), not published.
        ("jose-cookbook/jwk/3_1.ec_public_key.json", "dHri3SADZkrush5HU_50AoRhcKFryN-PI6jPBtPL55M"),
        (
            "jose-cookbook/jwk/3_3.rsa_public_key.json",
            "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI",
        ),
        (
            "jose-cookbook/jwk/3_5.symmetric_key_mac_computation.json",
            "RtoRur_1Dir5M4wuOfqNkDYOf9O_4RJ-aHkTA75RLA8",
        ),
    ],
    ids=[
        "rfc7638",
        "rfc8037-public",
        "rfc8037-private",
        "cookbook-ec",
        "cookbook-rsa",
        "cookbook-oct",
    ],
)
def test_thumbprint(path, expected):
    assert thumbprint(json.loads((VECTORS / path).read_text())) == expected
