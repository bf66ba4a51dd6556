"""Benchmark issuers: a migrated database (SQLite file or a PostgreSQL database the
bench creates and drops), an active signing key of the chosen algorithm, one client.

Uses the issuer's own functions (settings, migrations, key bootstrap, client
registration), never its internals on the request path.
"""

from __future__ import annotations

import base64
import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ISSUER_URL = "https://issuer.bench.test"
AUDIENCE = "https://api.example.com/orders"  # in shared/example_policy.toml
SCOPE = "orders:read orders:write"
PG_ADMIN_URL = os.environ.get(
    "TOLLGATE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
# One database per bench process: two runs at once (a smoke test beside `make bench`)
# must not drop each other's.
PG_DB = f"tollgate_bench_{os.getpid()}"


@dataclass(frozen=True)
class BenchIssuer:
    env: dict[str, str]  # ISSUER_* for a server process (and load_settings)
    client_id: str
    client_secret: str

    @property
    def basic(self) -> str:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    @property
    def ceiling_env(self) -> dict[str, str]:
        return {**self.env, "BENCH_CLIENT_ID": self.client_id, "BENCH_AUDIENCE": AUDIENCE,
                "BENCH_SCOPE": SCOPE}


def prepare(database_url: str, alg: str) -> BenchIssuer:
    from issuer.clients.registry import create_client
    from issuer.keys.kek import new_kek_text
    from issuer.keys.store import ensure_active_key
    from issuer.services import build_services
    from issuer.settings import load_settings
    from issuer.store.engine import make_engine
    from issuer.store.migrate import upgrade

    env = {"ISSUER_URL": ISSUER_URL, "ISSUER_DATABASE_URL": database_url,
           "ISSUER_KEY_ENCRYPTION_KEY": new_kek_text(), "ISSUER_SIGNING_ALG": alg}
    settings = load_settings(env, env_file=None)
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        services = build_services(settings, engine)
        ensure_active_key(services.sessions, services.kek, alg)
        with services.sessions() as session:
            new = create_client(session, services.hasher, services.policy, name="bench",
                                scopes=SCOPE.split(), audiences=[AUDIENCE])
            client_id, secret = new.client.client_id, new.client_secret
    finally:
        engine.dispose()
    return BenchIssuer(env=env, client_id=client_id, client_secret=secret)


def _pg_admin():
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


def postgres_available() -> bool:
    try:
        with _pg_admin():
            return True
    except Exception as exc:  # any failure: no PostgreSQL rows, said on stderr
        print(f"bench: PostgreSQL not available at {PG_ADMIN_URL} ({type(exc).__name__}); "
              "its rows are skipped", file=sys.stderr)
        return False


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh `tollgate_bench_<pid>` database (dropped first if a crashed run with the
    same process id left it), dropped after."""
    from psycopg.conninfo import conninfo_to_dict

    with _pg_admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")
    info = conninfo_to_dict(PG_ADMIN_URL)
    user, host, port = info.get("user", "postgres"), info.get("host", "127.0.0.1"), \
        info.get("port", "5432")
    password = f":{info['password']}" if info.get("password") else ""
    try:
        yield f"postgresql+psycopg://{user}{password}@{host}:{port}/{PG_DB}"
    finally:
        with _pg_admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")


def sqlite_url(directory: str | Path, alg: str) -> str:
    return f"sqlite:///{Path(directory, f'issuer-{alg}.db')}"
