"""Alembic: empty -> head works, and the models agree with the migrations (no
autogenerate diff), on SQLite and PostgreSQL; downgrade to base leaves nothing."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from issuer.store.engine import make_engine
from issuer.store.migrate import alembic_config, upgrade
from issuer.store.schema import Base

DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("db", DB_KINDS)
def test_upgrade_from_empty_matches_models(databases, db):
    engine = make_engine(databases.new_url(db))
    try:
        assert inspect(engine).get_table_names() == []
        upgrade(engine)
        assert {"clients", "signing_keys", "alembic_version"} <= set(
            inspect(engine).get_table_names()
        )
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        upgrade(engine)  # idempotent at head
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


@pytest.mark.parametrize("db", DB_KINDS)
def test_only_one_active_key_is_possible(databases, db):
    from sqlalchemy.exc import IntegrityError

    from issuer.keys.kek import Kek
    from issuer.keys.store import new_signing_key
    from issuer.store.engine import make_session_factory

    engine = make_engine(databases.new_url(db))
    try:
        upgrade(engine)
        sessions = make_session_factory(engine)
        kek = Kek(b"k" * 32)
        with sessions() as session:
            session.add(new_signing_key(kek, "ES256", "active"))
            session.add(new_signing_key(kek, "ES256", "next"))
            session.commit()
            session.add(new_signing_key(kek, "ES256", "active"))
            with pytest.raises(IntegrityError):
                session.commit()
    finally:
        engine.dispose()


def test_sqlite_pragmas(databases):
    engine = make_engine(databases.new_url("sqlite"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


# Revisions 0003 and 0004 were once numbered against their apply order (0002 -> 0004
# auth_failures -> 0003 revocation -> 0005). A database stamped by that chain must still
# upgrade: stopped after auth_failures it says "0004", after the revocation tables "0003".
# Built here with today's scripts, then stamped as the old chain would have left it.
OLD_STAMPS = [("0003", "0004"), ("0004", "0003"), ("head", None)]


@pytest.mark.parametrize("db", DB_KINDS)
@pytest.mark.parametrize(("upgraded_to", "old_stamp"), OLD_STAMPS)
def test_a_database_stamped_by_the_old_numbering_upgrades(databases, db, upgraded_to, old_stamp):
    engine = make_engine(databases.new_url(db))
    try:
        upgrade(engine, upgraded_to)
        if old_stamp is not None:
            with engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": old_stamp})
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == (
                ScriptDirectory.from_config(alembic_config()).get_current_head()
            )
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        upgrade(engine)  # and again: the restamp reads the schema, so it is idempotent
    finally:
        engine.dispose()


def test_revision_ids_follow_the_apply_order():
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    chain = [rev.revision for rev in reversed(list(scripts.walk_revisions()))]
    assert chain == [f"{n:04d}" for n in range(1, len(chain) + 1)]
    for rev in scripts.walk_revisions():
        assert rev.path.rsplit("/", 1)[1].startswith(rev.revision + "_")
