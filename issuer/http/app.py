"""`create_app(settings)`: the issuer's FastAPI application, built on demand (no app at
import). `app_factory()` is the uvicorn `--factory` target for several workers.

`create_app` verifies the KEK against the database before it returns (the Lambda cold
start has no lifespan): a wrong one raises `WrongKek` and no app exists to answer
/healthz while every token request fails (issuer/keys/kek_check.py)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from issuer.http.access_log import AccessLogMiddleware
from issuer.http.body_limit import BodyLimitMiddleware
from issuer.http.docs import OPENAPI_URL, install_docs
from issuer.http.errors import install_error_handlers
from issuer.http.lazy_routes import include_lazily
from issuer.http.oauth import token
from issuer.http.openapi import install_openapi
from issuer.keys.kek import KekError
from issuer.keys.kek_check import verify_kek
from issuer.keys.store import ensure_active_key
from issuer.logs import configure_logging, error_fields, event_line, log_event
from issuer.services import Services, build_services
from issuer.settings import Settings, load_settings

log = logging.getLogger("issuer.app")

API_DESCRIPTION = """\
Machine-to-machine access tokens (RFC 6749 §4.4 client credentials, RFC 9068 JWTs), their
introspection (RFC 7662) and revocation (RFC 7009), discovery (RFC 8414, RFC 7517), and
the admin API for clients, signing keys and the audit trail.

**Errors** have one body everywhere: `{"error": code, "error_description": text}`
(RFC 6749 §5.2), plus `details` on a 422 listing each problem (never the input).

**Admin API**: a bearer access token of this issuer with the `issuer:admin` scope. On
this page, *Authorize* with an admin client's id and secret fetches one from the token
endpoint.

Every answer carries `X-Request-Id` (yours when well-formed), also on every log line of
the request.
"""


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    services = services or build_services(settings)
    kek_verified = _verify_kek(services)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if not kek_verified:  # the database was not there when the app was built
                await run_in_threadpool(verify_kek, services.sessions, services.kek)
            # Make the first signing key now rather than on the first token request.
            await run_in_threadpool(
                ensure_active_key, services.sessions, services.kek, settings.signing_alg
            )
        except SQLAlchemyError as exc:
            # Not fatal: /healthz reports the database, token requests answer 503, and the
            # key is made on the first request once the database is there (migrated).
            log_event(log, "startup_database_error", logging.ERROR, **error_fields(exc))
        yield
        services.engine.dispose()

    app = FastAPI(
        title="tollgate issuer",
        summary="OAuth 2.0 client credentials token issuer",
        description=API_DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        # Served by the issuer itself, no CDN (issuer/http/docs.py); off in production
        # unless ISSUER_DOCS=on. ReDoc is CDN-only in FastAPI: not served.
        openapi_url=OPENAPI_URL if settings.docs else None,
        docs_url=None,
        redoc_url=None,
    )
    install_openapi(app, settings)
    app.state.services = services
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)  # before anything reads a body
    # Outermost: sees every answer, 413 and 500 too.
    app.add_middleware(AccessLogMiddleware, trusted_proxies=settings.trusted_proxies)
    app.include_router(token.router)
    # What a token does not need is imported on its first request (or OpenAPI
    # document), in the same place among the routes (issuer/http/lazy_routes.py):
    # introspection, revocation, discovery and the health checks.
    include_lazily(app, PUBLIC_PATHS, _public_routers)
    # The admin API is imported on its first request (or OpenAPI document): a cold
    # start for a token never loads it (issuer/http/lazy_routes.py).
    include_lazily(app, "/admin", _admin_routers)
    if settings.console:  # /console (issuer/http/console/), off in production by default
        include_lazily(app, "/console", _console_routers)
    if settings.docs:
        # After the API's routes: routes are tried in order, and a token request should
        # not pay a failed match for each documentation route (about 5 us a request
        # with /docs and its assets first, measured in-process).
        install_docs(app)
    return app


# Every path of `_public_routers`' routes (tests/issuer/test_lazy_admin.py holds the two
# to each other).
PUBLIC_PATHS = ("/oauth2/introspect", "/oauth2/revoke", "/.well-known", "/healthz", "/readyz")


def _public_routers() -> list[APIRouter]:
    from issuer.http import health
    from issuer.http.discovery import metadata, revocation_list
    from issuer.http.oauth import introspect, revoke

    return [introspect.router, revoke.router, revocation_list.router, metadata.router,
            health.router]


def _console_routers() -> list[APIRouter]:
    from issuer.http.console import routers

    return routers()


def _admin_routers() -> list[APIRouter]:
    from issuer.http.admin import audit, clients, keys, trusted_issuers

    # trusted_issuers: docs/federation.md
    return [clients.router, keys.router, audit.router, trusted_issuers.router]


def _verify_kek(services: Services) -> bool:
    """False when the database cannot be read yet: verified again by the lifespan (a
    server), and before a first or new signing key is sealed (`kek_check.check_kek`).
    A wrong KEK raises `WrongKek`."""
    try:
        verify_kek(services.sessions, services.kek, services.clock())
    except SQLAlchemyError as exc:
        log_event(log, "kek_check_deferred", logging.WARNING, **error_fields(exc))
        return False
    return True


def app_factory() -> FastAPI:
    configure_logging()  # a worker process: uvicorn configured only its own loggers
    try:
        return create_app(load_settings())
    except KekError as exc:
        # uvicorn prints a traceback for anything but a TypeError from a factory: say it
        # in one line (a JSON log line, like every other line of a server process) and
        # exit as uvicorn does for a failed startup (3).
        line = event_line(log.name, "startup_failed", logging.CRITICAL,
                          error=type(exc).__name__, error_description=str(exc))
        print(line, file=sys.stderr)
        raise SystemExit(3) from None
