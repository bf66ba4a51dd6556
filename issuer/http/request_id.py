"""The request id: one value per HTTP request, written on every log line of that request
(`issuer.logs.REQUEST_ID`) and echoed in the response's `X-Request-Id`, so an operator
can find everything one request caused, and a caller can quote it.

A caller's (or a proxy's) `X-Request-Id` is taken when it is well-formed: 1 to 128
characters of `A-Z a-z 0-9 . _ -` (`REQUEST_ID_GRAMMAR`). Anything else (too long, other
characters, several headers) is replaced by a generated id, so a header cannot inject
text into a log line or grow it without bound. Under Lambda (Mangum) the API Gateway
request id (`requestContext.requestId`, also in API Gateway's access logs as
`$context.requestId`) is used when the request has no well-formed header.

Generated ids are 24 hexadecimal digits: 48 random bits drawn once per process (again in
a forked child) and a 48-bit counter, so ids are unique across workers and Lambda
instances without coordination, for a fraction of a `urandom` call per request (~0.3 us
against ~1.3 us: the token path pays it on every request). They are not secrets.
"""

from __future__ import annotations

import itertools
import os
import re

from starlette.types import Scope

HEADER = b"x-request-id"
REQUEST_ID_GRAMMAR = r"[A-Za-z0-9._-]{1,128}"
_WELL_FORMED = re.compile(REQUEST_ID_GRAMMAR.encode()).fullmatch


_process = os.urandom(6).hex()
_counter = itertools.count(int.from_bytes(os.urandom(4), "big"))  # next() is atomic


def _new_process() -> None:
    global _process
    _process = os.urandom(6).hex()


os.register_at_fork(after_in_child=_new_process)


def new_request_id() -> str:
    return f"{_process}{next(_counter) & 0xFFFFFFFFFFFF:012x}"


def request_id_for(scope: Scope) -> str:
    """The request's id: its well-formed `X-Request-Id`, else API Gateway's request id
    under Lambda, else a new one."""
    found: bytes | None = None
    for name, value in scope["headers"]:
        if name == HEADER:
            if found is not None:  # repeated: which one would a proxy have meant?
                return new_request_id()
            found = value
    if found is not None and _WELL_FORMED(found):
        return found.decode("ascii")
    event = scope.get("aws.event")
    if event is not None:
        context = event.get("requestContext") if isinstance(event, dict) else None
        gateway_id = context.get("requestId") if isinstance(context, dict) else None
        if isinstance(gateway_id, str) and _WELL_FORMED(gateway_id.encode("utf-8", "replace")):
            return gateway_id
    return new_request_id()
