"""Tables for revocation (RFC 7009) and `private_key_jwt` replay protection (RFC 7523).

They register on the same `Base` as `issuer/models.py` (migrations/env.py imports this
module, so Alembic compares one metadata). Every row carries the moment
after which it is useless, and is pruned once that has passed: nothing here grows
without bound.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
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
    """An access token revoked by `jti` (RFC 7009), kept until the token's own `exp` plus
    the verifiers' largest leeway (a verifier accepts it until then)."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Indexed: each revocation counts its client's records (the per-client bound).
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ClientRevocation(Base):
    """"Every token of this client minted with a generation below `generation` is
    revoked": how a disable, delete, no-grace secret rotation or an overflow of
    per-token records reaches tokens we never stored. Tokens carry the generation of the
    client record they were minted from (the `gen` claim, issuer/revocation.py). No
    foreign key: the record must outlive a deleted client. Kept until `expires_at`, when
    no token it revokes can still be accepted by a verifier."""

    __tablename__ = "client_revocations"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # When the latest client-wide revocation was made (for people; the check uses
    # `generation`).
    issued_before: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class RevocationState(Base):
    """One row (`id` 1): `seq`, the revocations' sequence number. Every revocation takes
    the next value in its own transaction (a row lock on PostgreSQL), so the published
    list's `seq` grows with every change and a verifier adopts only a strictly newer
    list; a client-wide revocation's `generation` is its `seq`."""

    __tablename__ = "revocation_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
