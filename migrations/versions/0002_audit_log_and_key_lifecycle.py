"""audit log and key lifecycle

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:00:00

The audit log of admin changes; `signing_keys.retiring_at` (when a key stopped signing,
from which its retirement horizon is counted); at most one pending (`next`) key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Plain column types, not the models' classes (see 0001).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("signing_keys") as batch_op:
        batch_op.add_column(sa.Column("retiring_at", UTC_DATETIME, nullable=True))
        batch_op.create_index(
            "uq_signing_keys_one_next",
            ["status"],
            unique=True,
            sqlite_where=sa.text("status = 'next'"),
            postgresql_where=sa.text("status = 'next'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch_op:
        batch_op.drop_index("uq_signing_keys_one_next")
        batch_op.drop_column("retiring_at")
    op.drop_table("audit_log")
