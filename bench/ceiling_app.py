"""The ceiling for the token endpoint: a bare FastAPI endpoint that parses the same form
(the issuer's own parser) and signs the same token (the issuer's `mint_access_token`)
with the same key (the issuer database's active key, decrypted once at start), and
nothing else: no client lookup, no secret check, no grant decisions, no thread hop.

Run it the way the issuer runs: `uvicorn bench.ceiling_app:app_factory --factory` with
the issuer's `ISSUER_*` environment plus `BENCH_CLIENT_ID`, `BENCH_AUDIENCE`,
`BENCH_SCOPE` (the claims the real issuer would grant), or `Mangum(ceiling_app(...))`.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from issuer.http.oauth.form import read_form
from issuer.keys.kek import kek_from_settings
from issuer.keys.store import KeyStore, Signer
from issuer.oauth.access_token import mint_access_token
from issuer.oauth.errors import NO_STORE
from issuer.settings import Settings, load_settings
from issuer.store.engine import make_engine, make_session_factory


def load_signer(settings: Settings) -> Signer:
    engine = make_engine(settings.database_url)
    try:
        kek = kek_from_settings(settings.key_encryption_key, settings.kek_file)
        with make_session_factory(engine)() as session:
            return KeyStore(kek).signer(session)
    finally:
        engine.dispose()


def ceiling_app(settings: Settings, signer: Signer, client_id: str, audience: str,
                scope: str) -> FastAPI:
    app = FastAPI(title="token endpoint ceiling")
    issuer, lifetime = settings.url, settings.token_lifetime

    @app.post("/oauth2/token")
    async def token(request: Request) -> JSONResponse:
        form = await read_form(request)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, 400, headers=NO_STORE)
        minted = mint_access_token(signer, issuer=issuer, client_id=client_id,
                                   audience=audience, scope=scope, lifetime=lifetime)
        return JSONResponse({"access_token": minted.token, "token_type": "Bearer",
                             "expires_in": lifetime, "scope": scope}, headers=NO_STORE)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def app_factory() -> FastAPI:
    settings = load_settings(env_file=None)
    return ceiling_app(settings, load_signer(settings), os.environ["BENCH_CLIENT_ID"],
                       os.environ["BENCH_AUDIENCE"], os.environ["BENCH_SCOPE"])
