"""revocation generations and the list's sequence number

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00

`client_revocations.generation`: tokens carry the generation of their client's record
(`gen`), and a client-wide revocation revokes every lower one (a token minted right
after it is valid at once, with `iat` = now). `revocation_state.seq`: the sequence number
of the signed list (a verifier adopts only a strictly newer one). An index on
`revoked_tokens.client_id` for the per-client bound on records.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing client-wide records get generation 1: every token minted before this
    # revision carries no `gen` (read as 0), so those clients' old tokens stay revoked
    # (the clients fetch new ones, which carry the generation).
    op.add_column(
        "client_revocations",
        sa.Column("generation", sa.BigInteger(), nullable=False, server_default="1"),
    )
    op.create_index(op.f("ix_revoked_tokens_client_id"), "revoked_tokens", ["client_id"])
    state = op.create_table(
        "revocation_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_state")),
    )
    op.bulk_insert(state, [{"id": 1, "seq": 1}])


def downgrade() -> None:
    op.drop_table("revocation_state")
    op.drop_index(op.f("ix_revoked_tokens_client_id"), table_name="revoked_tokens")
    with op.batch_alter_table("client_revocations") as batch:
        batch.drop_column("generation")
