"""Lambda SnapStart for the issuer (deploy/issuer_lambda.py): a restore simulated in a
fresh interpreter, the way the Lambda Python runtime runs the hooks registered with
`snapshot_restore_py` (before-snapshot hooks in reverse order of registration, then
after-restore hooks in order:
https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html).

The child imports the handler module (the init Lambda snapshots), issues a token, runs
the before-snapshot hooks, then forks twice: each fork is one execution environment
resumed from the same snapshot; it runs the after-restore hooks and issues a token."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.issuer_env import ISSUER_URL, ORDERS, lambda_child_env, lambda_token_event

from issuer.services import DEFERRED_MODULES
from shared.claims import AccessTokenRules
from shared.verify import AccessTokenVerifier

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, random, sys
import snapshot_restore_py as hooks

RESTORE = sys.argv[2] == "restore"
import deploy.issuer_lambda as entry

def token():
    event = json.loads(sys.argv[1])  # a fresh copy per request
    response = entry.handler(event, None)
    return response["statusCode"], json.loads(response["body"]).get("access_token")

engine = entry.services.engine
status, _ = token()
report = {"registered": [len(hooks.get_before_snapshot()), len(hooks.get_after_restore())],
          "init_status": status, "pooled_before_snapshot": engine.pool.checkedin()}
for fn, args, kwargs in reversed(hooks.get_before_snapshot()):
    fn(*args, **kwargs)
report["pooled_in_snapshot"] = engine.pool.checkedin()
from issuer.http.lazy_routes import LazyRouters
report["admin_loaded"] = not any(isinstance(r, LazyRouters) for r in entry.app.routes)
report["key_loaded"] = entry.services.key_store._signer is not None
from issuer.services import DEFERRED_MODULES
report["deferred_loaded"] = [m for m in DEFERRED_MODULES if m in sys.modules]
from issuer.store.models import Base
report["tables_mapped"] = sorted(m.local_table.name for m in Base.registry.mappers
                                 if m.configured)
report["tables"] = sorted(Base.metadata.tables)
print(json.dumps(report), flush=True)

snapshot_pool = engine.pool
snapshot_random = random.getstate()
children = []
for n in range(2):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # one execution environment resumed from the snapshot
        os.close(read)
        # A fork re-seeds `random` in the child (os.register_at_fork); a restore does not:
        # memory comes back as it was in the snapshot.
        random.setstate(snapshot_random)
        # A connection the snapshot would hold, if a hook had not disposed of it.
        with engine.connect():
            pass
        held = engine.pool.checkedin()
        if RESTORE:
            for fn, args, kwargs in hooks.get_after_restore():
                fn(*args, **kwargs)
        out = {"held_before_restore": held, "pool_replaced": engine.pool is not snapshot_pool,
               "pooled_after_restore": engine.pool.checkedin(), "draw": random.random(),
               "signer_cached": entry.services.key_store.cached_signer(
                   entry.services.clock()) is not None}
        status, access_token = token()
        out.update(status=status, token=access_token)
        os.write(write, json.dumps(out).encode())
        os._exit(0)
    os.close(write)
    children.append((pid, read))
for pid, read in children:
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.waitpid(pid, 0)
    print(b"".join(chunks).decode(), flush=True)
"""


@pytest.fixture(scope="module")
def lambda_env(databases, policy_file):
    env, basic, issuer, _new = lambda_child_env(databases.new_url("sqlite"), policy_file,
                                               "snapstart")
    return env, basic, issuer


def _simulate(env: dict, basic: str, mode: str) -> tuple[dict, list[dict]]:
    argv = [sys.executable, "-c", CHILD, lambda_token_event(basic), mode]
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return lines[0], lines[1:]


def test_restored_environments_get_their_own_connections_seed_and_caches(lambda_env):
    env, basic, issuer = lambda_env
    init, restored = _simulate(env, basic, "restore")
    assert init["registered"] == [1, 1]
    assert init["init_status"] == 200
    assert init["pooled_before_snapshot"] > 0  # the init and its first token's connections
    assert init["pooled_in_snapshot"] == 0  # ... which the before-snapshot hook closed
    assert init["admin_loaded"] is True and init["key_loaded"] is True  # warmed for all
    # ... and what the init leaves to the first request that uses it
    # (tests/issuer/test_lambda_init_token_path.py: none of it is loaded at init).
    assert init["deferred_loaded"] == list(DEFERRED_MODULES)
    assert init["tables_mapped"] == init["tables"] and len(init["tables"]) == 15
    assert len(restored) == 2
    for environment in restored:
        assert environment["held_before_restore"] > 0
        assert environment["pool_replaced"] is True
        assert environment["pooled_after_restore"] == 0
        assert environment["signer_cached"] is False
        assert environment["status"] == 200
    # Each environment its own `random` sequence, and its own token ids.
    assert restored[0]["draw"] != restored[1]["draw"]
    tokens = [environment["token"] for environment in restored]
    assert tokens[0] != tokens[1]
    with issuer.services.sessions() as session:
        keys = issuer.services.key_store.public_keys(session, issuer.services.clock())
    verifier = AccessTokenVerifier(AccessTokenRules(ISSUER_URL, frozenset({ORDERS})), keys.get)
    for token in tokens:  # still tokens of this issuer, signed by its published key
        assert verifier.verify(token).scope == "orders:read"


def test_without_the_restore_hooks_the_environments_would_share_state(lambda_env):
    """The control: the same fork without the after-restore hooks keeps the snapshot's
    pooled connection and `random` state in both environments, which is what the hooks
    exist to undo."""
    env, basic, _ = lambda_env
    _, restored = _simulate(env, basic, "no-restore")
    assert [e["pool_replaced"] for e in restored] == [False, False]
    assert all(e["pooled_after_restore"] > 0 for e in restored)
    assert restored[0]["draw"] == restored[1]["draw"]
