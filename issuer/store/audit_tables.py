"""The audit log's table (`issuer/audit.py` writes and reads it), imported with the
admin code that records changes, not with the token path (issuer/store/models.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from issuer.store.models import Base
from issuer.store.tables import UtcDateTime, utcnow


class AuditRecord(Base):
    """One admin change (who, what, when), written in the transaction of the change
    itself. `changes` holds field names and public values only, never a secret or hash."""

    __tablename__ = "audit_log"

    # Autoincrement id: the order records were written in, and the paging cursor.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))  # admin client id, or cli:<user>
    action: Mapped[str] = mapped_column(String(64))  # e.g. client.create, key.rotate
    target: Mapped[str] = mapped_column(String(200))  # client id or kid
    source: Mapped[str | None] = mapped_column(String(100))  # remote address, or "local"
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
