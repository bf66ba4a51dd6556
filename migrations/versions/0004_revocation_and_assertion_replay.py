"""revocation records and client-assertion replay store

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 12:00:00

`revoked_tokens` (RFC 7009, by jti, kept until the token's exp), `client_revocations`
(every token of a client issued at or before a moment), `client_assertion_jtis`
(RFC 7523 replay store: the primary key makes a replayed jti fail to insert).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Plain column types, not the models' classes (see 0001).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "client_assertion_jtis",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_client_assertion_jtis")),
    )
    op.create_index(
        op.f("ix_client_assertion_jtis_expires_at"), "client_assertion_jtis", ["expires_at"]
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_tokens")),
    )
    op.create_index(op.f("ix_revoked_tokens_expires_at"), "revoked_tokens", ["expires_at"])
    op.create_table(
        "client_revocations",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("issued_before", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_revocations")),
    )
    op.create_index(
        op.f("ix_client_revocations_expires_at"), "client_revocations", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_client_revocations_expires_at"), table_name="client_revocations")
    op.drop_table("client_revocations")
    op.drop_index(op.f("ix_revoked_tokens_expires_at"), table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    op.drop_index(op.f("ix_client_assertion_jtis_expires_at"), table_name="client_assertion_jtis")
    op.drop_table("client_assertion_jtis")
