"""The KEK check value (`issuer/kek_check.py`): one row per database, so a wrong
key-encryption key is caught even before any signing key exists. Its own module on the
same `Base.metadata` (migrations/env.py imports it), revision 0006."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UtcDateTime, utcnow


class KekCheck(Base):
    """`value`: a known marker sealed under the KEK with AES-256-GCM (`Kek.check_value`).
    Not secret and useless without the KEK; a KEK that cannot open it is not the one the
    stored keys and secret hashes were made under. Exactly one row (`id` 1): concurrent
    first starts race on the primary key and the losers verify the winner's value."""

    __tablename__ = "kek_check"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
