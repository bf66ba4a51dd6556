"""Running blocking work (database) from an async endpoint.

Under a server (uvicorn) the work goes to the thread pool so the event loop keeps
serving other connections. Under AWS Lambda (Mangum, which puts the API Gateway event in
the ASGI scope as `aws.event`) an instance handles one request at a time, so there is no
other request to keep serving, and each thread-pool hop would start a fresh worker
thread (anyio ties its workers to the root task, and Mangum runs every invocation as a
new one: ~2 ms per hop, docs/benchmarks.md): the work runs inline instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

T = TypeVar("T")


def single_request_runtime(scope: Scope) -> bool:
    """True when this process serves one request at a time (Lambda through Mangum)."""
    return "aws.event" in scope


async def run_blocking(scope: Scope, fn: Callable[..., T], *args: Any) -> T:
    if single_request_runtime(scope):
        return fn(*args)
    return await run_in_threadpool(fn, *args)
