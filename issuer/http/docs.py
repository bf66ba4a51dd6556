"""`/docs` (Swagger UI) and `/openapi.json`, served by the issuer itself: the page loads
only same-origin assets, so it works offline and behind an egress-less network, and no
third party learns who reads the docs or can change the script that runs next to an
admin token.

The assets are Swagger UI's own build, vendored from the npm package `swagger-ui-dist`
(`static/swagger-ui/README.md`: version, SHA-256 of each file, how to update; Apache-2.0,
its LICENSE and NOTICE beside them). ReDoc (CDN-only in FastAPI) is not served.

Off in production unless `ISSUER_DOCS=on` (`Settings.docs`): the document lists every
endpoint, parameter and error, which a public production issuer need not hand out.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from shared.scope import ADMIN_SCOPE

DOCS_URL = "/docs"
OPENAPI_URL = "/openapi.json"
STATIC = Path(__file__).resolve().parent / "static" / "swagger-ui"
# name -> media type: the only files served (no path from the request reaches the disk).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
# Same bytes for a given build; a new build changes the issuer's version anyway.
ASSET_CACHE = {"Cache-Control": "public, max-age=86400"}
SWAGGER_UI_PARAMETERS = {
    # Swagger UI would otherwise send the document's URL to validator.swagger.io.
    "validatorUrl": None,
}


def install_docs(app: FastAPI) -> None:
    """Add `/docs` and its assets (the app was built with `openapi_url=OPENAPI_URL`)."""
    cache: dict[str, bytes] = {}

    def asset(name: str) -> bytes:
        if name not in cache:  # read once per process, on first use
            cache[name] = (STATIC / name).read_bytes()
        return cache[name]

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{app.title} - API documentation",
            swagger_js_url=f"{root}{DOCS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_URL}/favicon-32x32.png",
            oauth2_redirect_url=None,  # client credentials only: no redirect flow
            # "Authorize" asks for a client id and secret and gets an admin token from
            # the token endpoint (the clientCredentials scheme in issuer/http/openapi.py).
            init_oauth={"scopes": [ADMIN_SCOPE]},
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    def serve(name: str, media_type: str) -> None:
        async def endpoint() -> Response:
            return Response(asset(name), media_type=media_type, headers=ASSET_CACHE)

        app.add_api_route(f"{DOCS_URL}/{name}", endpoint, methods=["GET"],
                          include_in_schema=False)

    for name, media_type in ASSETS.items():
        serve(name, media_type)
