"""Reads for the admin console: clients found by id or name, and which clients hold
which scopes. Keyset paging as `admin.client_page` (oldest first)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from issuer.store.models import Client

MAX_SCOPE_HOLDERS = 1000  # clients read for the policy page, oldest first


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def search_clients(
    session: Session, text: str, limit: int, after: tuple[datetime, str] | None = None
) -> list[Client]:
    """Clients whose id or name contains `text` (case-insensitive; `%` and `_` literal)."""
    query = select(Client).order_by(Client.created_at, Client.client_id).limit(limit)
    if text:
        pattern = _like(text)
        query = query.where(or_(
            func.lower(Client.client_id).like(pattern, escape="\\"),
            func.lower(Client.name).like(pattern, escape="\\"),
        ))
    if after is not None:
        created, cid = after
        same_time = and_(Client.created_at == created, Client.client_id > cid)
        query = query.where(or_(Client.created_at > created, same_time))
    return list(session.scalars(query))


def scope_holders(session: Session) -> tuple[dict[str, list[tuple[str, str]]], bool]:
    """scope -> [(client_id, name)] over the first `MAX_SCOPE_HOLDERS` clients, and
    whether there were more."""
    rows = session.execute(
        select(Client.client_id, Client.name, Client.scopes)
        .order_by(Client.created_at, Client.client_id)
        .limit(MAX_SCOPE_HOLDERS + 1)
    ).all()
    holders: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for client_id, name, scopes in rows[:MAX_SCOPE_HOLDERS]:
        for scope in scopes:
            holders[scope].append((client_id, name))
    return dict(holders), len(rows) > MAX_SCOPE_HOLDERS
