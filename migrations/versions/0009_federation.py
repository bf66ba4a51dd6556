"""workload identity federation: trusted issuers, federated identities, replay store

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 04:30:00

`trusted_issuers` (external issuers whose JWTs authenticate federated clients, RFC 7523
§2.2; `issuer` unique), `federated_identities` (an (issuer, subject) pair names one
client: the primary key; cascades with the client, restricts deleting the issuer),
`federated_assertion_jtis` (RFC 7523 §3 item 7 for issuers that do not allow reuse: the
primary key (issuer, jti) makes a replayed assertion fail to insert).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Plain column types, not the models' classes (see 0001).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trusted_issuers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("jwks_uri", sa.String(length=2000), nullable=True),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("algorithms", sa.JSON(), nullable=False),
        sa.Column("audience", sa.String(length=500), nullable=True),
        sa.Column("max_token_age", sa.Integer(), nullable=False),
        sa.Column("allow_reuse", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_issuers")),
        sa.UniqueConstraint("issuer", name=op.f("uq_trusted_issuers_issuer")),
    )
    op.create_table(
        "federated_identities",
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.client_id"],
            name=op.f("fk_federated_identities_client_id_clients"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issuer"], ["trusted_issuers.issuer"],
            name=op.f("fk_federated_identities_issuer_trusted_issuers"), ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("issuer", "subject", name=op.f("pk_federated_identities")),
    )
    op.create_index(
        op.f("ix_federated_identities_client_id"), "federated_identities", ["client_id"]
    )
    op.create_table(
        "federated_assertion_jtis",
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti", name=op.f("pk_federated_assertion_jtis")),
    )
    op.create_index(
        op.f("ix_federated_assertion_jtis_expires_at"), "federated_assertion_jtis",
        ["expires_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_federated_assertion_jtis_expires_at"), table_name="federated_assertion_jtis"
    )
    op.drop_table("federated_assertion_jtis")
    op.drop_index(op.f("ix_federated_identities_client_id"), table_name="federated_identities")
    op.drop_table("federated_identities")
    op.drop_table("trusted_issuers")
