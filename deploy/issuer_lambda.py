"""Lambda entry point for the issuer: the FastAPI app behind Mangum.

The app is built once per cold start from the environment; on AWS the database
credentials and the KEK are read from Secrets Manager at that moment
(deploy/lambda_runtime.py, deploy/aws_secrets.py), never from the function's
configuration. `lifespan="off"`: API Gateway events carry no ASGI lifespan, and the
database schema is migrated at deploy time (`issuer db upgrade`), never by a Lambda
that any request can cold-start.

Lambda SnapStart (the `snapStart` parameter, Python 3.12+ runtimes): Lambda runs this
init once when a version is published, snapshots the memory, and resumes every new
execution environment from that snapshot. Anything made once at init is then shared by
all of them (https://docs.aws.amazon.com/lambda/latest/dg/snapstart-uniqueness.html):
the runtime hooks below (`snapshot_restore_py`, which the Lambda Python runtimes include:
https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html) leave
no database connection in the snapshot and give each restored environment its own
connections, its own `random` seed and fresh caches. Off Lambda (no `snapshot_restore_py`)
nothing is registered.
"""

from __future__ import annotations

import gc

# The cyclic garbage collector is paused for the init and what the init made is frozen
# at its end (https://docs.python.org/3/library/gc.html#gc.freeze). Nearly everything
# an init makes (FastAPI's, pydantic's and SQLAlchemy's classes and schemas, the app,
# the engine: ~140,000 objects) lives as long as the execution environment, so each
# collection during the init traverses it for nothing: about 200 collections, 4 % of
# the init's instructions (docs/benchmarks.md, "Issuer cold start"). Frozen, later full
# collections on the request path skip it too. The price: the ~700 objects of cyclic
# garbage the init leaves (counted by a collection at its end) are never freed.
gc.disable()

import logging  # noqa: E402 (after the pause: the collector is off for every import)
import os  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402

from mangum import Mangum  # noqa: E402

from deploy.aws_secrets import SecretError  # noqa: E402
from deploy.lambda_runtime import environment, lambda_engine  # noqa: E402
from issuer.http.app import create_app  # noqa: E402
from issuer.keys.kek import KekError  # noqa: E402
from issuer.logs import error_fields, lean_log_records, log_event  # noqa: E402
from issuer.services import build_services  # noqa: E402
from issuer.settings import SettingsError, load_settings  # noqa: E402
from shared.policy import PolicyError  # noqa: E402

# Lambda's Python runtime gives the root logger its handler but leaves it at WARNING, so
# the issuer's INFO events (token_issued: every issued token is logged) would be
# dropped. INFO for the issuer's loggers, unless the function's log level is set
# (AWS_LAMBDA_LOG_LEVEL, from Lambda's logging controls): that choice is the operator's.
if "AWS_LAMBDA_LOG_LEVEL" not in os.environ:
    logging.getLogger("issuer").setLevel(logging.INFO)
lean_log_records()

# No .env inside a Lambda package: settings come only from the function's environment
# (plus, on AWS, the two secrets).
try:
    _environ, _credentials = environment()
    settings = load_settings(_environ, env_file=None)
    services = build_services(settings,
                              engine=lambda_engine(settings.database_url, _credentials))
    app = create_app(settings, services)
except (SecretError, SettingsError, PolicyError, KekError) as exc:
    # What the operator must fix: a secret missing, unreadable or malformed
    # (deploy/aws_secrets.py), a setting, the policy file, or a wrong KEK
    # (issuer/keys/kek_check.py). The cold start fails in one line on stderr naming it
    # (never a secret's value), no traceback, and the function never answers with an
    # issuer that cannot sign.
    print("issuer: " + " ".join(str(exc).split()), file=sys.stderr)
    raise SystemExit(1) from None
del _environ
handler = Mangum(app, lifespan="off")


def _before_snapshot() -> None:
    """Before Lambda snapshots the initialized environment (at publish: its time is not
    an invocation's): warm what a first request would otherwise pay, then leave no
    database connection in the snapshot (the KEK check at init opened one)."""
    import importlib

    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import configure_mappers

    from issuer.http.lazy_routes import load_all
    from issuer.keys.store import NoSigningKey
    from issuer.services import DEFERRED_MODULES

    # What the init leaves to the first request that uses it (the other client
    # authentication methods, federation, DPoP, the other tables): code only, no state.
    for name in DEFERRED_MODULES:
        importlib.import_module(name)
    configure_mappers()  # every table now; SQLAlchemy does it on first use otherwise
    load_all(app)  # the admin API, imported on its first request otherwise
    try:
        # The active key read, decrypted and loaded (and the queries on the way compiled);
        # after a restore only its kid is read again.
        with services.sessions() as session:
            services.key_store.signer(session, services.clock())
    except (SQLAlchemyError, NoSigningKey) as exc:  # the first token will do it
        log_event(logging.getLogger("issuer.app"), "snapstart_warmup_skipped",
                  logging.WARNING, **error_fields(exc))
    services.engine.dispose()
    gc.freeze()  # what the warm-up made lives as long as the init's (the pause above)


def _after_restore() -> None:
    """In each environment resumed from the snapshot, before its first invocation (within
    Lambda's 10 s restore limit, so no network call here)."""
    # Pooled connections are sockets of the environment that was snapshotted: another
    # environment's, or closed by the server since. New ones are opened on first use
    # (each takes the current password: deploy/lambda_runtime.py).
    services.engine.dispose()
    # The database secret and the credentials that read it are the snapshot's: read both
    # again on the next connection (Lambda gives a restored environment its own).
    if _credentials is not None:
        _credentials.invalidate()
    # `random` was seeded once at init, so every restored environment would draw the
    # same sequence; re-seed from os.urandom. (The issuer's own secrets, jti and salts
    # come from the `secrets` module, which reads the kernel at each call.)
    random.seed()
    # The snapshot may be days old: read clients, the signing key and the revocation
    # list again rather than trust their cache timestamps.
    services.clients.invalidate()
    services.key_store.invalidate()
    services.revocation_list.invalidate()


def register_snapstart_hooks() -> bool:
    """Register the hooks with the runtime's `snapshot_restore_py`; False off Lambda."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:  # not a Lambda Python runtime (3.12+ ships it): nothing to hook
        return False
    register_before_snapshot(_before_snapshot)
    register_after_restore(_after_restore)
    return True


register_snapstart_hooks()

# The end of the init: what it made is frozen, the collector resumed (the pause above).
gc.freeze()
gc.enable()
