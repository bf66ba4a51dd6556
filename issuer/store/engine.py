"""Engine and session factories; nothing is connected at import, so tests and Lambda
choose their own database (docs/design.md)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (JWKS, health) run beside a writer; SQLite leaves foreign keys off
    # unless asked on every connection.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


# A Lambda instance serves one request at a time: one pooled connection, no overflow, so
# the function's concurrency is the bound on database connections (serverless.yml).
LAMBDA_POOL = {"pool_size": 1, "max_overflow": 0}


def make_engine(url: str, *, lambda_runtime: bool = False, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pre_ping: a connection kept across a frozen Lambda, a proxy's idle timeout or a
    # database restart is replaced before use instead of failing the request.
    kwargs.setdefault("pool_pre_ping", True)
    if lambda_runtime:
        for name, value in LAMBDA_POOL.items():
            kwargs.setdefault(name, value)
        # RDS Proxy pins a client to one database connection once a statement is prepared
        # server-side, and psycopg prepares a query after 5 runs: never prepare.
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("prepare_threshold", None)
        kwargs["connect_args"] = connect_args
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class DatabaseProblem(NamedTuple):
    """What an operator reads when the database fails: one line, naming the setting, what
    is wrong and what to do; `kind` a stable code (`database_unreachable`,
    `database_missing`, `database_credentials`, `database_not_migrated`, `database_error`)."""

    kind: str
    message: str

    @property
    def transient(self) -> bool:
        """Worth retrying as is (a server down or not reachable yet)."""
        return self.kind == "database_unreachable"


def database_location(url: str) -> str:
    """Where a URL points, for messages: `host:port/db` or the SQLite path; never the
    user's password (nor the user, nor query options)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # any parse failure: say nothing about the URL
        return "the configured database"
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or "an in-memory SQLite database"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


# Server and driver messages (PostgreSQL's FATAL texts are stable: they are what libpq
# shows; SQLite's come from sqlite3_errstr) mapped to what the operator has to fix.
# Pattern texts, not compiled patterns: `re` compiles each (and keeps it in its cache) when
# the first database error is classified, not at every cold start (docs/benchmarks.md).
_UNREACHABLE = (
    r"connection refused|could not connect|failed to resolve host|name or service not known|"
    r"could not translate host|no route to host|timeout expired|network is unreachable|"
    r"server closed the connection|connection timed out|the database system is starting up|"
    r"the database system is shutting down|database is locked"
)
_MISSING_DATABASE = r'database "[^"]*" does not exist'
_CREDENTIALS = (
    r'role "[^"]*" does not exist|password authentication failed|no password supplied|'
    r"authentication failed|pg_hba\.conf rejects|permission denied for database"
)
_NOT_MIGRATED = (
    r"no such table|relation \"[^\"]*\" does not exist|no such column|"
    r"column \"[^\"]*\" does not exist|undefinedtable|undefinedcolumn"
)
_SQLITE_OPEN = r"unable to open database file"


def describe_database_error(exc: BaseException, url: str) -> DatabaseProblem:
    """One line for a failed database call. Classified from the driver's message, which
    is never repeated whole (it can name the user; psycopg's never holds the password)."""
    where = database_location(url)
    orig = getattr(exc, "orig", None) or exc
    text = f"{type(orig).__name__}: {orig}"
    if re.search(_SQLITE_OPEN, text, re.IGNORECASE):
        return DatabaseProblem(
            "database_unreachable",
            f"ISSUER_DATABASE_URL: cannot open the SQLite file {where}: does its directory "
            "exist and is it writable?",
        )
    if re.search(_MISSING_DATABASE, text, re.IGNORECASE):
        name = where.rsplit("/", 1)[-1]
        return DatabaseProblem(
            "database_missing",
            f"ISSUER_DATABASE_URL: the server answers but database {name!r} does not exist "
            f"({where}): create it (createdb {name}) or fix the name in the URL",
        )
    if re.search(_CREDENTIALS, text, re.IGNORECASE):
        return DatabaseProblem(
            "database_credentials",
            f"ISSUER_DATABASE_URL: the server at {where} refused the user or password in the "
            "URL (no such role, or a wrong password): fix the credentials",
        )
    if re.search(_UNREACHABLE, text, re.IGNORECASE):
        return DatabaseProblem(
            "database_unreachable",
            f"ISSUER_DATABASE_URL: cannot reach the database server at {where} "
            f"({_reason(text)}): is it running, and are the host and port right?",
        )
    if re.search(_NOT_MIGRATED, text, re.IGNORECASE):
        return DatabaseProblem(
            "database_not_migrated",
            f"the database at {where} is not migrated: run `issuer db upgrade`",
        )
    return DatabaseProblem(
        "database_error",
        f"database error at {where} ({type(orig).__name__}); run `issuer db upgrade` if "
        "it is not migrated, else see the server's log",
    )


def _reason(text: str) -> str:
    for phrase in ("connection refused", "timeout expired", "no route to host",
                   "network is unreachable", "database is locked", "starting up",
                   "shutting down"):
        if phrase in text.lower():
            return phrase
    if "resolve host" in text.lower() or "name or service" in text.lower():
        return "unknown host"
    return "no connection"
