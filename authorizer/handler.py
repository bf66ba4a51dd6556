"""AWS Lambda entry point: `authorizer.handler.handler(event, context)`.

The cold start (settings, keys file, policy) runs at import, once per instance, as
Lambda intends; a missing setting fails the import with a clear message. The import
graph stays small on purpose (stdlib, cryptography, shared): it is the cold start.

A refusal is answered the way each API type documents it, here and under every local
stand-in alike:
- REST API: `raise Exception("Unauthorized")`, which API Gateway answers 401
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-lambda-authorizer-output.html);
- HTTP API: `{"isAuthorized": false}` (simple responses) or a Deny policy, which API
  Gateway answers 403; a raise there has no documented status, so none is relied on
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html).
  A request without the identity source gets API Gateway's own 401 before any call.
"""

from __future__ import annotations

from typing import Any

from authorizer.coldstart import build_authorizer
from authorizer.responses import http_api_refusal
from authorizer.settings import Settings

SETTINGS = Settings.from_env()
AUTHORIZER = build_authorizer(SETTINGS)


def handler(event: object, context: object) -> dict[str, Any]:
    try:
        response = AUTHORIZER.authorize(event)
    except Exception:  # authorize() never raises; this guards the log write itself
        response = None
    if response is not None:
        return response
    refusal = http_api_refusal(event, SETTINGS.response)
    if refusal is None:
        raise Exception("Unauthorized")
    return refusal
