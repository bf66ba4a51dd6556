"""`GET /.well-known/revocations.jwt`: the revocations still in force, as a JWS signed
with the active token signing key (`issuer.oauth.revocation`), for verifiers that never call
the issuer per request (the authorizer). Public: it names only random `jti`s and hashes
of client ids (`shared.revocation_list.client_key`), and tells nobody how to use a token.

Unauthenticated, so its cost must not grow with the list: each process serves the list
it signed for `LIST_CACHE_SECONDS` (`Services.revocation_list`), one query set and one
signature per window whatever the number of GETs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from issuer.http.deps import ServicesDep
from issuer.http.openapi import unavailable
from issuer.oauth.revocation import LIST_MAX_AGE, SignedRevocationList, revocation_list
from issuer.services import Services

router = APIRouter(tags=["discovery"])

MEDIA_TYPE = "application/jwt"  # RFC 7519 §10.3.1


def _build(services: Services, now) -> SignedRevocationList:
    with services.sessions() as session:
        signer = services.signer(session, now)
        return revocation_list(session, signer, services.settings.url, now)


def _signed_list(services: Services) -> str:
    return services.revocation_list.get(lambda now: _build(services, now)).token


@router.get(
    "/.well-known/revocations.jwt",
    summary="Signed list of revoked tokens and clients",
    response_class=Response,
    responses={
        200: {
            "description": "a JWS (typ revocation-list+jwt) signed with the active token key",
            "content": {MEDIA_TYPE: {
                "schema": {"type": "string"},
                "example": "eyJhbGciOiJFUzI1NiIsInR5cCI6InJldm9jYXRpb24tbGlzdCtqd3QifQ.eyJpc3Mi...",
            }},
        },
        **unavailable(),
    },
)
async def revocations(services: ServicesDep) -> Response:
    token = await run_in_threadpool(_signed_list, services)
    # Short max-age: every cache in between adds to the time a revoked token still passes.
    headers = {"Cache-Control": f"public, max-age={LIST_MAX_AGE}"}
    return Response(token, media_type=MEDIA_TYPE, headers=headers)
