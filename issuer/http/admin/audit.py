"""`GET /admin/audit`: the audit trail of admin changes, newest first, paged."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.security import HTTPBearer

from issuer.audit import audit_page, audit_view
from issuer.http.admin.guard import AdminDep, AdminRoute
from issuer.http.deps import SessionDep
from issuer.store.paging import DEFAULT_LIMIT, MAX_LIMIT, decode_id_cursor, encode_cursor

router = APIRouter(
    prefix="/admin/audit",
    tags=["admin"],
    route_class=AdminRoute,
    dependencies=[Depends(HTTPBearer(auto_error=False))],
)


@router.get("", summary="Audit records, newest first")
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
    last = rows[-1] if len(rows) == limit else None
    return {
        "items": [audit_view(r) for r in rows],
        "next_cursor": encode_cursor([last.id]) if last else None,
    }
