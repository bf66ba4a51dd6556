"""Error tree for the JOSE core.

Three branches on purpose (PyJWT's split, panva/jose's stable codes): a refused token
(`TokenError`), a key source that failed (`KeySetError`: "issuer down" must never read
as "bad token"), and a single JWK not fit for signature verification (`KeyRejected`).
"""

from __future__ import annotations

from typing import Literal, get_args

# Why a token (or a revocation list) was refused: stable, for logs, metrics and `authorizer
# check`. Data, so the type checker holds every `TokenError(...)` to it and
# tests/authorizer/test_reason_codes.py holds the docs to it.
TokenCode = Literal[
    "malformed",  # not a compact JWS / JWT: segments, base64url, JSON, duplicate keys
    "too_large",  # over MAX_TOKEN_BYTES (a revocation list: MAX_LIST_BYTES)
    "crit_unsupported",  # a `crit` header (RFC 7515 §4.1.11)
    "wrong_typ",  # not `at+jwt` (RFC 9068 §4), or not a revocation list's typ
    "alg_not_allowed",  # `none`, HS*, or not the key's algorithm (RFC 8725 §3.1)
    "unknown_kid",  # no key of the JWKS has that kid
    "bad_signature",
    "wrong_issuer",
    "wrong_audience",
    "expired",  # at or past exp + leeway (RFC 7519 §4.1.4)
    "not_yet_valid",  # nbf or iat in the future
    "bad_claim",  # a claim missing or of the wrong type
    "revocation_unavailable",  # no revocation list held yet, failing closed
    # DPoP proofs (RFC 9449 §4.3, shared/dpop.py), in the order they are checked:
    "dpop_malformed",  # not one compact JWS, or jti/htm/htu/iat missing or mistyped
    "dpop_bad_typ",  # typ is not dpop+jwt
    "dpop_bad_alg",  # none, symmetric, unsupported, or not the jwk's algorithm
    "dpop_bad_key",  # jwk missing, private members, or a key the JWK policy refuses
    "dpop_bad_signature",
    "dpop_htm_mismatch",  # htm is not the request method
    "dpop_htu_mismatch",  # htu is not the request URL (query and fragment ignored)
    "dpop_stale",  # iat outside [now - max_age - leeway, now + leeway]
    "dpop_nonce_required",  # the server demands a nonce (RFC 9449 §8) and there is none
    "dpop_bad_nonce",
    "dpop_ath_mismatch",  # ath is not the hash of the presented token (RFC 9449 §4.3)
    "dpop_key_mismatch",  # the proof's key thumbprint is not the token's cnf.jkt
    "dpop_replay",  # the (jkt, jti) was seen within the window (RFC 9449 §11.1)
]
TOKEN_CODES: tuple[TokenCode, ...] = get_args(TokenCode)


class TokenError(Exception):
    """A refused token. `code` is a stable reason code (`TokenCode`) for logs and
    metrics; `detail` is a human hint for logs. Neither ever carries the token itself."""

    __slots__ = ("code", "detail")

    def __init__(self, code: TokenCode, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class KeySetError(Exception):
    """The key source failed: fetch error, or a document that is not a JWKS."""


class KeyRejected(Exception):
    """A JWK that must not be used to verify signatures; `reason` says why."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
