"""JWS Compact Serialization (RFC 7515 §7.1): parse before any crypto, sign for the issuer.

Every structural check runs before a key is looked up or a signature computed
(docs/threat-model.md §1), so malformed input costs microseconds and never reaches OpenSSL.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from shared.b64 import b64url_decode, b64url_encode
from shared.errors import TokenError
from shared.jwa import sign

MAX_TOKEN_BYTES = 8192


class Jws(NamedTuple):
    """A compact JWS whose payload is opaque bytes (RFC 7515)."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


class Compact(NamedTuple):
    """A compact JWS whose payload is a JWT claims set (RFC 7519 §7.2)."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7515 §5.2 step 4 / RFC 8725 §3.4: a duplicated member name is either rejected
    # or last-wins; last-wins lets two parsers disagree on `alg` or `sub`. Reject.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


# Built once: json.loads(..., object_pairs_hook=...) would build a decoder per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)


def strict_json(data: bytes | str) -> Any:
    """JSON read as token segments are (RFC 8259, RFC 7515 §5.2 step 4): bytes are UTF-8
    only, duplicate member names and NaN/Infinity are refused. For the other documents
    a verifier trusts (a JWKS, the issuer's paging cursors); `ValueError` on any fault."""
    try:
        return _DECODER.decode(data.decode("utf-8") if isinstance(data, bytes) else data)
    except RecursionError:  # nesting deeper than the interpreter's stack
        raise ValueError("JSON nested too deeply") from None


def _json_object(segment: bytes, what: str) -> dict[str, Any]:
    try:
        # Decode UTF-8 ourselves: json.loads(bytes) would also accept UTF-16/32.
        value = _DECODER.decode(segment.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise TokenError("malformed", f"{what} is not valid UTF-8 JSON") from exc
    if type(value) is not dict:
        raise TokenError("malformed", f"{what} is not a JSON object")
    return value


def parse_jws(token: Any, max_bytes: int = MAX_TOKEN_BYTES) -> Jws:
    """Split and decode a compact JWS; `TokenError` on any structural fault. `max_bytes`
    is raised only for documents that are not tokens (the signed revocation list)."""
    if type(token) is not str:
        raise TokenError("malformed", "token is not a string")
    if len(token) > max_bytes:
        raise TokenError("too_large", f"token longer than {max_bytes} bytes")
    if token.startswith("{"):
        raise TokenError("malformed", "JSON serialization where compact is expected")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed", f"{len(parts)} segments, compact JWS has 3")
    header_b64, payload_b64, signature_b64 = parts
    try:
        header_bytes = b64url_decode(header_b64)
        payload = b64url_decode(payload_b64)
        signature = b64url_decode(signature_b64)
    except ValueError as exc:
        raise TokenError("malformed", "segment is not strict base64url") from exc
    header = _json_object(header_bytes, "header")
    if type(header.get("alg")) is not str:
        raise TokenError("malformed", "header alg missing or not a string")
    # The alphabet check above makes the token ASCII, so this cannot fail.
    signing_input = token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
    return Jws(header, payload, signing_input, signature)


def parse_compact(token: Any, max_bytes: int = MAX_TOKEN_BYTES) -> Compact:
    """`parse_jws` plus the payload as a JSON object (a JWT claims set)."""
    jws = parse_jws(token, max_bytes)
    claims = _json_object(jws.payload, "claims")
    return Compact(jws.header, claims, jws.signing_input, jws.signature)


def _compact_json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_compact(
    header: dict[str, Any], claims: dict[str, Any], private_key: object, alg: str
) -> str:
    """Sign `claims` as a compact JWS; `header["alg"]` is set from `alg`."""
    if header.get("alg", alg) != alg:
        raise ValueError("header alg differs from the signing alg")
    header = {"alg": alg, **{k: v for k, v in header.items() if k != "alg"}}
    signing_input = (
        b64url_encode(_compact_json(header)) + "." + b64url_encode(_compact_json(claims))
    )
    signature = sign(private_key, alg, signing_input.encode("ascii"))
    return signing_input + "." + b64url_encode(signature)
