"""The issuer's Lambda init (`import deploy.issuer_lambda`, a cold start for a token)
imports nothing a token on its database does not need (issue 14: the init is measured
against `import fastapi, sqlalchemy.orm, jwt, mangum` in bench/startup_bench.py).

On SQLite, SQLAlchemy's PostgreSQL dialect (every PostgreSQL driver module, ~17 ms) is
not loaded: neither the activity counter's upsert nor the models' partial indexes need
it there. A PostgreSQL deployment loads it from its URL, for the engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.issuer_env import ISSUER_URL, make_issuer

from issuer.keys.kek import new_kek_text

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import deploy.issuer_lambda
WATCH = ("sqlalchemy.dialects.postgresql",)
print(json.dumps(sorted(m for m in sys.modules if m in WATCH)))
"""


# The collector during the init (deploy/issuer_lambda.py pauses it): for each collection
# started while the handler module is imported, the modules loaded by then; and the
# collector's state once it is imported.
GC_PROBE = """
import gc, json, sys
before = set(sys.modules)
loaded_at = []
gc.callbacks.append(lambda phase, info: phase == "start"
                    and loaded_at.append(sorted(set(sys.modules) - before)))
import deploy.issuer_lambda
print(json.dumps({"loaded_at_collections": loaded_at, "enabled": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}))
"""


def _probe(databases, policy_file, probe: str):
    kek, url = new_kek_text(), databases.new_url("sqlite")
    make_issuer(url, policy_file, ISSUER_KEY_ENCRYPTION_KEY=kek).services.engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ISSUER_", "AWS_"))}
    env.update({"ISSUER_URL": ISSUER_URL, "ISSUER_DATABASE_URL": url,
                "ISSUER_KEY_ENCRYPTION_KEY": kek, "POLICY_FILE": str(policy_file),
                "ISSUER_ENV": "production", "PYTHONPATH": str(ROOT)})
    result = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_the_lambda_init_on_sqlite_does_not_load_the_postgresql_dialect(databases,
                                                                        policy_file):
    assert _probe(databases, policy_file, PROBE) == []


def test_the_lambda_init_runs_no_collection_and_freezes_what_it_made(databases,
                                                                      policy_file):
    state = _probe(databases, policy_file, GC_PROBE)
    # Without the pause, ~200 collections run while FastAPI, SQLAlchemy and the issuer
    # are imported, each traversing objects that live as long as the environment. With
    # it, at most a young-generation one while the handler's own code is read, before
    # its first statement can pause anything.
    handler = {"deploy", "deploy.issuer_lambda"}
    assert [m for m in state["loaded_at_collections"] if not set(m) <= handler] == []
    assert state["enabled"] is True  # resumed for the requests
    # Everything the init made (~140,000 objects here) is out of later collections.
    assert state["frozen"] > 100_000


def _signing_key_index_ddl(url: str) -> list[str]:
    from sqlalchemy import create_mock_engine

    from issuer.store.models import Base

    out: list[str] = []
    engine = create_mock_engine(
        url, lambda sql, *a, **k: out.append(str(sql.compile(dialect=engine.dialect)).strip()))
    Base.metadata.create_all(engine, checkfirst=False)
    return sorted(s for s in out if "uq_signing_keys" in s)


def test_the_partial_indexes_keep_their_where_on_both_backends():
    # The PostgreSQL WHERE is attached at DDL time (issuer/store/tables.py): without it a
    # plain unique index on `status` would allow one retired key in all.
    assert _signing_key_index_ddl("postgresql+psycopg://") == [
        "CREATE UNIQUE INDEX uq_signing_keys_one_active ON signing_keys (status) "
        "WHERE status = 'active'",
        "CREATE UNIQUE INDEX uq_signing_keys_one_next ON signing_keys (status) "
        "WHERE status = 'next'",
    ]
    assert _signing_key_index_ddl("sqlite://") == [
        "CREATE UNIQUE INDEX uq_signing_keys_one_active ON signing_keys (status) "
        "WHERE status = 'active'",
        "CREATE UNIQUE INDEX uq_signing_keys_one_next ON signing_keys (status) "
        "WHERE status = 'next'",
    ]
