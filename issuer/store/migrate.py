"""Alembic, configured in code: `upgrade(engine)` brings a database to head."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

import migrations

# __path__, not __file__: works for an editable (namespace-style) install too.
SCRIPT_LOCATION = str(Path(next(iter(migrations.__path__))).resolve())

# Revisions 0003 (auth_failures) and 0004 (revocation tables) were once numbered against
# their apply order: 0002 -> "0004" auth_failures -> "0003" revocation -> 0005. A database
# stamped by that chain carries one of the two swapped ids, and the id alone cannot say
# which numbering wrote it; the schema can: the revocation tables exist after 0004 only.
_RENUMBERED = frozenset({"0003", "0004"})
_MADE_BY_0004 = "revoked_tokens"


def alembic_config() -> Config:
    """The scripts' location only: the database is the connection `upgrade` hands in."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def restamp_renumbered(connection: Connection) -> None:
    """Give a database stamped "0003" or "0004" the id its schema shows, whichever
    numbering stamped it (idempotent: a database of today's numbering is left as is)."""
    inspector = inspect(connection)
    if not inspector.has_table("alembic_version"):
        return
    stamped = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(stamped) != 1 or stamped[0] not in _RENUMBERED:
        return
    actual = "0004" if inspector.has_table(_MADE_BY_0004) else "0003"
    if stamped[0] != actual:
        connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": actual})


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision in `migrations/versions` (read once per process)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover (the package ships its migrations)
        raise RuntimeError("no migrations found")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is stamped at; None for a database never migrated.
    Read directly (Alembic's MigrationContext would log two INFO lines on every CLI
    command and every /readyz)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    stamped = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return stamped[0] if len(stamped) == 1 else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        restamp_renumbered(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
