"""Alembic environment. Configured programmatically by `issuer.store.migrate` (no
alembic.ini): `upgrade(engine)` hands in the connection to migrate, in the transaction
it opened, as `config.attributes["connection"]` (`issuer db upgrade`, `issuer serve`,
tests). There is no URL or offline (SQL script) mode: nothing runs Alembic otherwise."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from issuer.store.schema import Base  # every table, not only the token path's

config = context.config
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = config.attributes.get("connection")
if _connection is None:
    raise RuntimeError("run migrations with issuer.store.migrate.upgrade(engine)")
run_migrations(_connection)
