"""A plainer ceiling for the token endpoint: the least a FastAPI token endpoint does.

`POST /oauth2/token` reads the body with `urllib.parse.parse_qs`, checks the grant type,
and signs the same claims with `jwt.encode` under the issuer database's active key
(decrypted once at start); nothing else (no content-type, size or repeat checks, no
client authentication, no grant, no throttle, no access log). Served under uvicorn's
defaults: `uvicorn bench.plain_ceiling:app_factory --factory` with the issuer's
`ISSUER_*` environment plus `BENCH_CLIENT_ID`, `BENCH_AUDIENCE`, `BENCH_SCOPE`.

`bench/ceiling_app.py` is the other ceiling: the issuer's own form parser and minting
function, so it shows what the issuer's request path adds; this one shows what the
issuer costs against a hand-written endpoint a user would compare it with.
"""

from __future__ import annotations

import os
import secrets
import time
from urllib.parse import parse_qs

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bench.ceiling_app import load_signer
from issuer.settings import load_settings

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def app_factory() -> FastAPI:
    settings = load_settings(env_file=None)
    signer = load_signer(settings)
    key, alg, kid = signer.private_key, signer.alg, signer.kid
    issuer, lifetime = settings.url, settings.token_lifetime
    client_id = os.environ["BENCH_CLIENT_ID"]
    audience, scope = os.environ["BENCH_AUDIENCE"], os.environ["BENCH_SCOPE"]
    app = FastAPI(title="plain token endpoint ceiling")

    @app.post("/oauth2/token")
    async def token(request: Request) -> JSONResponse:
        form = parse_qs((await request.body()).decode())
        if form.get("grant_type") != ["client_credentials"]:
            return JSONResponse({"error": "unsupported_grant_type"}, 400, headers=NO_STORE)
        now = int(time.time())
        claims = {"iss": issuer, "sub": client_id, "aud": audience, "exp": now + lifetime,
                  "iat": now, "jti": secrets.token_urlsafe(16), "client_id": client_id,
                  "scope": scope}
        access_token = jwt.encode(claims, key, algorithm=alg,
                                  headers={"typ": "at+jwt", "kid": kid})
        return JSONResponse({"access_token": access_token, "token_type": "Bearer",
                             "expires_in": lifetime, "scope": scope}, headers=NO_STORE)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app
