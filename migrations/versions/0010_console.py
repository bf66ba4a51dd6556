"""admin console: one-time sign-in links, per-client activity counters

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 06:00:00

`console_sign_in_links` (`issuer console link`: the SHA-256 of a one-time code, the admin
client it signs in as, its expiry and when it was used; cascades with the client),
`client_activity` (tokens issued and failed authentications per client and hour, added in
batches by every process: issuer/clients/activity.py; cascades with the client).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Plain column types, not the models' classes (see 0001).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_sign_in_links",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("used_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.client_id"],
            name=op.f("fk_console_sign_in_links_client_id_clients"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_console_sign_in_links")),
    )
    op.create_index(
        op.f("ix_console_sign_in_links_client_id"), "console_sign_in_links", ["client_id"]
    )
    op.create_index(
        op.f("ix_console_sign_in_links_expires_at"), "console_sign_in_links", ["expires_at"]
    )
    op.create_table(
        "client_activity",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("hour", UTC_DATETIME, nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.client_id"],
            name=op.f("fk_client_activity_client_id_clients"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "hour", name=op.f("pk_client_activity")),
    )
    op.create_index(op.f("ix_client_activity_hour"), "client_activity", ["hour"])


def downgrade() -> None:
    op.drop_index(op.f("ix_client_activity_hour"), table_name="client_activity")
    op.drop_table("client_activity")
    op.drop_index(
        op.f("ix_console_sign_in_links_expires_at"), table_name="console_sign_in_links"
    )
    op.drop_index(op.f("ix_console_sign_in_links_client_id"), table_name="console_sign_in_links")
    op.drop_table("console_sign_in_links")
