"""`GET /healthz`: alive, and the database answers (503 otherwise, for load balancers)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from issuer.http.deps import ServicesDep
from issuer.http.openapi import Health
from issuer.logs import log_event

router = APIRouter(tags=["health"])
log = logging.getLogger("issuer.health")


@router.get(
    "/healthz",
    summary="Liveness and database reachability",
    response_model=None,
    responses={
        200: {"model": Health, "description": "alive, the database answers",
              "content": {"application/json": {"example": {"status": "ok", "database": "ok"}}}},
        503: {"model": Health, "description": "the database does not answer",
              "content": {"application/json": {"example": {
                  "status": "unavailable", "database": "down"}}}},
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
