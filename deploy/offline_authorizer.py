"""The authorizer as serverless-offline needs it; used only by the `offline` stage.

On AWS, `raise Exception("Unauthorized")` is how a Lambda authorizer asks API Gateway
for a 401. serverless-offline's Python runner has no error channel: an exception ends
its `invoke.py` loop, and the request hangs until the function timeout. Its REST
authorizer code maps the plain return value "Unauthorized" to 401 instead
(node_modules/serverless-offline/src/events/http/createAuthScheme.js), so this wrapper
turns the one into the other. For an HTTP API simple-response authorizer, that code
only looks at `isAuthorized`, so a refusal becomes `{"isAuthorized": false}` (403).

The production stage points at `authorizer.handler.handler` itself (serverless.yml),
so what runs on AWS is untouched.
"""

from __future__ import annotations

from authorizer.handler import handler as lambda_handler


def handler(event, context):
    try:
        return lambda_handler(event, context)
    except Exception as exc:
        if str(exc) != "Unauthorized":
            raise
        if event.get("version") == "2.0" and "methodArn" not in event:
            return {"isAuthorized": False}
        return "Unauthorized"
