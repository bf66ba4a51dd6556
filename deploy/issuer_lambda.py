"""Lambda entry point for the issuer: the FastAPI app behind Mangum.

The app is built once per cold start from the environment; on AWS the database
credentials and the KEK are read from Secrets Manager at that moment
(deploy/lambda_runtime.py, deploy/aws_secrets.py), never from the function's
configuration. `lifespan="off"`: API Gateway events carry no ASGI lifespan, and the
database schema is migrated at deploy time (`issuer db upgrade`), never by a Lambda
that any request can cold-start.
"""

from __future__ import annotations

import logging
import os
import sys

from mangum import Mangum

from deploy.lambda_runtime import environment, lambda_engine
from issuer.http.app import create_app
from issuer.keys.kek import KekError
from issuer.logs import lean_log_records
from issuer.services import build_services
from issuer.settings import load_settings

# Lambda's Python runtime gives the root logger its handler but leaves it at WARNING, so
# the issuer's INFO events (token_issued: every issued token is logged) would be
# dropped. INFO for the issuer's loggers, unless the function's log level is set
# (AWS_LAMBDA_LOG_LEVEL, from Lambda's logging controls): that choice is the operator's.
if "AWS_LAMBDA_LOG_LEVEL" not in os.environ:
    logging.getLogger("issuer").setLevel(logging.INFO)
lean_log_records()

# No .env inside a Lambda package: settings come only from the function's environment
# (plus, on AWS, the two secrets).
_environ, _credentials = environment()
settings = load_settings(_environ, env_file=None)
services = build_services(settings, engine=lambda_engine(settings.database_url, _credentials))
del _environ
try:
    app = create_app(settings, services)
except KekError as exc:
    # A wrong KEK (issuer/keys/kek_check.py): this cold start fails in one line on stderr, no
    # traceback, and the function never answers with an issuer that cannot sign.
    print(f"issuer: {exc}", file=sys.stderr)
    raise SystemExit(1) from None
handler = Mangum(app, lifespan="off")
