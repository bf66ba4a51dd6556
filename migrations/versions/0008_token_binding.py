"""sender-constrained tokens: client token binding, mTLS subject DN, DPoP replay store

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 04:00:00

`clients.token_binding` (`none`, `mtls`: RFC 8705 §3, `dpop`: RFC 9449 §5) with the
server default `none`, so every existing client keeps getting bearer tokens;
`clients.tls_client_auth_subject_dn` (RFC 8705 §2.1.2) for tls_client_auth clients;
`dpop_proof_jtis` (RFC 9449 §11.1: a proof accepted once per jti within its window; the
primary key makes a replayed proof fail to insert).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Plain column types, not the models' classes (see 0001).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(
            sa.Column("tls_client_auth_subject_dn", sa.String(length=500), nullable=True)
        )
        batch.add_column(
            sa.Column(
                "token_binding", sa.String(length=8), nullable=False, server_default="none"
            )
        )
    op.create_table(
        "dpop_proof_jtis",
        sa.Column("jkt", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("jkt", "jti", name=op.f("pk_dpop_proof_jtis")),
    )
    op.create_index(op.f("ix_dpop_proof_jtis_expires_at"), "dpop_proof_jtis", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dpop_proof_jtis_expires_at"), table_name="dpop_proof_jtis")
    op.drop_table("dpop_proof_jtis")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("token_binding")
        batch.drop_column("tls_client_auth_subject_dn")
