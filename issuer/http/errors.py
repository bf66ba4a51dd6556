"""How failures become responses: OAuth errors as RFC 6749 §5.2 JSON, validation errors
without echoing input, database trouble as 503, and anything else as a bare 500 with no
trace (the catch-all is a middleware so Starlette does not re-raise into server logs).

One error body everywhere, the OAuth endpoints' (RFC 6749 §5.2) and the admin API's
alike: `{"error": code, "error_description": text}`, plus `details` (a list of
`{loc, msg, type}`, never the input) on a 422 for a body or parameter that does not
validate. Codes beyond RFC 6749's and RFC 6750's: `not_found` (404),
`method_not_allowed` (405), `request_too_large` (413), `unsupported_media_type` (415),
`invalid_client_metadata` (422, RFC 7591 §3.2.2: a client registration the policy
refuses). FastAPI's own `{"detail": ...}` is never sent."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from issuer.clients.registry import ClientError
from issuer.federation.errors import Conflict
from issuer.logs import error_fields, log_event
from issuer.oauth.errors import OAuthError, ServerError, TemporarilyUnavailable

log = logging.getLogger("issuer.errors")


def oauth_error_response(exc: OAuthError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers())


async def _oauth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthError)
    if not getattr(exc, "quiet", False):  # the throttle's 429: logged once, not per request
        log_event(
            log,
            "oauth_error",
            path=request.url.path,
            error=exc.error,
            status=exc.status_code,
            debug=exc.debug,
        )
    return oauth_error_response(exc)


# The `error` code of an answer made from a status alone (Starlette's HTTPException).
STATUS_ERRORS = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "temporarily_unavailable",
}


def error_body(error: str, description: str, details: list[dict] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error, "error_description": description}
    if details is not None:
        body["details"] = details
    return body


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    default = "invalid_request" if exc.status_code < 500 else "server_error"
    error = STATUS_ERRORS.get(exc.status_code, default)
    return JSONResponse(
        error_body(error, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def _location(loc: Any) -> str:
    return ".".join(str(part) for part in loc) or "request"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Pydantic's error list carries the offending input; leave it out (it may be a secret).
    details = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    first = details[0] if details else {"loc": [], "msg": "the request is not valid"}
    description = f"{_location(first['loc'])}: {first['msg']}"
    if len(details) > 1:
        description += f" (and {len(details) - 1} more in details)"
    return JSONResponse(
        error_body("invalid_request", description[:500], details), status_code=422
    )


async def _client_error(request: Request, exc: Exception) -> JSONResponse:
    # A registration rule (policy scopes/audiences, defaults, lifetime, keys): RFC 7591
    # §3.2.2's code for metadata the server refuses, the message naming the value.
    return JSONResponse(error_body("invalid_client_metadata", str(exc)[:500]), status_code=422)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    # A change colliding with another record (an external identity another client has).
    return JSONResponse(error_body("conflict", str(exc)[:500]), status_code=409)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # The class and the driver's message, redacted (no URL password, no SQL parameters).
    log_event(log, "database_error", logging.ERROR, path=request.url.path, **error_fields(exc))
    return oauth_error_response(TemporarilyUnavailable())


class CatchAllMiddleware:
    """Last line: an unexpected exception becomes a generic JSON 500, logged by type only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log_event(
                log,
                "unhandled_error",
                logging.ERROR,
                path=scope.get("path"),
                error=type(exc).__name__,
            )
            if started:
                return
            response = oauth_error_response(ServerError())
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    handlers: dict[Any, Any] = {
        OAuthError: _oauth_error,
        HTTPException: _http_error,
        RequestValidationError: _validation_error,
        ClientError: _client_error,
        Conflict: _conflict,  # a ClientError subclass: its own answer, 409
        SQLAlchemyError: _database_error,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)
    app.add_middleware(CatchAllMiddleware)
