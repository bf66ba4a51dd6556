"""RFC 6749 §5.2 token-endpoint errors (plus RFC 8707's `invalid_target`), one class each.

`description` is shown to the client; `debug` stays in the server log (fosite's split),
so a reason like "unknown client" vs "wrong secret" never reaches the caller.
"""

from __future__ import annotations

from typing import ClassVar

# RFC 6749 §5.1: token responses, errors included, must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
REALM = "tollgate"


class OAuthError(Exception):
    error: ClassVar[str] = "invalid_request"
    status_code: ClassVar[int] = 400
    default_description: ClassVar[str] = "the request is invalid"

    def __init__(self, description: str | None = None, *, debug: str | None = None) -> None:
        self.description = description or self.default_description
        self.debug = debug
        super().__init__(f"{self.error}: {self.description}")

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}

    def headers(self) -> dict[str, str]:
        return dict(NO_STORE)


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """Always the same body, whatever failed (unknown id, wrong secret, disabled), so the
    answer does not tell an attacker which client ids exist (docs/threat-model.md §2)."""

    error = "invalid_client"
    status_code = 401
    default_description = "client authentication failed"

    def headers(self) -> dict[str, str]:
        # RFC 6749 §5.2: a 401 must carry WWW-Authenticate for the scheme the client may use.
        return {**NO_STORE, "WWW-Authenticate": f'Basic realm="{REALM}"'}


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    default_description = "the authorization grant is invalid"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    default_description = "this client may not use this grant type"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    default_description = "only grant_type=client_credentials is supported"


class InvalidScope(OAuthError):
    error = "invalid_scope"
    default_description = "the requested scope is not allowed"


class InvalidTarget(OAuthError):
    error = "invalid_target"  # RFC 8707 §2
    default_description = "the requested resource or audience is not allowed"


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5: a DPoP proof that fails a check of §4.3 (or is missing for a client
    registered for DPoP): 400 `invalid_dpop_proof`. The description ends with the
    code of the check (`dpop_*`, shared/dpop.py);
    a proof is the client's own signature over public values, nothing secret."""

    error = "invalid_dpop_proof"
    default_description = "the DPoP proof is invalid"


class UseDpopNonce(OAuthError):
    """RFC 9449 §8: the server demands a nonce it issued in the proof; the answer
    carries the one to use in `DPoP-Nonce`."""

    error = "use_dpop_nonce"
    default_description = "use the DPoP-Nonce this answer carries in a new DPoP proof"

    def __init__(self, nonce: str, *, debug: str | None = None) -> None:
        super().__init__(debug=debug)
        self.nonce = nonce

    def headers(self) -> dict[str, str]:
        return {**NO_STORE, "DPoP-Nonce": self.nonce}


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503
    default_description = "the service is temporarily unavailable; retry later"
    # RFC 9110 §10.2.3: an outage (e.g. a database restart) is brief; say when to retry
    # rather than let clients hammer or give up.
    retry_after: ClassVar[int] = 2

    def headers(self) -> dict[str, str]:
        return {**NO_STORE, "Retry-After": str(self.retry_after)}


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500
    default_description = "unexpected error"


TOKEN_ENDPOINT_ERRORS: tuple[type[OAuthError], ...] = (
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidTarget,
    InvalidDpopProof,
    UseDpopNonce,
)
