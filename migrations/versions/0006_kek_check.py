"""the KEK check value

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:00:00

`kek_check`: one row, a known marker sealed under the key-encryption key
(issuer/keys/kek_check.py), so a wrong KEK is refused even on a database that has client
secrets but no signing key yet. Filled by the first command or server start after this
revision, not here: a migration does not know the KEK.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Plain column types, not the models' classes (see 0001).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kek_check",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_kek_check_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kek_check")),
    )


def downgrade() -> None:
    op.drop_table("kek_check")
