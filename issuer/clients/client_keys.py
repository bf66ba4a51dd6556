"""A client's registered keys and certificates: a JWK Set checked for registration
(`private_key_jwt` keys; `self_signed_tls_client_auth` certificates as keys with `x5c`,
RFC 8705 §2.2; a trusted issuer's inline keys use the same checks), the `x5t#S256` of
the registered certificates, and keys named for audit records.

Apart from `registry.py` because the token endpoint imports that module (the secret
hasher, the client id shape): a cold start for a client_secret token loads no JWK or
certificate code (docs/benchmarks.md). Registration and the methods that read keys
import this module when they run.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from issuer.clients.registry import SELF_SIGNED_TLS_CLIENT_AUTH, ClientError
from shared.errors import KeyRejected
from shared.jwk import PRIVATE_JWK_MEMBERS, KeySet, load_public_jwk, thumbprint
from shared.mtls import cert_thumbprint

MAX_CLIENT_KEYS = 10
MAX_JWKS_BYTES = 32 * 1024


def checked_entries(
    jwks: dict[str, Any],
    error: type[ClientError] = ClientError,
    max_keys: int = MAX_CLIENT_KEYS,
    max_bytes: int = MAX_JWKS_BYTES,
) -> list[Any]:
    """A JWK Set's entries, bounded in number and size, public members only; else `error`
    (a client's jwks here, a trusted issuer's inline one in issuer/federation)."""
    entries: list[Any] = jwks["keys"]
    if not 1 <= len(entries) <= max_keys:
        raise error(f"jwks must hold 1 to {max_keys} keys")
    if len(json.dumps(jwks)) > max_bytes:
        raise error(f"jwks larger than {max_bytes} bytes")
    for entry in entries:
        # A private member in a registered key means its holder leaked its private key.
        if isinstance(entry, dict) and PRIVATE_JWK_MEMBERS & set(entry):
            raise error("jwks holds private key material: register the public keys only")
    return entries


def usable_keys(jwks: dict[str, Any], error: type[ClientError] = ClientError) -> KeySet:
    """Every key fit to verify (shared.jwk's policy), and a kid on each when several;
    else `error`."""
    keys = KeySet.from_jwks(jwks)
    if keys.rejected:
        kid, reason = keys.rejected[0]
        raise error(f"jwks key {kid!r} is not usable: {reason}")
    if len(keys.keys) > 1 and any(key.kid is None for key in keys.keys):
        raise error("every key needs a kid when jwks holds several")
    return keys


def _x5c_certificate(entry: Any, index: int) -> x509.Certificate:
    """The first certificate of a JWK's `x5c`: RFC 7517 §4.7, base64 (not base64url) DER,
    the key's own certificate first."""
    chain = entry.get("x5c") if isinstance(entry, dict) else None
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise ClientError(
            f"jwks key {index}: {SELF_SIGNED_TLS_CLIENT_AUTH} registers certificates: each "
            "key needs x5c, a list of base64 DER certificates, its own first (RFC 8705 §2.2)"
        )
    try:
        der = base64.b64decode(chain[0], validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise ClientError(f"jwks key {index}: x5c[0] is not a base64 DER certificate") from None


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def check_certificate_jwks(jwks: dict[str, Any]) -> dict[str, Any]:
    """A self_signed_tls_client_auth client's certificates (RFC 8705 §2.2): every key has
    `x5c` whose first certificate parses and holds the key the JWK's own members describe
    (RFC 7517 §4.7: "MUST match"), and the key itself passes shared.jwk's rules. The
    client is later recognised by the SHA-256 thumbprint of that certificate (the
    `x5t#S256` of RFC 8705 §3.1), so each must be registered once."""
    entries = checked_entries(jwks)
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        certificate = _x5c_certificate(entry, index)
        try:
            key = load_public_jwk(entry)
        except KeyRejected as exc:
            raise ClientError(f"jwks key {index} is not usable: {exc.reason}") from None
        if _spki(key.key) != _spki(certificate.public_key()):
            raise ClientError(
                f"jwks key {index}: the key does not match its x5c certificate's key"
            )
        print_ = cert_thumbprint(certificate.public_bytes(Encoding.DER))
        if print_ in seen:
            raise ClientError(f"jwks key {index}: the same certificate is registered twice")
        seen.add(print_)
    return {"keys": [dict(entry) for entry in entries]}


def certificate_thumbprints(jwks: Any) -> frozenset[str]:
    """The `x5t#S256` of each registered certificate (a checked JWKS: see
    `check_certificate_jwks`): what self_signed_tls_client_auth compares against."""
    prints = set()
    for entry in (jwks or {}).get("keys", ()):
        chain = entry.get("x5c") if isinstance(entry, dict) else None
        if isinstance(chain, list) and chain and isinstance(chain[0], str):
            try:
                prints.add(cert_thumbprint(base64.b64decode(chain[0], validate=True)))
            except (binascii.Error, ValueError):
                continue  # checked on registration; never matches if it is not
    return frozenset(prints)


def key_ids(jwks: Any) -> list[str]:
    """A registered JWKS's keys by name, for audit records: the kid, else the RFC 7638
    thumbprint (the keys were checked on registration)."""
    if not jwks:
        return []
    return [entry.get("kid") or thumbprint(entry) for entry in jwks["keys"]]
