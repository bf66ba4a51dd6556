"""`GET /healthz`: alive, and the database answers (503 otherwise, for load balancers).

`GET /readyz`: ready to issue tokens, or 503 naming the first check that failed, in
this order (each says what an operator fixes next):
- `database`: the database answers;
- `migrations`: it is at this code's newest migration (`issuer db upgrade`);
- `policy`: the policy is loaded and declares an API;
- `kek`: the KEK opens the stored check value and decrypts the active signing key (a
  server whose startup KEK check was deferred by a database that was down says so here,
  instead of reporting ready while every token request fails);
- `signing_key`: a signing key is active.
The body names checks and states only: never a key, a URL or a driver message."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from issuer.http.deps import ServicesDep
from issuer.http.openapi import ok
from issuer.logs import log_event

if TYPE_CHECKING:
    from issuer.services import Services

router = APIRouter(tags=["health"])
log = logging.getLogger("issuer.health")


@router.get(
    "/healthz",
    summary="Liveness and database reachability",
    response_model=None,
    responses={
        **ok("Health", "alive, the database answers", {"status": "ok", "database": "ok"}),
        **ok("Health", "the database does not answer",
             {"status": "unavailable", "database": "down"}, 503),
    },
)
def healthz(services: ServicesDep) -> JSONResponse:
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log_event(log, "health_database_down", logging.WARNING, error=type(exc).__name__)
        return JSONResponse(
            {"status": "unavailable", "database": "down"},
            status_code=503,
            headers={"Cache-Control": "no-store"},
        )
    return JSONResponse({"status": "ok", "database": "ok"}, headers={"Cache-Control": "no-store"})


# The body's schema: `Ready` in issuer/http/openapi_models.py (its `ReadyCheck`, these names).
READY_CHECKS = ("database", "migrations", "policy", "kek", "signing_key")


def _readiness(services: Services) -> str | None:
    """The first failing check's name, or None when ready. Reads only."""
    from issuer.keys.kek import SECRET_KEY_AAD, KekError
    from issuer.store.migrate import current_revision, head_revision
    from issuer.store.models import KekCheck, SigningKey

    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            if current_revision(conn) != head_revision():
                return "migrations"
    except SQLAlchemyError as exc:
        log_event(log, "ready_database_down", logging.WARNING, error=type(exc).__name__)
        return "database"
    if services.policy is None or not services.policy.apis:
        return "policy"
    try:
        with services.sessions() as session:
            check = session.get(KekCheck, 1)
            active = session.scalars(
                select(SigningKey).where(SigningKey.status == "active")
            ).first()
    except SQLAlchemyError as exc:
        log_event(log, "ready_database_down", logging.WARNING, error=type(exc).__name__)
        return "database"
    kek = services.kek
    try:
        if check is not None:
            if not kek.opens(check.value):
                return "kek"
            if check.secret_key is not None:
                kek.decrypt(check.secret_key, SECRET_KEY_AAD)
        if active is not None:
            kek.decrypt(active.private_key_encrypted, active.kid)
    except KekError:
        return "kek"
    if active is None:
        return "signing_key"
    return None


@router.get(
    "/readyz",
    summary="Readiness: database, migrations, policy, KEK and an active signing key",
    response_model=None,
    responses={
        **ok("Ready", "ready to issue tokens",
             {"status": "ready", "checks": dict.fromkeys(READY_CHECKS, "ok")}),
        **ok("Ready", "not ready: `failed` names the first failed check", {
            "status": "not_ready", "failed": "kek",
            "checks": {"database": "ok", "migrations": "ok", "policy": "ok",
                       "kek": "failed", "signing_key": "skipped"}}, 503),
    },
)
def readyz(services: ServicesDep) -> JSONResponse:
    failed = _readiness(services)
    headers = {"Cache-Control": "no-store"}
    if failed is None:
        return JSONResponse(
            {"status": "ready", "checks": dict.fromkeys(READY_CHECKS, "ok")}, headers=headers
        )
    at = READY_CHECKS.index(failed)
    checks = {
        name: "ok" if i < at else "failed" if i == at else "skipped"
        for i, name in enumerate(READY_CHECKS)
    }
    log_event(log, "not_ready", logging.WARNING, failed=failed)
    return JSONResponse(
        {"status": "not_ready", "failed": failed, "checks": checks},
        status_code=503,
        headers=headers,
    )
