"""the client-secret HMAC key as a data key sealed under the KEK

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 04:00:00

`kek_check.secret_key`: the key client secrets are hashed under, sealed under the
key-encryption key (issuer/keys/kek_check.py), so a new KEK can re-seal it and every
secret keeps verifying (`issuer kek rotate`). Filled by the first command or server
start after this revision, not here (a migration does not know the KEK): a database
that already holds client secrets gets the value they were hashed under (the HKDF
derivation of the KEK the code used before), a new one a random key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kek_check") as batch:
        batch.add_column(sa.Column("secret_key", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kek_check") as batch:
        batch.drop_column("secret_key")
