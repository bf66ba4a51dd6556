"""The tables a token touches, as SQLAlchemy Core `Table`s: `clients_table`, its
`client_revocations_table` generation and `client_activity_table` counts,
`signing_keys_table`, `kek_check_table`, on the one `metadata` every table shares.

What makes and checks the issuer's first token (the Lambda init, then the first token
request: docs/benchmarks.md, "Issuer cold start") reads and writes these with Core
statements and imports no ORM class. Mapping the five classes cost SQLAlchemy 24 M
instructions when they were made and 17 M more when the mappers were first configured
(the first ORM query), against 17 M for the Core tables themselves: 41 M of a cold
start's 58 M for these tables, for objects the token path never needs. The ORM
classes over the same tables (`Client`, `SigningKey`, ...: `models.py`) serve the
admin API, the CLI and everything else that edits rows, and are imported by them.

API schemas live elsewhere (`issuer/http/admin/schemas.py`): a table is not a request body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
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


# An OAuth client (RFC 6749 §2). Secrets are stored only as HMAC-SHA-256 hashes; at
# most two are valid: the current one and, during a rotation's grace period, the
# previous one until `previous_secret_valid_until`.
clients_table = Table(
    "clients",
    metadata,
    Column("client_id", String(CLIENT_ID_LENGTH), primary_key=True),
    Column("name", String(CLIENT_NAME_LENGTH), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("default_scopes", JSON, nullable=False),
    Column("audiences", JSON, nullable=False),  # ordered: the first is the default
    Column("grant_types", JSON, nullable=False),
    Column("token_lifetime", Integer),
    Column("enabled", Boolean, nullable=False, default=True),
    # "client_secret" (basic or post), "private_key_jwt" (RFC 7523, keys in `jwks`),
    # "self_signed_tls_client_auth" (RFC 8705 §2.2, certificates as `x5c` in `jwks`)
    # or "tls_client_auth" (RFC 8705 §2.1, `tls_client_auth_subject_dn`) or
    # "federated" (RFC 7523 §2.2 with a trusted issuer's JWT, `federated_identities`).
    Column("auth_method", String(32), nullable=False, default="client_secret"),
    Column("jwks", JSON),
    # RFC 8705 §2.1.2: the subject DN (RFC 4514 string) of a tls_client_auth client.
    Column("tls_client_auth_subject_dn", String(SUBJECT_DN_LENGTH)),
    # What its tokens are bound to: "none" (bearer), "mtls" (cnf.x5t#S256, RFC 8705
    # §3) or "dpop" (cnf.jkt, RFC 9449 §6; a proof required on every token request).
    Column("token_binding", String(8), nullable=False, default="none",
           server_default="none"),
    Column("secret_hash", String(64)),
    Column("previous_secret_hash", String(64)),
    Column("previous_secret_valid_until", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False, default=utcnow),
    Column("updated_at", UtcDateTime(), nullable=False, default=utcnow, onupdate=utcnow),
)
# auth_method "federated": the external identities that authenticate it are rows of
# `federated_identities` (issuer/store/federation_tables.py), read and written by
# explicit queries (issuer/federation/identities.py), never through an ORM relationship:
# that table is declared only when federation is first used. They go with the client by
# the database's ON DELETE CASCADE.

PUBLISHED_STATUSES = ("next", "active", "retiring")


# A token-signing key. Lifecycle: next (published, not signing) -> active (signing)
# -> retiring (published until its tokens expire) -> retired (gone from the JWKS).
signing_keys_table = Table(
    "signing_keys",
    metadata,
    Column("kid", String(100), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("private_key_encrypted", LargeBinary, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False, default=utcnow),
    Column("activated_at", UtcDateTime()),
    # When it stopped signing: its last token expires at most a maximum lifetime later.
    Column("retiring_at", UtcDateTime()),
    Column("retired_at", UtcDateTime()),
    # At most one active key, enforced by the database: two workers starting at once
    # (or a rotation racing a start) cannot both make one.
    Index("uq_signing_keys_one_active", "status", unique=True),
    # At most one pending key: a second rotation while one is pending would only
    # chain another promotion behind it.
    Index("uq_signing_keys_one_next", "status", unique=True),
)


# The partial indexes' WHERE (both backends support partial indexes), attached when DDL
# is emitted, for the dialect emitting it. Declared on the Index as `sqlite_where` or
# `postgresql_where`, SQLAlchemy would import that dialect (all of SQLite's, or every
# PostgreSQL driver module: ~17 ms) when this module is imported, to check the keyword:
# a cold start's cost for an option only DDL reads, and a dialect the database may not
# use. The schema itself comes from the migrations, which declare both WHEREs; this keeps
# `metadata.create_all` from making a full unique index on `status` (one retired key in
# all).
SIGNING_KEY_PARTIAL_INDEXES = {"uq_signing_keys_one_active": "status = 'active'",
                               "uq_signing_keys_one_next": "status = 'next'"}


@event.listens_for(signing_keys_table, "before_create")
def _partial_indexes(table: Table, connection: Connection, **_: Any) -> None:
    dialect = connection.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return
    for index in table.indexes:
        where = SIGNING_KEY_PARTIAL_INDEXES.get(str(index.name))
        if where is not None:
            index.dialect_options[dialect]["where"] = text(where)


# "Every token of this client minted with a generation below `generation` is
# revoked": how a disable, delete, no-grace secret rotation or an overflow of
# per-token records reaches tokens we never stored. Tokens carry the generation of the
# client record they were minted from (the `gen` claim, issuer/oauth/revocation.py). No
# foreign key: the record must outlive a deleted client. Kept until `expires_at`, when
# no token it revokes can still be accepted by a verifier.
client_revocations_table = Table(
    "client_revocations",
    metadata,
    Column("client_id", String(CLIENT_ID_LENGTH), primary_key=True),
    # When the latest client-wide revocation was made (for people; the check uses
    # `generation`).
    Column("issued_before", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
    Column("reason", String(64), nullable=False),
    Column("generation", BigInteger, nullable=False, default=0),
)


# `value`: a known marker sealed under the KEK with AES-256-GCM (`Kek.check_value`).
# Not secret and useless without the KEK; a KEK that cannot open it is not the one the
# stored keys and secret hashes were made under. Exactly one row (`id` 1): concurrent
# first starts race on the primary key and the losers verify the winner's value.
kek_check_table = Table(
    "kek_check",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False, default=utcnow),
    # The client-secret HMAC key, sealed under the same KEK (revision 0007): a data
    # key of its own, so a new KEK re-seals it and every secret keeps verifying.
    Column("secret_key", LargeBinary, nullable=True),
    CheckConstraint("id = 1", name="one_row"),
)


# Per client and hour: tokens issued to it and failed client authentications naming
# it, shared by every process (issuer/clients/activity.py adds each process's counts in
# batches, never per request). Rows go with the client (ON DELETE CASCADE) and are
# pruned past `activity.KEEP`.
client_activity_table = Table(
    "client_activity",
    metadata,
    Column("client_id", String(CLIENT_ID_LENGTH),
           ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True),
    Column("hour", UtcDateTime(), primary_key=True, index=True),
    Column("issued", BigInteger, nullable=False, default=0),
    Column("failed", BigInteger, nullable=False, default=0),
)
