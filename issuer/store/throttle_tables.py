"""The brute-force throttle's failure log (issuer/oauth/throttle_store.py), imported by the
first failed client authentication: a request that authenticates never meets the
throttle (issuer/oauth/throttle.py)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from issuer.store.models import Base


class AuthFailure(Base):
    """One failed client authentication for one throttle key (`client:<id>`,
    `addr:<ip or IPv6 /64>`, or `client#<sha256>` / `addr#<sha256>` for a value that is
    long or not plain ASCII: `throttle_keys` keeps every key within this column, whatever
    the caller sends). A row per failure rather than a counter: the window slides exactly
    and concurrent workers only ever INSERT (no row lock to fight over). Rows per key stay
    at the limit because a failure past it is refused uncounted; rows older than the
    window are pruned."""

    __tablename__ = "auth_failures"

    id: Mapped[int] = mapped_column(
        # SQLite only autoincrements an INTEGER PRIMARY KEY.
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )
    key: Mapped[str] = mapped_column(String(100))
    # Epoch seconds (float): compared across processes, so wall time, not monotonic.
    at: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index("ix_auth_failures_key_at", "key", "at"),  # the window read of one key
        Index("ix_auth_failures_at", "at"),  # pruning
    )
