"""Token minting for tests: good tokens, and the malformed/forged ones of
docs/threat-model.md §1.

Reusable from every test directory as `helpers.mint`. Keys are generated fresh; nothing
here reads a file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization

from shared.b64 import b64url_encode
from shared.jwa import generate_private_key, sign
from shared.jwk import public_jwk

DROP = object()  # header_overrides value that removes a member (e.g. {"kid": DROP})


def changed(members: dict, changes: dict) -> dict:
    """`members` with `changes` applied in place: a value sets a member, DROP removes it."""
    for name, value in changes.items():
        if value is DROP:
            members.pop(name, None)
        else:
            members[name] = value
    return members


def make_key(alg: str = "RS256", kid: str | None = None) -> tuple[Any, dict]:
    """(private key, published public JWK). `kid` defaults to the RFC 7638 thumbprint."""
    private_key = generate_private_key(alg)
    jwk = public_jwk(private_key, alg)
    if kid is not None:
        jwk["kid"] = kid
    return private_key, jwk


def jwks(*jwk: dict) -> dict:
    return {"keys": list(jwk)}


def good_claims(
    issuer: str,
    audience: str | list[str],
    scope: str = "orders:read",
    lifetime: int = 300,
    now: float | None = None,
    client_id: str = "client-1",
) -> dict:
    """An RFC 9068 claims set that a verifier configured with issuer/audience accepts."""
    now = int(time.time() if now is None else now)
    return {
        "iss": issuer,
        "sub": client_id,
        "aud": audience,
        "exp": now + lifetime,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "client_id": client_id,
        "scope": scope,
    }


def _segment(part: dict | bytes | str) -> str:
    if isinstance(part, dict):
        part = json.dumps(part, separators=(",", ":")).encode()
    if isinstance(part, str):
        part = part.encode()
    return b64url_encode(part)


def raw_token(header: dict | bytes | str, payload: dict | bytes | str, signature: bytes) -> str:
    """Assemble a compact token from raw parts (bytes are used as-is: duplicate keys,
    non-UTF-8, non-objects)."""
    return f"{_segment(header)}.{_segment(payload)}.{b64url_encode(signature)}"


def signing_input(header: dict | bytes | str, payload: dict | bytes | str) -> bytes:
    return f"{_segment(header)}.{_segment(payload)}".encode()


def header_for(alg: str, kid: str | None, header_overrides: dict | None = None) -> dict:
    header: dict = {"alg": alg, "typ": "at+jwt"}
    if kid is not None:
        header["kid"] = kid
    return changed(header, header_overrides or {})


def mint(
    private_key: Any,
    alg: str,
    claims: dict | bytes,
    header_overrides: dict | None = None,
    kid: str | None = None,
) -> str:
    """Sign `claims` with `private_key` under `alg`. Header: alg, typ at+jwt, kid (if
    given), then `header_overrides` (which may even change `alg` after the fact)."""
    header = header_for(alg, kid, header_overrides)
    data = signing_input(header, claims)
    return data.decode() + "." + b64url_encode(sign(private_key, alg, data))


def sign_raw(private_key: Any, alg: str, header: dict | bytes, payload: dict | bytes) -> str:
    """Correctly signed token over arbitrary header/payload bytes."""
    data = signing_input(header, payload)
    return data.decode() + "." + b64url_encode(sign(private_key, alg, data))


def forge_none(claims: dict, alg: str = "none", kid: str | None = None, sig: bytes = b"") -> str:
    """`alg: none` (any spelling), with an empty or junk signature (RFC 8725 §3.1)."""
    return raw_token(header_for(alg, kid), claims, sig)


def forge_hmac(secret: bytes, claims: dict, alg: str = "HS256", kid: str | None = None) -> str:
    """HMAC-signed token; with `public_pem(...)` as the secret this is the RS/HS key
    confusion attack (CVE-2016-10555)."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    data = signing_input(header_for(alg, kid), claims)
    return data.decode() + "." + b64url_encode(hmac.new(secret, data, digest[alg]).digest())


def public_pem(private_key: Any) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# Order n of P-256: r or s equal to n must be refused as firmly as 0.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def forge_psychic(
    claims: dict, alg: str = "ES256", kid: str | None = None, r: int = 0, s: int = 0
) -> str:
    """ECDSA signature with chosen r, s (CVE-2022-21449: r = s = 0 verified anything
    in Java 15-18). Values are fitted into the fixed JWS width."""
    size = {"ES256": 32, "ES384": 48, "ES512": 66}[alg]
    width = max(size, (max(r, s).bit_length() + 7) // 8)
    sig = r.to_bytes(width, "big")[-size:] + s.to_bytes(width, "big")[-size:]
    return raw_token(header_for(alg, kid), claims, sig)


def truncate_signature(token: str, chars: int = 4) -> str:
    return token[:-chars]


def strip_signature(token: str) -> str:
    return token.rsplit(".", 1)[0] + "."
