"""Auth hooks for the two common HTTP clients: each request gets the source's current
token; a `401` whose challenge says `invalid_token` (RFC 6750 §3.1: revoked, or signed by
a key the API no longer trusts) drops that token and sends the request once more with a
new one. Any other answer, including a second 401, goes back to the caller as it is.

Both take their headers from `TokenSource.present()` and ask
`TokenSource.retry_after_refusal()` about a refusal: for a DPoP source (RFC 9449) that is
`Authorization: DPoP` plus a new proof per request (the retry gets a new one too), and a
`DPoP error="use_dpop_nonce"` challenge is the one retry, with the server's nonce.

A certificate-bound token (RFC 8705 §3, a source with `client_cert`) is accepted only on
a connection that presents the same certificate, which an auth hook cannot set: the
request's client must (`requests.get(..., cert=source.client_cert)`, or
`tollgate_client.requests_session(source)` / `httpx_client(source)`, which set it up).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Any

import httpx
import requests
from requests.auth import AuthBase

from tollgate_client.source import Presented, TokenSource


class RequestsAuth(AuthBase):
    """`requests.get(url, auth=RequestsAuth(source))`, or `session.auth = ...`. With a
    `client_cert` source, also `cert=source.client_cert` (or `requests_session(source)`)."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        presented = self.source.present(request.method or "GET", request.url or "")
        request.headers.update(presented.headers)
        # Where a file body starts, to send it again after a refusal.
        position = _tell(request.body)
        request.register_hook("response", _Retry(self.source, presented, position))
        return request

    def __repr__(self) -> str:
        return f"RequestsAuth({self.source!r})"


class _Retry:
    """The response hook of one request: at most one retry, with a new token."""

    def __init__(self, source: TokenSource, presented: Presented, position: int | None) -> None:
        self.source = source
        self.presented = presented
        self.position = position

    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        # The retry goes through the adapter (as HTTPDigestAuth's does), which runs no
        # hooks: one retry at most, whatever it answers.
        request = response.request
        refused = self.source.retry_after_refusal(
            self.presented, response.status_code, response.headers
        )
        if not refused:
            return response
        body = request.body
        if body is not None and not isinstance(body, str | bytes):
            seek = getattr(body, "seek", None)
            if self.position is None or seek is None:
                return response  # a one-shot stream cannot be sent twice
            seek(self.position)
        response.content  # noqa: B018 - read it so the connection goes back to the pool
        response.close()
        retry = request.copy()
        retry.headers.update(self.source.present(retry.method or "GET", retry.url or "").headers)
        again = response.connection.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        return again


def _tell(body: Any) -> int | None:
    if body is None or isinstance(body, str | bytes):
        return None
    try:
        return int(body.tell())
    except (AttributeError, OSError):
        return None


class HttpxAuth(httpx.Auth):
    """`httpx.Client(auth=HttpxAuth(source))` or `httpx.AsyncClient(auth=...)`: the sync
    flow calls `source.token()`, the async flow `await source.atoken()`, so an event loop
    is never blocked waiting for a token. The request body is read first
    (`requires_request_body`) so that it can be sent again after an invalid_token
    refusal. With a `client_cert` source the client must present that certificate
    (`httpx_client(source)` makes one that does)."""

    requires_request_body = True

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        presented = self.source.present(request.method, str(request.url))
        request.headers.update(presented.headers)
        response = yield request
        if self.source.retry_after_refusal(presented, response.status_code, response.headers):
            again = self.source.present(request.method, str(request.url))
            request.headers.update(again.headers)
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        presented = await self.source.apresent(request.method, str(request.url))
        request.headers.update(presented.headers)
        response = yield request
        if self.source.retry_after_refusal(presented, response.status_code, response.headers):
            again = await self.source.apresent(request.method, str(request.url))
            request.headers.update(again.headers)
            yield request

    def __repr__(self) -> str:
        return f"HttpxAuth({self.source!r})"
