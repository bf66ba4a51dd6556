"""The admin console at `/console`: server-rendered pages (Jinja2, autoescaped), plain
HTML forms and one small script of our own (`static/console.js`: copy buttons), served by
the issuer itself; nothing from a CDN, nothing to build. Off unless `Settings.console`
(`ISSUER_CONSOLE`: on in development, off in production unless turned on); imported on
the first request under `/console` (`issuer/http/lazy_routes.py`: a token request's cold
start never loads it); its routes stay out of the OpenAPI document. docs/console/ shows
the pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from issuer.http.console.render import SECURITY_HEADERS

STATIC = Path(__file__).resolve().parent / "static"
# name -> media type: the only files served (no path from the request reaches the disk).
ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}


def static_router() -> APIRouter:
    router = APIRouter(prefix="/console/static", include_in_schema=False)
    cache: dict[str, bytes] = {}

    def serve(name: str, media_type: str) -> None:
        async def asset() -> Response:
            if name not in cache:  # read once per process, on first use
                cache[name] = (STATIC / name).read_bytes()
            headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"}
            return Response(cache[name], media_type=media_type, headers=headers)

        router.add_api_route(f"/{name}", asset, methods=["GET"])

    for name, media_type in ASSETS.items():
        serve(name, media_type)
    return router


def routers() -> list[APIRouter]:
    """The console's routers (for `include_lazily(app, "/console", routers)`)."""
    from issuer.http.console import auth, clients, pages

    return [static_router(), auth.router, clients.router, pages.router]
