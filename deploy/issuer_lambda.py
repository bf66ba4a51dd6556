"""Lambda entry point for the issuer: the FastAPI app behind Mangum.

The app is built once per cold start from the environment (serverless.yml fills it from
SSM in production). `lifespan="off"`: API Gateway events carry no ASGI lifespan, and the
database schema is migrated at deploy time (`issuer db upgrade`), never by a Lambda
that any request can cold-start.
"""

from __future__ import annotations

from mangum import Mangum

from issuer.app import create_app
from issuer.settings import load_settings

# No .env inside a Lambda package: settings come only from the function's environment.
handler = Mangum(create_app(load_settings(env_file=None)), lifespan="off")
