"""The ORM classes over the tables a token touches (`tables.py`), on the one `Base`
every table shares: `Client`, its `ClientRevocation` generation and `ClientActivity`
counts, `SigningKey`, `KekCheck`. The admin API, the CLI and whatever else edits rows
import this module; what makes and checks the issuer's first token uses the Core tables
and never imports it (mapping these five costs a cold start ~40 M instructions:
docs/benchmarks.md, "Issuer cold start").

The other tables live in modules by concept, each imported by the code that uses them:
`audit_tables.py` (the audit log), `revocation_tables.py` (revoked tokens, the
revocation sequence), `replay_tables.py` (assertions and DPoP proofs already spent),
`federation_tables.py` (trusted issuers, federated identities), `throttle_tables.py`
(failed authentications), `console_tables.py` (console sign-in links). No table here
has a relationship to one of them (queries join explicitly), so the mappers configure
whichever are imported. `schema.py` imports them all: Alembic's comparison
(migrations/env.py) and anything reading the whole schema start there.

Each class here is given its Core table (`__table__`), with the columns' `Mapped[...]`
types under `TYPE_CHECKING` for the type checker only; the tables imported off the
cold start use the annotated form (`x: Mapped[str] = mapped_column(...)`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import DeclarativeBase, Mapped

from issuer.store.tables import (
    client_activity_table,
    client_revocations_table,
    clients_table,
    kek_check_table,
    metadata,
    signing_keys_table,
)


class Base(DeclarativeBase):
    metadata = metadata


class Client(Base):
    """An OAuth client: `clients_table` (tables.py says what each column holds)."""

    __table__ = clients_table
    if TYPE_CHECKING:  # the columns as the type checker sees them (module docstring)
        client_id: Mapped[str]
        name: Mapped[str]
        scopes: Mapped[list[str]]
        default_scopes: Mapped[list[str]]
        audiences: Mapped[list[str]]
        grant_types: Mapped[list[str]]
        token_lifetime: Mapped[int | None]
        enabled: Mapped[bool]
        auth_method: Mapped[str]
        jwks: Mapped[dict[str, Any] | None]
        tls_client_auth_subject_dn: Mapped[str | None]
        token_binding: Mapped[str]
        secret_hash: Mapped[str | None]
        previous_secret_hash: Mapped[str | None]
        previous_secret_valid_until: Mapped[datetime | None]
        created_at: Mapped[datetime]
        updated_at: Mapped[datetime]


class SigningKey(Base):
    """A token-signing key: `signing_keys_table` (tables.py: columns, lifecycle)."""

    __table__ = signing_keys_table
    if TYPE_CHECKING:
        kid: Mapped[str]
        alg: Mapped[str]
        status: Mapped[str]
        private_key_encrypted: Mapped[bytes]
        public_jwk: Mapped[dict[str, Any]]
        created_at: Mapped[datetime]
        activated_at: Mapped[datetime | None]
        retiring_at: Mapped[datetime | None]
        retired_at: Mapped[datetime | None]


class ClientRevocation(Base):
    """A client-wide revocation: `client_revocations_table` (tables.py)."""

    __table__ = client_revocations_table
    if TYPE_CHECKING:
        client_id: Mapped[str]
        issued_before: Mapped[datetime]
        expires_at: Mapped[datetime]
        reason: Mapped[str]
        generation: Mapped[int]


class KekCheck(Base):
    """The KEK check row: `kek_check_table` (tables.py)."""

    __table__ = kek_check_table
    if TYPE_CHECKING:
        id: Mapped[int]
        value: Mapped[bytes]
        created_at: Mapped[datetime]
        secret_key: Mapped[bytes | None]


class ClientActivity(Base):
    """A client's counts for one hour: `client_activity_table` (tables.py)."""

    __table__ = client_activity_table
    if TYPE_CHECKING:
        client_id: Mapped[str]
        hour: Mapped[datetime]
        issued: Mapped[int]
        failed: Mapped[int]
