"""Engine and session factories; nothing is connected at import, so tests and Lambda
choose their own database (docs/design.md)."""

from __future__ import annotations

from typing import Any

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
