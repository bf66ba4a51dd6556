"""Revocation's own tables (issuer/oauth/revocation.py): tokens revoked one by one and the
revocations' sequence number. A client's revocation generation, which every token reads,
is `ClientRevocation` in issuer/store/models.py; these two are imported by the first
revocation, introspection or list built, never by a token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from issuer.store.models import Base
from issuer.store.tables import CLIENT_ID_LENGTH, JTI_LENGTH, UtcDateTime, utcnow


class RevokedToken(Base):
    """An access token revoked by `jti` (RFC 7009), kept until the token's own `exp` plus
    the verifiers' largest leeway (a verifier accepts it until then)."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(JTI_LENGTH), primary_key=True)
    # Indexed: each revocation counts its client's records (the per-client bound).
    client_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class RevocationState(Base):
    """One row (`id` 1): `seq`, the revocations' sequence number. Every revocation takes
    the next value in its own transaction (a row lock on PostgreSQL), so the published
    list's `seq` grows with every change and a verifier adopts only a strictly newer
    list; a client-wide revocation's `generation` is its `seq`."""

    __tablename__ = "revocation_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
