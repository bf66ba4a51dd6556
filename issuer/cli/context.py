"""Open the issuer's services for one CLI command, and close them after.

Before anything is created or written (`preflight`), in this order: the policy file
loads, the database is reachable, exists and is migrated to head, and the KEK is the
database's (`issuer/keys/kek_check.py`). Each failure is one line (`issuer/cli/errors.py`)
and leaves the database and the working directory as they were.

Development defaults are relative to the current directory (`./issuer.db`,
`.tollgate/kek`), so a command run from another directory would otherwise make a new
empty database and a new KEK there. Only `issuer db upgrade` and `issuer serve` create a
SQLite database, and they say so in one line on stderr; every other command refuses a
SQLite file that does not exist. A development KEK file is created only for a database
no KEK has been used on yet (said in one line too); for a database that has one, a
missing file is refused (it could never be the right key)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from issuer.cli.errors import CliError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from issuer.services import Services
    from issuer.settings import Settings
    from shared.policy import Policy


# `issuer serve` is a server whose every line is one JSON object (issuer/logs.py), so its
# notices are log events; the other commands talk to a person and print prose.
_notices_as_log_events = False


def notices_as_log_events(on: bool) -> None:
    global _notices_as_log_events
    _notices_as_log_events = on


def notice(text: str) -> None:
    """An informational line on stderr (stdout carries only the command's result)."""
    if _notices_as_log_events:
        import logging

        from issuer.logs import log_event

        log_event(logging.getLogger("issuer.cli"), "notice", logging.INFO, message=text)
        return
    print(f"issuer: {text}", file=sys.stderr)


def load_policy_file(path: str) -> Policy:
    from shared.policy import load_policy

    return load_policy(path)  # PolicyError: one line naming POLICY_FILE (errors.classify)


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (absolute), or None (not SQLite, or in memory)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).resolve()


def open_database(settings: Settings, *, creates: bool) -> Engine:
    """An engine on a database that answers. `creates`: a missing SQLite file may be made
    (said on stderr); otherwise it is refused before SQLite would make an empty one."""
    from sqlalchemy import text

    from issuer.store.engine import make_engine

    path = sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        if not creates:
            raise CliError(
                f"no database at {path} (ISSUER_DATABASE_URL"
                + ("" if settings.database_url != _default_url() else ", the default, relative "
                   "to the current directory")
                + "): run `issuer db upgrade` to create it, or point ISSUER_DATABASE_URL at "
                "the existing one",
                "database_missing",
            )
        if not path.parent.is_dir():
            raise CliError(
                f"ISSUER_DATABASE_URL: cannot create the SQLite file {path}: its directory "
                "does not exist",
                "database_missing",
            )
        notice(f"creating a new SQLite database {path} (ISSUER_DATABASE_URL)")
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except BaseException:
        engine.dispose()
        raise  # SQLAlchemyError: classified by errors.classify into one line
    return engine


def _default_url() -> str:
    from issuer.settings import DEFAULT_DATABASE_URL

    return DEFAULT_DATABASE_URL


def require_head(engine: Engine) -> None:
    """Refuse a database that is not at the code's newest migration."""
    from issuer.store.migrate import current_revision, head_revision

    with engine.connect() as connection:
        current = current_revision(connection)
    head = head_revision()
    if current is None:
        raise CliError(
            "the database has no tables yet (never migrated): run `issuer db upgrade`",
            "database_not_migrated",
        )
    if current != head:
        raise CliError(
            f"the database is at migration {current}, this issuer needs {head}: run "
            "`issuer db upgrade`",
            "database_not_migrated",
        )


def prepare_kek_file(settings: Settings, engine: Engine) -> None:
    """Development mode (no ISSUER_KEY_ENCRYPTION_KEY): the KEK file must exist unless the
    database has never been used with a KEK; a new one is announced."""
    if settings.key_encryption_key is not None:
        return
    path = Path(settings.kek_file).resolve()
    if path.exists():
        return
    from sqlalchemy import func, select

    from issuer.store.models import KekCheck, SigningKey

    with engine.connect() as connection:
        used = (connection.scalar(select(func.count()).select_from(KekCheck)) or 0) + (
            connection.scalar(select(func.count()).select_from(SigningKey)) or 0
        )
    if used:
        raise CliError(
            f"ISSUER_KEK_FILE: no key-encryption key at {path}, and this database was set up "
            "with one: run from the directory that holds .tollgate/kek, or set "
            "ISSUER_KEK_FILE or ISSUER_KEY_ENCRYPTION_KEY",
            "invalid_kek",
        )
    notice(f"creating a development key-encryption key {path} (ISSUER_KEK_FILE); keep it "
           "with the database")


def preflight(settings: Settings, *, creates: bool = False, migrated: bool = True) -> Engine:
    """Everything that can be checked without writing, in the order an operator fixes
    it: the policy, then the database, then the KEK file. Returns the engine."""
    load_policy_file(settings.policy_file)
    engine = open_database(settings, creates=creates)
    try:
        if migrated:
            require_head(engine)
            prepare_kek_file(settings, engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


@contextmanager
def services_for(settings: Settings) -> Iterator[Services]:
    from issuer.keys.kek_check import verify_kek
    from issuer.services import build_services

    engine = preflight(settings)
    services = build_services(settings, engine)
    try:
        verify_kek(services.sessions, services.kek, services.clock())
        yield services
    finally:
        services.engine.dispose()
