"""`POST /oauth2/revoke`: token revocation (RFC 7009).

RFC 7009 §2.1: the client authenticates, and may revoke only tokens issued to it. A
token of another client is left alone and still answered 200: an error would tell the
caller the token is valid for someone (the brief's choice; §2.1 would "inform the
client"). Invalid, expired and unknown tokens are 200 too (§2.2). A client holding
`issuer:admin` may revoke any token of this issuer (urgent revocation of a leaked token
by an operator who has it); it could disable the owning client anyway.

`token_type_hint` only speeds up a lookup (§2.1) and is otherwise ignored. We never
answer `unsupported_token_type` (§2.2.1): the only tokens we issue are access tokens,
and their revocation is supported; a `refresh_token` hint still searches access tokens,
as §2.1 requires ("MUST extend its search across all of its supported token types").

The revoked `jti` is stored until the token's `exp` plus the verifiers' largest leeway;
the authorizer learns it from the signed revocation list
(`issuer/http/discovery/revocation_list.py`) within its refresh TTL. A client with more
than `revocation.MAX_JTIS_PER_CLIENT` such records has them collapsed into one client-wide
revocation (all its tokens until then): one client cannot grow the list past its share
(issuer/oauth/revocation.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from issuer.clients.cache import ClientRecord
from issuer.http.deps import ServicesDep
from issuer.http.oauth.client_request import run_for_client
from issuer.http.openapi import TOKEN_ARGUMENT_FORM, oauth_errors
from issuer.logs import log_event
from issuer.oauth.errors import NO_STORE, InvalidRequest
from issuer.oauth.own_tokens import verify_own_token
from issuer.oauth.revocation import revoke_token, token_generation
from issuer.services import Services
from shared.scope import ADMIN_SCOPE

router = APIRouter(tags=["oauth2"])
log = logging.getLogger("issuer.revoke")


def revoke(
    services: Services, session: Session, caller: ClientRecord, form: Mapping[str, str]
) -> None:
    token = form.get("token")
    if not token:
        raise InvalidRequest("token is required")
    now = services.clock()
    verified = verify_own_token(services, session, token, now)
    if verified is None or verified.jti is None:
        return  # nothing to revoke: invalid, foreign or expired (§2.2: still 200)
    if verified.client_id != caller.client_id and ADMIN_SCOPE not in caller.scopes:
        log_event(
            log,
            "revoke_foreign_token_refused",
            logging.WARNING,
            caller=caller.client_id,
            jti=verified.jti,
        )
        return
    added = revoke_token(
        session,
        jti=verified.jti,
        client_id=verified.client_id,
        exp=verified.exp,
        generation=token_generation(verified.claims),
        now=now,
        stale_for=services.settings.client_cache_ttl,
    )
    log_event(
        log,
        "token_revoked",
        caller=caller.client_id,
        client_id=verified.client_id,
        jti=verified.jti,
        exp=verified.exp,
        repeat=not added,
    )


@router.post(
    "/oauth2/revoke",
    openapi_extra=TOKEN_ARGUMENT_FORM,
    summary="Token revocation (RFC 7009)",
    # RFC 7009 §2.2: 200 with an empty body; documented so (the fuzzer holds answers to it).
    response_class=Response,
    responses={
        200: {"description": "Revoked, or nothing to revoke: an empty body"},
        **oauth_errors(400, 401, 429, 503),
    },
)
async def revoke_endpoint(request: Request, services: ServicesDep) -> Response:
    await run_for_client(request, services, revoke)
    return Response(status_code=200, headers=NO_STORE)
