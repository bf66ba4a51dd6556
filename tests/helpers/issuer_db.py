"""Fresh, isolated databases for issuer tests: a temp SQLite file, or a PostgreSQL
schema with a random name (made the connection's `search_path`) created for this test
session and dropped afterwards, so concurrent runs against one server never collide.
Schemas rather than databases: DROP DATABASE checkpoints and costs about a second each."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

POSTGRES_URL_ENV = "TOLLGATE_TEST_POSTGRES_URL"


class DatabaseFactory:
    def __init__(self, tmp_dir: Path) -> None:
        self._tmp_dir = tmp_dir
        self._pg_names: list[str] = []

    def new_url(self, kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{self._tmp_dir / ('issuer-' + secrets.token_hex(4) + '.db')}"
        if kind == "postgres":
            return self._new_postgres()
        raise ValueError(kind)

    def _admin_engine(self):
        return create_engine(os.environ[POSTGRES_URL_ENV], isolation_level="AUTOCOMMIT")

    def _new_postgres(self) -> str:
        name = "tollgate_issuer_" + secrets.token_hex(6)
        engine = self._admin_engine()
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{name}"'))
        finally:
            engine.dispose()
        self._pg_names.append(name)
        base = make_url(os.environ[POSTGRES_URL_ENV])
        url = base.update_query_dict({"options": f"-csearch_path={name}"})
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if not self._pg_names:
            return
        engine = self._admin_engine()
        try:
            with engine.connect() as conn:
                for name in self._pg_names:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        finally:
            engine.dispose()
        self._pg_names.clear()


def count_writes(engine: Engine) -> tuple[list[str], Callable[[], None]]:
    """The INSERT, UPDATE and DELETE statements `engine` runs from now on, and a function
    that stops counting them."""
    writes: list[str] = []

    def before(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return writes, lambda: event.remove(engine, "before_cursor_execute", before)
