"""JSON Web Algorithms (RFC 7518 §3) for JWS: the allowlist, the per-algorithm verify
closure, and signing for the issuer. One place to change when an algorithm is added."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

# The allowlist's names (`shared.jose_names`), re-exported: verifiers read them here.
from shared.jose_names import ALLOWED_ALGS as ALLOWED_ALGS
from shared.jose_names import EC_CURVE_FOR_ALG as EC_CURVE_FOR_ALG
from shared.jose_names import RSA_ALGS as RSA_ALGS

if TYPE_CHECKING:  # at run time it would import the DH, DSA, X25519... modules (cold start)
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

# Built once: hash and padding objects are immutable and reused on every verify.
HASH = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
PKCS1 = padding.PKCS1v15()
# RFC 7518 §3.5: PSS salt length equals the hash output length, MGF1 with the same hash.
PSS = {
    bits: padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size) for bits, h in HASH.items()
}
ECDSA = {bits: ec.ECDSA(h) for bits, h in HASH.items()}
CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
ALG_FOR_CURVE = {crv: alg for alg, crv in EC_CURVE_FOR_ALG.items()}
# Group orders (FIPS 186-4 D.1.2; tests/shared/test_strict_jose.py checks them against
# cryptography's generators): r and s must lie in [1, n-1] (CVE-2022-21449, "psychic
# signatures").
ORDER = {
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "P-384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "P-521": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
        "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}
COORD_BYTES = {"P-256": 32, "P-384": 48, "P-521": 66}

# The keys of the families above: private to generate and sign, public to verify.
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
VerifyingKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def verifier(key: Any, alg: str, crv: str | None) -> Callable[[bytes, bytes], None]:
    """One closure per key so the hot path is a single call, no dispatch per token.

    `key` is Any: its `verify` signature depends on `alg` (the public key of the alg's
    family, as `shared.jwk` loads it), which no static type of one parameter expresses."""
    if alg == "EdDSA":
        return lambda data, sig: key.verify(sig, data)
    bits = alg[2:]
    if alg[0] == "R":
        pkcs1, h = PKCS1, HASH[bits]
        return lambda data, sig: key.verify(sig, data, pkcs1, h)
    if alg[0] == "P":
        pss, h = PSS[bits], HASH[bits]
        return lambda data, sig: key.verify(sig, data, pss, h)
    if crv is None:  # both callers pass the ES* alg's curve; a caller bug, not input
        raise ValueError(f"alg {alg!r} needs a curve")
    size, order, algo = COORD_BYTES[crv], ORDER[crv], ECDSA[bits]

    def check_ecdsa(data: bytes, sig: bytes) -> None:
        # RFC 7518 §3.4: JWS carries raw R||S, each exactly the coordinate size.
        if len(sig) != 2 * size:
            raise InvalidSignature
        r = int.from_bytes(sig[:size], "big")
        s = int.from_bytes(sig[size:], "big")
        if not (0 < r < order and 0 < s < order):
            raise InvalidSignature
        key.verify(encode_dss_signature(r, s), data, algo)

    return check_ecdsa


def generate_private_key(alg: str, rsa_bits: int = 2048) -> SigningKey:
    """A fresh signing key for `alg` (RSA 2048/3072 for RS*/PS*, the alg's curve for ES*)."""
    if alg in RSA_ALGS:
        if rsa_bits not in (2048, 3072, 4096):
            raise ValueError("RSA key size must be 2048, 3072 or 4096")
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if alg in EC_CURVE_FOR_ALG:
        return ec.generate_private_key(CURVES[EC_CURVE_FOR_ALG[alg]])
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"alg {alg!r} not allowed")


def sign(private_key: object, alg: str, signing_input: bytes) -> bytes:
    """JWS signature bytes (RFC 7518 §3): ES* as raw R||S of the coordinate size."""
    if alg in RSA_ALGS and isinstance(private_key, rsa.RSAPrivateKey):
        bits = alg[2:]
        pad = PKCS1 if alg[0] == "R" else PSS[bits]
        return private_key.sign(signing_input, pad, HASH[bits])
    if alg in EC_CURVE_FOR_ALG and isinstance(private_key, ec.EllipticCurvePrivateKey):
        crv = EC_CURVE_FOR_ALG[alg]
        if private_key.curve.name != CURVES[crv].name:
            raise ValueError(f"{alg} needs curve {crv}")
        r, s = decode_dss_signature(private_key.sign(signing_input, ECDSA[alg[2:]]))
        size = COORD_BYTES[crv]
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg == "EdDSA" and isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(signing_input)
    raise ValueError(f"alg {alg!r} does not fit this private key")


def private_key_pem(private_key: SigningKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM for storage; the issuer encrypts it further under its KEK."""
    algo = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algo
    )


def load_private_key_pem(pem: bytes, password: bytes | None = None) -> PrivateKeyTypes:
    return serialization.load_pem_private_key(pem, password=password)
