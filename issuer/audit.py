"""The audit trail of admin changes: every admin change leaves a record (who, what, when).

`record()` only adds the row to the caller's session: the caller commits it together
with the change, so a failed change leaves no record and a change never lacks one.
Callers pass public values only; `record()` still refuses field names that smell of
secrets, so a future caller cannot slip a hash in by accident.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from issuer.store.audit_tables import AuditRecord
from issuer.store.tables import utcnow

_FORBIDDEN = ("secret", "hash", "private", "password")


@dataclass(frozen=True)
class Actor:
    """Who makes a change: an admin client (its id, the remote address) or the CLI."""

    id: str
    source: str | None


def cli_actor() -> Actor:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        user = "unknown"
    return Actor(id=f"cli:{user}", source="local")


def record(
    session: Session,
    actor: Actor,
    action: str,
    target: str,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> AuditRecord:
    for name in changes:
        if any(word in name.lower() for word in _FORBIDDEN):
            raise ValueError(f"audit field {name!r} looks like secret material")
    row = AuditRecord(
        at=now or utcnow(),
        actor=actor.id[:200],
        action=action,
        target=target[:200],
        source=actor.source[:100] if actor.source else None,
        changes=changes,
    )
    session.add(row)
    return row


def audit_page(
    session: Session,
    limit: int,
    before: int | None = None,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
) -> list[AuditRecord]:
    """Newest first; `before` is the id of the last record of the previous page. `actor`,
    `action`, `target`: only records with exactly that value (the admin console's filters)."""
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    for column, value in ((AuditRecord.actor, actor), (AuditRecord.action, action),
                          (AuditRecord.target, target)):
        if value:
            query = query.where(column == value)
    if before is not None:
        query = query.where(AuditRecord.id < before)
    return list(session.scalars(query))


def audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditRecord)) or 0


def audit_view(row: AuditRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "source": row.source,
        "changes": row.changes,
    }
