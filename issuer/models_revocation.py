"""Tables for revocation (RFC 7009) and `private_key_jwt` replay protection (RFC 7523).

They register on the same `Base` as `issuer/models.py` (migrations/env.py imports this
module, so Alembic compares one metadata). Every row carries the moment
after which it is useless, and is pruned once that has passed: nothing here grows
without bound.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UtcDateTime, utcnow


class ClientAssertionJti(Base):
    """A `jti` of a client assertion already accepted (RFC 7523 §3 item 7: the server may
    ensure a JWT is used only once). The primary key is the replay check: of two
    concurrent requests with the same assertion, the second insert fails and loses."""

    __tablename__ = "client_assertion_jtis"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The assertion's exp (plus leeway): after it the assertion is refused anyway.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class RevokedToken(Base):
    """An access token revoked by `jti` (RFC 7009), kept until the token's own `exp`."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ClientRevocation(Base):
    """"Every token of this client issued at or before `issued_before` is revoked": how a
    disable, delete or no-grace secret rotation reaches tokens we never stored. No foreign
    key: the record must outlive a deleted client. Kept until `expires_at` (the cut-off
    plus the longest token lifetime), when no such token can still be valid."""

    __tablename__ = "client_revocations"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    issued_before: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    reason: Mapped[str] = mapped_column(String(64))
