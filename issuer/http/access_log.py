"""One JSON access line per HTTP request (logger `issuer.http`, event `http_request`).

It replaces the server's prose access log (`issuer serve` runs uvicorn with
`access_log=False`): log pipelines get the same JSON objects as every other issuer event,
and a token request writes one line, not two. A request whose endpoint already wrote its
own event line for a success (the token endpoint's `token_issued`, one line per token)
marks the scope with `LOGGED` and gets no second line; its failures are still logged here.

A request the brute-force brake refused (429, its key past the limit) is marked
`THROTTLED` and gets no line either: the throttle logs once that the brake engaged, so a
flood of failures costs the log a bounded amount (issuer/oauth/throttle.py).

Only the method, the path (no query string), the status, the duration and the client
address (`issuer.http.client_address`: the peer, or what a named proxy says) are written:
never a header, a body or a query, where credentials travel.

The same middleware gives each request its id (`issuer.http.request_id`): set in
`issuer.logs.REQUEST_ID` for every line written while the request is served, and echoed
as `X-Request-Id` on the response. One layer for both: each ASGI layer costs the token
path a call and a `send` wrapper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from issuer.http.client_address import IPNetwork, client_address
from issuer.http.request_id import HEADER, request_id_for
from issuer.logs import REQUEST_ID, log_event

log = logging.getLogger("issuer.http")

# Set (to True) in the ASGI scope by an endpoint that logged its own event for the request.
LOGGED = "tollgate.logged"
# Set by the failure handler on a request the brake refused (issuer/http/oauth/client_request.py).
THROTTLED = "tollgate.throttled"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[IPNetwork] = ()) -> None:
        self.app = app
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(scope)
        id_header = (HEADER, request_id.encode("ascii"))
        reset = REQUEST_ID.set(request_id)
        logging_on = log.isEnabledFor(logging.INFO)
        started = time.perf_counter()
        status = 0  # 0: no response was started (the client went away, or a crash)

        async def tagging_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new list: a response's header list may be shared (static headers).
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, tagging_send)
        finally:
            quiet = not logging_on or (scope.get(LOGGED) and status < 400) or (
                scope.get(THROTTLED) and status == 429
            )
            if not quiet:
                client = client_address(scope, self.trusted_proxies)
                log_event(
                    log,
                    "http_request",
                    method=scope["method"],
                    path=scope["path"][:256],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    client=client[:64] if client else None,
                )
            REQUEST_ID.reset(reset)
