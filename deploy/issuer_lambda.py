"""Lambda entry point for the issuer: the FastAPI app behind Mangum.

The app is built once per cold start from the environment (serverless.yml fills it from
SSM in production). `lifespan="off"`: API Gateway events carry no ASGI lifespan, and the
database schema is migrated at deploy time (`issuer db upgrade`), never by a Lambda
that any request can cold-start.
"""

from __future__ import annotations

import logging
import os

from mangum import Mangum

from issuer.app import create_app
from issuer.logs import lean_log_records
from issuer.settings import load_settings

# Lambda's Python runtime gives the root logger its handler but leaves it at WARNING, so
# the issuer's INFO events (token_issued: SPEC, issued tokens are logged) would be
# dropped. INFO for the issuer's loggers, unless the function's log level is set
# (AWS_LAMBDA_LOG_LEVEL, from Lambda's logging controls): that choice is the operator's.
if "AWS_LAMBDA_LOG_LEVEL" not in os.environ:
    logging.getLogger("issuer").setLevel(logging.INFO)
lean_log_records()

# No .env inside a Lambda package: settings come only from the function's environment.
handler = Mangum(create_app(load_settings(env_file=None)), lifespan="off")
