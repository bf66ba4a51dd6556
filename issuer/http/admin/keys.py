"""`/admin/keys`: the signing keys' public metadata and lifecycle, and a rotation (which
only makes a `next` key; it signs once published for the verifier cache TTL)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from issuer.http.admin.guard import AdminDep, AdminRoute
from issuer.http.deps import ServicesDep, SessionDep
from issuer.http.openapi import KEY_EXAMPLE, admin_errors, ok
from issuer.http.openapi_models import KeyList, KeyRotation
from issuer.keys.admin import key_view, list_keys, rotate
from issuer.keys.lifecycle import KeySchedule

router = APIRouter(
    prefix="/admin/keys",
    tags=["admin"],
    route_class=AdminRoute,  # authenticates; the schemes are documented by issuer/http/openapi.py
    # 413: BodyLimitMiddleware refuses a body over 64 KiB on any admin request.
    responses=admin_errors(401, 403, 413, 503),
)


@router.get(
    "",
    summary="Signing keys: kid, alg, status, dates (never private material)",
    response_model=None,
    responses=ok(KeyList, "every key, newest first", {"items": [KEY_EXAMPLE]}),
)
def keys(admin: AdminDep, services: ServicesDep, session: SessionDep) -> dict[str, Any]:
    services.key_store.maintain(session, services.clock())  # show statuses as of now
    schedule = KeySchedule.from_settings(services.settings)
    return {"items": [key_view(k, schedule) for k in list_keys(session)]}


@router.post(
    "/rotate",
    status_code=201,
    summary="Start a rotation: publish a next key",
    response_model=None,
    responses={
        **ok(KeyRotation, "a new next key", {"created": True, "key": {
            **KEY_EXAMPLE, "status": "next", "activated_at": None,
            "activates_at": "2025-01-01T00:10:00+00:00"}}, 201),
        **ok(KeyRotation, "a next key was already pending: unchanged",
             {"created": False, "key": {**KEY_EXAMPLE, "status": "next"}}),
    },
)
def rotate_keys(admin: AdminDep, services: ServicesDep, session: SessionDep) -> JSONResponse:
    now = services.clock()
    rotation = rotate(session, services.kek, services.settings.signing_alg, admin, now)
    services.key_store.invalidate()
    schedule = KeySchedule.from_settings(services.settings)
    body = {"created": rotation.created, "key": key_view(rotation.key, schedule)}
    return JSONResponse(body, status_code=201 if rotation.created else 200)
