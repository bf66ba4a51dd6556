"""RFC 6750 §3 bearer-token errors for the admin API.

Rendered by the same handler as the OAuth errors (`issuer/http/errors.py`): JSON body with
`error` and `error_description`, `Cache-Control: no-store`, and a `WWW-Authenticate:
Bearer` challenge naming the error so scripted clients can tell "get a new token" (401)
from "this client may not administer" (403).
"""

from __future__ import annotations

from issuer.oauth.errors import NO_STORE, REALM, OAuthError
from shared.scope import ADMIN_SCOPE


class BearerError(OAuthError):
    def headers(self) -> dict[str, str]:
        challenge = f'Bearer realm="{REALM}", error="{self.error}"'
        if self.error == "insufficient_scope":
            challenge += f', scope="{ADMIN_SCOPE}"'  # RFC 6750 §3: the scope needed
        return {**NO_STORE, "WWW-Authenticate": challenge}


class InvalidToken(BearerError):
    """No token, or one that is malformed, badly signed, expired, from another issuer or
    for another audience, or whose client was disabled or deleted since."""

    error = "invalid_token"
    status_code = 401
    default_description = "a valid admin access token is required"


class MissingToken(InvalidToken):
    """No Authorization header at all: RFC 6750 §3.1 says the challenge SHOULD NOT carry
    an error code then (the client did not try; nothing about a token went wrong)."""

    def headers(self) -> dict[str, str]:
        return {**NO_STORE, "WWW-Authenticate": f'Bearer realm="{REALM}"'}


class InsufficientScope(BearerError):
    error = "insufficient_scope"
    status_code = 403
    default_description = f"the access token lacks the {ADMIN_SCOPE} scope"
