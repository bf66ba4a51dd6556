"""Errors a machine client sees. None of them carries a secret, a private key, an
assertion or an access token: the message names the endpoint, the HTTP status and the
OAuth error code (RFC 6749 §5.2) only."""

from __future__ import annotations


class ConfigurationError(ValueError):
    """The TokenSource was given arguments that cannot work (no credential, two
    credentials, a plain-http issuer that is not on loopback, an unreadable key)."""


class TokenError(Exception):
    """No token could be had: the token endpoint refused the request, answered something
    that is not a token response, or could not be reached within the retry budget.

    `error` is the OAuth error code when the server sent one (`invalid_client`,
    `invalid_scope`, `invalid_target`, ...), `status` the last HTTP status (None when no
    answer came), `retry_after` the server's Retry-After in seconds when it was too long
    to wait for."""

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.status = status
        self.retry_after = retry_after


class DiscoveryError(TokenError):
    """The issuer's RFC 8414 metadata could not be fetched or does not fit the issuer
    (wrong `issuer` member, no `token_endpoint`, an endpoint on plain http)."""
