"""Routers imported on their first request: the admin API's modules (its pydantic
models, its route declarations) cost a cold start about 30-70 ms here, and a Lambda
instance cold-started by a token request never needs them (docs/benchmarks.md, startup);
nor does it need introspection, revocation, discovery or the health checks.

`include_lazily(app, "/admin", load)` puts one placeholder route where the routers would
be (several paths: `include_lazily(app, ("/healthz", "/readyz"), load)`). The first
request whose path is one of them or under one, or the first OpenAPI document asked for,
calls `load()` (which imports the modules and returns their routers), includes them as
`app.include_router` would have, drops the placeholder, and routes the request again:
from then on the app is exactly the eager one. Under SnapStart the before-snapshot hook
loads them (deploy/issuer_lambda.py), so a restored instance pays nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send


class LazyRouters(BaseRoute):
    def __init__(
        self, app: FastAPI, prefixes: tuple[str, ...], load: Callable[[], Iterable[APIRouter]]
    ) -> None:
        self.app = app
        self.prefixes = tuple(prefix.rstrip("/") for prefix in prefixes)
        self._load = load
        self._lock = threading.Lock()  # the OpenAPI document may be built off the loop
        self.loaded = False

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return Match.NONE, {}
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):  # as Starlette's own routes read the path
            path = path[len(root):]
        for prefix in self.prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        self.load()
        return self.app.router.url_path_for(name, **path_params)

    def load(self) -> None:
        """Include the routers (once), in place of this placeholder."""
        with self._lock:
            if self.loaded:
                return
            routes = self.app.router.routes
            at = routes.index(self)
            before = len(routes)
            for router in self._load():
                self.app.include_router(router)
            added = routes[before:]
            del routes[before:]
            routes[at:at + 1] = added  # the routers where the placeholder stood
            self.app.openapi_schema = None  # built without them, if built at all
            self.loaded = True

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.load()
        await self.app.router(scope, receive, send)  # routed again, the routers in place


def include_lazily(
    app: FastAPI, prefixes: str | tuple[str, ...], load: Callable[[], Iterable[APIRouter]]
) -> LazyRouters:
    """Add the placeholder; wrap `app.openapi` so the document always lists the routes
    (call it after anything else that replaces `app.openapi`)."""
    lazy = LazyRouters(app, (prefixes,) if isinstance(prefixes, str) else prefixes, load)
    app.router.routes.append(lazy)
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        lazy.load()
        return build_openapi()

    app.openapi = openapi  # type: ignore[method-assign]
    return lazy


def load_all(app: FastAPI) -> int:
    """Load every lazy router set of `app` now (a warm-up: SnapStart's before-snapshot
    hook); the number loaded."""
    lazy = [route for route in app.router.routes if isinstance(route, LazyRouters)]
    for route in lazy:
        route.load()
    return len(lazy)
