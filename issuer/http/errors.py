"""How failures become responses: OAuth errors as RFC 6749 §5.2 JSON, validation errors
without echoing input, database trouble as 503, and anything else as a bare 500 with no
trace (the catch-all is a middleware so Starlette does not re-raise into server logs)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from issuer.clients.registry import ClientError
from issuer.logs import log_event
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


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Pydantic's error list carries the offending input; leave it out (it may be a secret).
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


async def _client_error(request: Request, exc: Exception) -> JSONResponse:
    # A registration rule (policy scopes/audiences, defaults, lifetime): the same 422 shape
    # as a body that does not validate, the message naming the offending value.
    return JSONResponse(
        {"detail": [{"loc": ["body"], "msg": str(exc), "type": "policy_error"}]},
        status_code=422,
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    log_event(log, "database_error", logging.ERROR, path=request.url.path, error=type(exc).__name__)
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
        RequestValidationError: _validation_error,
        ClientError: _client_error,
        SQLAlchemyError: _database_error,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)
    app.add_middleware(CatchAllMiddleware)
