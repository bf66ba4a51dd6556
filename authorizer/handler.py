"""AWS Lambda entry point: `authorizer.handler.handler(event, context)`.

The cold start (settings, keys file, policy) runs at import, once per instance, as
Lambda intends; a missing setting fails the import with a clear message. The import
graph stays small on purpose (stdlib, cryptography, shared): it is the cold start.
"""

from __future__ import annotations

from authorizer.coldstart import cold_start

AUTHORIZER = cold_start()


def handler(event, context):
    return AUTHORIZER.lambda_handler(event, context)
