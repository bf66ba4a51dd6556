"""`POST /oauth2/introspect`: token introspection (RFC 7662).

Only authenticated clients may ask (RFC 7662 §2.1, §4: otherwise the endpoint is a
token-scanning oracle); a missing or failed client authentication is `invalid_client`
401 like at the token endpoint.

Who sees what: a client learns about its own tokens only. Another client's token is
answered `{"active": false}`, exactly as a forged one, so introspection reveals nothing
about tokens the caller does not hold legitimately (RFC 7662 §4 lets the server decide
per caller). Exception: a client holding `issuer:admin` may introspect any token of this
issuer; it can already see and change every client through the admin API.

`token_type_hint` is accepted and ignored (§2.1: the server "MAY ignore"): access
tokens are the only kind this issuer has.

A sender-constrained token's `cnf` is shown, so a resource server that introspects can
check the binding: `x5t#S256` (RFC 8705 §3.2) or `jkt` (RFC 9449 §6.2), and such a DPoP
token's `token_type` is `DPoP`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from issuer.clients.cache import ClientRecord
from issuer.clients.registry import get_client
from issuer.http.deps import ServicesDep
from issuer.http.oauth.client_request import run_for_client
from issuer.http.openapi import TOKEN_ARGUMENT_FORM, oauth_errors, ok
from issuer.logs import log_event
from issuer.oauth.dpop import BEARER_TOKEN_TYPE, DPOP_TOKEN_TYPE, cnf_view
from issuer.oauth.errors import NO_STORE, InvalidRequest
from issuer.oauth.own_tokens import verify_own_token
from issuer.oauth.revocation import is_revoked, token_generation
from issuer.services import Services
from shared.scope import ADMIN_SCOPE

router = APIRouter(tags=["oauth2"])
log = logging.getLogger("issuer.introspect")

INACTIVE: dict[str, Any] = {"active": False}  # RFC 7662 §2.2: nothing else for inactive


def introspect_token(
    services: Services, session: Session, caller: ClientRecord, form: Mapping[str, str]
) -> dict[str, Any]:
    token = form.get("token")
    if not token:
        raise InvalidRequest("token is required")
    now = services.clock()
    verified = verify_own_token(services, session, token, now)
    if verified is None:
        return INACTIVE
    if verified.client_id != caller.client_id and ADMIN_SCOPE not in caller.scopes:
        log_event(log, "introspect_foreign_token", caller=caller.client_id, jti=verified.jti)
        return INACTIVE
    generation = token_generation(verified.claims)
    if is_revoked(
        session, jti=verified.jti, client_id=verified.client_id, generation=generation, now=now
    ):
        return INACTIVE
    owner = get_client(session, verified.client_id)
    if owner is None or not owner.enabled:
        return INACTIVE  # a disabled or deleted client's tokens are no longer honoured
    aud = verified.aud[0] if len(verified.aud) == 1 else list(verified.aud)
    cnf = cnf_view(verified.claims)
    answer: dict[str, Any] = {
        "active": True,
        "scope": verified.scope,
        "client_id": verified.client_id,
        "sub": verified.sub,
        "aud": aud,
        "iss": services.settings.url,
        "exp": verified.exp,
        "iat": verified.iat,
        "jti": verified.jti,
        "token_type": DPOP_TOKEN_TYPE if cnf and "jkt" in cnf else BEARER_TOKEN_TYPE,
        "cnf": cnf,
    }
    return {name: value for name, value in answer.items() if value is not None}


@router.post(
    "/oauth2/introspect",
    summary="Token introspection (RFC 7662)",
    openapi_extra=TOKEN_ARGUMENT_FORM,
    response_model=None,
    responses={
        **ok("IntrospectionResponse", "RFC 7662 §2.2", {
            "active": True, "scope": "orders:read", "client_id": "c_3q2-7wAbQ0uX9TqPz1Lk2w",
            "sub": "c_3q2-7wAbQ0uX9TqPz1Lk2w", "aud": "https://api.example.com/orders",
            "iss": "https://issuer.example.com", "exp": 1738328400, "iat": 1738324800,
            "jti": "2UFEqXFfePu60dm9rSN86w", "token_type": "Bearer",
        }),
        **oauth_errors(400, 401, 429, 503),
    },
)
async def introspect(request: Request, services: ServicesDep) -> JSONResponse:
    body = await run_for_client(request, services, introspect_token)
    return JSONResponse(body, headers=NO_STORE)
