"""Error tree for the JOSE core.

Three branches on purpose (PyJWT's split, panva/jose's stable codes): a refused token
(`TokenError`), a key source that failed (`KeySetError`: "issuer down" must never read
as "bad token"), and a single JWK not fit for signature verification (`KeyRejected`).
"""

from __future__ import annotations


class TokenError(Exception):
    """A refused token. `code` is a stable reason code for logs and metrics; `detail` is
    a human hint for logs. Neither ever carries the token itself."""

    __slots__ = ("code", "detail")

    def __init__(self, code: str, detail: str = "") -> None:
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
