"""What every issuer-side Lambda (issuer, rotateKeys, ops) does at cold start on AWS:
settings from the environment plus the secrets (deploy/aws_secrets.py), and a database
engine sized for Lambda (one connection per instance, pre-ping, proxy-friendly:
issuer/store/engine.py) whose new connections take the current password from Secrets Manager.

Off AWS (no secret ARN in the environment) it is the plain environment, as `issuer
serve` reads it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sqlalchemy import Engine, event

from deploy import aws_secrets
from issuer.store.engine import make_engine


def environment(environ: Mapping[str, str] | None = None, client=None):
    """(environ for `load_settings`, DbCredentials or None off AWS)."""
    env = os.environ if environ is None else environ
    if not aws_secrets.on_aws(env):
        return dict(env), None
    return aws_secrets.resolve(env, client=client)


def lambda_engine(url: str, credentials=None) -> Engine:
    engine = make_engine(url, lambda_runtime=True)
    if credentials is not None and not url.startswith("sqlite"):

        @event.listens_for(engine, "do_connect")
        def _connect(dialect, _record, cargs, cparams):
            # The password as of now, not as of the cold start: RDS rotation changes it in
            # place. A refused connect re-reads the secret once and retries.
            cparams["password"] = credentials.password()
            try:
                return dialect.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.OperationalError:
                cparams["password"] = str(credentials.refresh()["password"])
                return dialect.connect(*cargs, **cparams)

    return engine


def export_secrets(environ: Mapping[str, str] | None = None, client=None) -> None:
    """For the functions that run the issuer CLI (which reads `os.environ`): the resolved
    values in this process's environment only, never in the function's configuration."""
    env, _ = environment(environ, client)
    for name in ("ISSUER_DATABASE_URL", "ISSUER_KEY_ENCRYPTION_KEY"):
        if name in env:
            os.environ[name] = env[name]
