"""Request body limit for the JSON endpoints (the admin API): a body over
`MAX_JSON_BODY` is refused with 413 (RFC 9110 §15.5.14) before the app parses it, so a
huge or endless body cannot make the issuer buffer and parse megabytes of JSON.

The OAuth endpoints (`/oauth2/...`) are left to their own, stricter reader
(`issuer/http/oauth/form.py`, 8 KiB, answered as RFC 6749 `invalid_request`).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_BODY = 64 * 1024
_OWN_READER = ("/oauth2/",)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int = MAX_JSON_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_OWN_READER):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send)
            return
        # Chunked (or lying) bodies: read up to the limit here, then replay to the app.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        # The issuer's one error shape (issuer/http/errors.py).
        body = json.dumps(
            {
                "error": "request_too_large",
                "error_description": f"the request body is larger than {self.limit} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
