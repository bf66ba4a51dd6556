"""`POST /oauth2/token`: the client credentials grant (RFC 6749 §4.4, §5.1)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..client_cache import ClientRecord
from ..concurrency import run_blocking
from ..deps import ServicesDep
from ..keys import NoSigningKey, ensure_active_key
from ..logs import log_event
from ..oauth.client_auth import TokenRequest, claimed_client_id
from ..oauth.client_credentials import check_grant_type, grant_client_credentials
from ..oauth.errors import NO_STORE, InvalidClient
from ..oauth.form import read_form
from ..revocation import earliest_iat
from ..scopes import join_scopes
from ..services import Services
from ..tokens import mint_access_token

router = APIRouter(tags=["oauth2"])
log = logging.getLogger("issuer.tokens")

_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "scope": {"type": "string"},
                        "resource": {"type": "string"},
                        "audience": {"type": "string"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                    },
                }
            }
        },
    }
}


def _issue(services: Services, request: TokenRequest) -> dict:
    settings = services.settings
    check_grant_type(request.form)
    now = services.clock()
    # The session connects only if a cache misses: with the client record
    # (services.clients) and the active signer (KeyStore.cached_signer) in memory, a token
    # costs no database round trip.
    with services.sessions() as session:
        authenticated = services.authenticator.authenticate(request, session)
        client = authenticated.client
        grant = grant_client_credentials(
            request.form, client, services.policy, settings.url, settings.token_lifetime
        )
        try:
            # Also makes due key transitions (next -> active after its publication lead).
            signer = services.key_store.signer(session, now)
        except NoSigningKey:
            # First request on a database that was migrated but never started: bootstrap.
            ensure_active_key(services.sessions, services.kek, settings.signing_alg)
            signer = services.key_store.signer(session, now)
        # Never inside a client revocation's second (issuer/revocation.py).
        if isinstance(client, ClientRecord):
            iat = client.earliest_iat(now)  # the revocation record came with the client
        else:
            iat = earliest_iat(session, client.client_id, now)
    scope = join_scopes(grant.scopes)
    token = mint_access_token(
        signer,
        issuer=settings.url,
        client_id=client.client_id,
        audience=grant.audience,
        scope=scope,
        lifetime=grant.lifetime,
        now=iat,
    )
    log_event(
        log,
        "token_issued",
        client_id=client.client_id,
        scope=scope,
        aud=grant.audience,
        jti=token.jti,
        kid=signer.kid,
        auth_method=authenticated.method,
        exp=token.exp,
    )
    return {
        "access_token": token.token,
        "token_type": "Bearer",
        "expires_in": grant.lifetime,
        "scope": scope,
    }


def _throttled_issue(services: Services, request: TokenRequest, keys: list[str]) -> dict:
    services.throttle.check(keys)  # before authentication: a blocked key learns nothing
    return _issue(services, request)


def _throttle_keys(request: Request, token_request: TokenRequest) -> list[str]:
    keys = [f"addr:{request.client.host if request.client else '-'}"]
    claimed = claimed_client_id(token_request)
    if claimed:
        keys.append(f"client:{claimed[:64]}")
    return keys


@router.post("/oauth2/token", openapi_extra=_FORM_SCHEMA, summary="Client credentials grant")
async def token(request: Request, services: ServicesDep) -> JSONResponse:
    form = await read_form(request)
    token_request = TokenRequest(form=form, authorization=request.headers.get("authorization"))
    keys = _throttle_keys(request, token_request)
    try:
        # Database and signing work is blocking: keep it off the event loop (the throttle
        # reads and writes the database too, on its failure path). One hop for all of it.
        scope = request.scope
        body = await run_blocking(scope, _throttled_issue, services, token_request, keys)
    except InvalidClient:
        await run_blocking(request.scope, services.throttle.record_failure, keys)
        raise
    return JSONResponse(body, headers=NO_STORE)
