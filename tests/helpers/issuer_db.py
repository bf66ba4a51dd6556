"""Fresh, isolated databases for issuer tests: a temp SQLite file, or a PostgreSQL
database created for this test session (random name) and dropped afterwards, so
concurrent runs against the same server never collide."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import create_engine, text
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
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        self._pg_names.append(name)
        url = make_url(os.environ[POSTGRES_URL_ENV]).set(database=name)
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if not self._pg_names:
            return
        engine = self._admin_engine()
        try:
            with engine.connect() as conn:
                for name in self._pg_names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()
        self._pg_names.clear()
