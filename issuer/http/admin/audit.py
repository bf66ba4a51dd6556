"""`GET /admin/audit`: the audit trail of admin changes, newest first, paged."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from issuer.audit import audit_page, audit_view
from issuer.http.admin.guard import AdminDep, AdminRoute
from issuer.http.deps import SessionDep
from issuer.http.openapi import admin_errors, ok
from issuer.http.openapi_models import AuditList
from issuer.store.paging import DEFAULT_LIMIT, MAX_LIMIT, decode_id_cursor, next_cursor

router = APIRouter(
    prefix="/admin/audit",
    tags=["admin"],
    route_class=AdminRoute,  # authenticates; the schemes are documented by issuer/http/openapi.py
    # 413: BodyLimitMiddleware refuses a body over 64 KiB on any admin request.
    responses=admin_errors(401, 403, 413, 503),
)

AUDIT_EXAMPLE = {
    "id": 42,
    "at": "2025-01-31T12:00:00+00:00",
    "actor": "c_3q2-7wAbQ0uX9TqPz1Lk2w",
    "action": "client.update",
    "target": "c_9ZkqU0b1QyW2e3R4t5Y6uA",
    "source": "192.0.2.10",
    "changes": {"scopes": {"from": ["orders:read"], "to": ["orders:read", "orders:write"]}},
}


@router.get(
    "",
    summary="Audit records, newest first",
    response_model=None,
    responses={
        **ok(AuditList, "a page of records", {"items": [AUDIT_EXAMPLE], "next_cursor": None}),
        **admin_errors(422),
    },
)
def audit(
    admin: AdminDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    before = None
    if cursor is not None:
        try:
            before = decode_id_cursor(cursor)
        except ValueError:
            raise HTTPException(422, "cursor is not valid") from None
    rows = audit_page(session, limit, before)
    return {
        "items": [audit_view(r) for r in rows],
        "next_cursor": next_cursor(rows, limit, lambda row: [row.id]),
    }
