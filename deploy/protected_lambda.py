"""The example protected function: API Gateway calls it only after the authorizer said
yes, and it answers with what the authorizer passed along (who called, with which scopes).

Both event shapes it receives are read here: the REST API proxy event (authorizer
context under `requestContext.authorizer`) and the HTTP API payload 2.0 event (under
`requestContext.authorizer.lambda`). Stdlib only: nothing to package with it.
"""

from __future__ import annotations

import json


def handler(event, context):
    request_context = event.get("requestContext") or {}
    authorizer = dict(request_context.get("authorizer") or {})
    if isinstance(authorizer.get("lambda"), dict):  # HTTP API, payload 2.0
        authorizer = authorizer["lambda"]
    authorizer.pop("integrationLatency", None)
    http = request_context.get("http") or {}
    body = {
        "service": "example-orders-function",
        "method": event.get("httpMethod") or http.get("method"),
        "path": event.get("path") or event.get("rawPath"),
        "authorizer": authorizer,
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
