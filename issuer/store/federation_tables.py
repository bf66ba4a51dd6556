"""Workload identity federation's tables (docs/federation.md): the trusted external
issuers and the identities that map their tokens to clients. Imported by federation's
code (issuer/federation/) when it first runs, not at start; `Client` has no
relationship to `FederatedIdentity` (issuer/store/models.py says why)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from issuer.store.models import Base
from issuer.store.tables import (
    CLIENT_ID_LENGTH,
    ISSUER_LENGTH,
    SUBJECT_LENGTH,
    URI_LENGTH,
    UtcDateTime,
    utcnow,
)


class TrustedIssuer(Base):
    """An external token issuer whose JWTs authenticate federated clients (RFC 7523
    §2.2, docs/federation.md): its exact `iss`, its keys (`jwks_uri` fetched, or an
    inline `jwks`), the algorithms it may sign with, the `aud` its tokens must carry for
    us (None: our token endpoint URL), the oldest `iat` accepted, and whether one token
    may authenticate more than once. `issuer` never changes once registered: the
    federated identities name it."""

    __tablename__ = "trusted_issuers"

    id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(ISSUER_LENGTH), unique=True)
    jwks_uri: Mapped[str | None] = mapped_column(String(URI_LENGTH))
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    algorithms: Mapped[list[str]] = mapped_column(JSON)
    audience: Mapped[str | None] = mapped_column(String(ISSUER_LENGTH))
    max_token_age: Mapped[int] = mapped_column(Integer)
    allow_reuse: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class FederatedIdentity(Base):
    """An external identity (`issuer`, `subject`) that authenticates one federated
    client. The primary key is the mapping rule: a pair names at most one client, so two
    clients can never claim one workload (the second registration fails). A client's
    identities go with it (ON DELETE CASCADE); a trusted issuer that identities still
    name cannot be deleted (RESTRICT)."""

    __tablename__ = "federated_identities"

    issuer: Mapped[str] = mapped_column(
        String(ISSUER_LENGTH),
        ForeignKey("trusted_issuers.issuer", ondelete="RESTRICT"),
        primary_key=True,
    )
    subject: Mapped[str] = mapped_column(String(SUBJECT_LENGTH), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(CLIENT_ID_LENGTH),
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        index=True,
    )
