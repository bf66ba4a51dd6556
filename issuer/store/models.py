"""Tables (SQLAlchemy 2.0 typed mappings). One `Base.metadata` that Alembic compares
against; new tables (the audit log) are added here as further classes.

API schemas live elsewhere (`issuer/http/admin/schemas.py`): a table is not a request body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations can alter them on SQLite (batch mode) and PG alike.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite drops the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# Column widths other modules check a value against before it is written (PostgreSQL
# refuses a longer one: a 503 where a 422 or an invalid_client belongs).
CLIENT_ID_LENGTH = 64
CLIENT_NAME_LENGTH = 200
JTI_LENGTH = 200
SUBJECT_DN_LENGTH = 500
# RFC 7638 SHA-256 thumbprints are 43 base64url characters; room for a longer hash.
JKT_LENGTH = 64
# A trusted external issuer's `iss` (a URL) and a workload's `sub` there (a Kubernetes
# service account, a GitHub `repo:ORG/REPO:ref:...`, an IAM role ARN, a SPIFFE ID).
ISSUER_LENGTH = 500
SUBJECT_LENGTH = 500
URI_LENGTH = 2000


class Client(Base):
    """An OAuth client (RFC 6749 §2). Secrets are stored only as HMAC-SHA-256 hashes; at
    most two are valid: the current one and, during a rotation's grace period, the
    previous one until `previous_secret_valid_until`."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(CLIENT_NAME_LENGTH))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    default_scopes: Mapped[list[str]] = mapped_column(JSON)
    audiences: Mapped[list[str]] = mapped_column(JSON)  # ordered: the first is the default
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    token_lifetime: Mapped[int | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    # "client_secret" (basic or post), "private_key_jwt" (RFC 7523, keys in `jwks`),
    # "self_signed_tls_client_auth" (RFC 8705 §2.2, certificates as `x5c` in `jwks`) or
    # "tls_client_auth" (RFC 8705 §2.1, `tls_client_auth_subject_dn`) or "federated"
    # (RFC 7523 §2.2 with a trusted issuer's JWT, `federated_identities`).
    auth_method: Mapped[str] = mapped_column(String(32), default="client_secret")
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # RFC 8705 §2.1.2: the subject DN (RFC 4514 string) of a tls_client_auth client.
    tls_client_auth_subject_dn: Mapped[str | None] = mapped_column(String(SUBJECT_DN_LENGTH))
    # What its tokens are bound to: "none" (bearer), "mtls" (cnf.x5t#S256, RFC 8705 §3)
    # or "dpop" (cnf.jkt, RFC 9449 §6; a proof required on every token request).
    token_binding: Mapped[str] = mapped_column(
        String(8), default="none", server_default="none"
    )
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    # auth_method "federated": the external identities that authenticate it
    # (issuer/federation/identities.py); deleted with it by the database's cascade.
    federated_identities: Mapped[list[FederatedIdentity]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


PUBLISHED_STATUSES = ("next", "active", "retiring")


class SigningKey(Base):
    """A token-signing key. Lifecycle: next (published, not signing) -> active (signing)
    -> retiring (published until its tokens expire) -> retired (gone from the JWKS)."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        # At most one active key, enforced by the database: two workers starting at once
        # (or a rotation racing a start) cannot both make one.
        Index(
            "uq_signing_keys_one_active",
            "status",
            unique=True,
            sqlite_where=text("status = 'active'"),
        ),
        # At most one pending key: a second rotation while one is pending would only chain
        # another promotion behind it.
        Index(
            "uq_signing_keys_one_next",
            "status",
            unique=True,
            sqlite_where=text("status = 'next'"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # When it stopped signing: its last token expires at most a maximum lifetime later.
    retiring_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


# The same partial indexes' WHERE on PostgreSQL, attached when DDL is emitted there.
# Declared on the Index as `postgresql_where`, SQLAlchemy would import its PostgreSQL
# dialect (every PostgreSQL driver module) at model import to check the keyword: ~17 ms
# of a SQLite issuer's cold start for an option only PostgreSQL DDL reads. The schema
# itself comes from the migrations, which declare both WHEREs; this keeps
# `metadata.create_all` on PostgreSQL from making a full unique index on `status`.
SIGNING_KEY_PARTIAL_INDEXES = {"uq_signing_keys_one_active": "status = 'active'",
                               "uq_signing_keys_one_next": "status = 'next'"}


@event.listens_for(SigningKey.__table__, "before_create")
def _postgresql_partial_indexes(table: Table, connection: Connection, **_: Any) -> None:
    if connection.dialect.name != "postgresql":
        return
    for index in table.indexes:
        where = SIGNING_KEY_PARTIAL_INDEXES.get(str(index.name))
        if where is not None:
            index.dialect_options["postgresql"]["where"] = text(where)


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


class RevokedToken(Base):
    """An access token revoked by `jti` (RFC 7009), kept until the token's own `exp` plus
    the verifiers' largest leeway (a verifier accepts it until then)."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(JTI_LENGTH), primary_key=True)
    # Indexed: each revocation counts its client's records (the per-client bound).
    client_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ClientRevocation(Base):
    """ "Every token of this client minted with a generation below `generation` is
    revoked": how a disable, delete, no-grace secret rotation or an overflow of
    per-token records reaches tokens we never stored. Tokens carry the generation of the
    client record they were minted from (the `gen` claim, issuer/oauth/revocation.py). No
    foreign key: the record must outlive a deleted client. Kept until `expires_at`, when
    no token it revokes can still be accepted by a verifier."""

    __tablename__ = "client_revocations"

    client_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
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
    # The client-secret HMAC key, sealed under the same KEK (revision 0007): a data key
    # of its own, so a new KEK re-seals it and every secret keeps verifying.
    secret_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


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


class FederatedAssertionJti(Base):
    """An external assertion already spent (RFC 7523 §3 item 7), for trusted issuers
    that do not allow reuse: by `iss` and `jti`, or by `#sha256:` + the assertion's hash
    when it has no `jti`. As for client assertions, the primary key is the replay check."""

    __tablename__ = "federated_assertion_jtis"

    issuer: Mapped[str] = mapped_column(String(ISSUER_LENGTH), primary_key=True)
    jti: Mapped[str] = mapped_column(String(JTI_LENGTH), primary_key=True)
    # The assertion's exp (plus leeway): after it the assertion is refused anyway.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class ConsoleSignInLink(Base):
    """A one-time sign-in link to the admin console (`issuer console link`): the SHA-256
    of its code (the code itself is printed once and stored nowhere), the admin client it
    signs in as, and until when. Single use: a conditional UPDATE of `used_at` claims it,
    so two tabs or two processes racing for one link get one session between them."""

    __tablename__ = "console_sign_in_links"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(CLIENT_ID_LENGTH),
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        index=True,
    )
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ClientActivity(Base):
    """Per client and hour: tokens issued to it and failed client authentications naming
    it, shared by every process (issuer/clients/activity.py adds each process's counts in
    batches, never per request). Rows go with the client (ON DELETE CASCADE) and are
    pruned past `activity.KEEP`."""

    __tablename__ = "client_activity"

    client_id: Mapped[str] = mapped_column(
        String(CLIENT_ID_LENGTH),
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        primary_key=True,
    )
    hour: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True, index=True)
    issued: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
