"""Replay stores: client assertions (RFC 7523 §3 item 7), external issuers' assertions
(the same, for federated clients) and DPoP proofs (RFC 9449 §11.1) already accepted,
each until it could no longer pass anyway. A table's primary key is its replay check:
of two concurrent uses of one, the second insert fails. Imported by the first request
that spends one (issuer/oauth/assertion.py, issuer/oauth/dpop.py), not at start."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from issuer.store.models import Base
from issuer.store.tables import CLIENT_ID_LENGTH, ISSUER_LENGTH, JKT_LENGTH, JTI_LENGTH, UtcDateTime


class ClientAssertionJti(Base):
    """A `jti` of a client assertion already accepted (RFC 7523 §3 item 7: the server may
    ensure a JWT is used only once). The primary key is the replay check: of two
    concurrent requests with the same assertion, the second insert fails and loses."""

    __tablename__ = "client_assertion_jtis"

    client_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    jti: Mapped[str] = mapped_column(String(JTI_LENGTH), primary_key=True)
    # The assertion's exp (plus leeway): after it the assertion is refused anyway.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class DpopProofJti(Base):
    """A DPoP proof already accepted at the token endpoint (RFC 9449 §11.1: a proof is
    accepted once per `jti` within its acceptance window), by the proof key's RFC 7638
    thumbprint and the proof's `jti`. As for client assertions, the primary key is the
    replay check: of two concurrent requests with one proof, the second insert fails."""

    __tablename__ = "dpop_proof_jtis"

    jkt: Mapped[str] = mapped_column(String(JKT_LENGTH), primary_key=True)
    jti: Mapped[str] = mapped_column(String(JTI_LENGTH), primary_key=True)
    # The proof's iat plus the acceptance window: after it the proof is refused anyway.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class FederatedAssertionJti(Base):
    """An external assertion already spent (RFC 7523 §3 item 7), for trusted issuers
    that do not allow reuse: by `iss` and `jti`, or by `#sha256:` + the assertion's hash
    when it has no `jti`. As for client assertions, the primary key is the replay check."""

    __tablename__ = "federated_assertion_jtis"

    issuer: Mapped[str] = mapped_column(String(ISSUER_LENGTH), primary_key=True)
    jti: Mapped[str] = mapped_column(String(JTI_LENGTH), primary_key=True)
    # The assertion's exp (plus leeway): after it the assertion is refused anyway.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
