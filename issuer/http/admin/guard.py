"""Who may call `/admin`: bearer access tokens of this issuer (RFC 6750 §2.1) with the
built-in `issuer:admin` scope and the issuer's own URL as audience.

Tokens are verified by the authorizer's code (`shared.verify.AccessTokenVerifier`) over
this issuer's published keys (`KeyStore.public_keys`, loaded once per process and
reloaded within the verifier cache TTL or on a rotation here). The guard then asks the
revocation records (`revocation.is_revoked`: by `jti`, RFC 7009, or by the client's
generation after a disable, delete or no-grace secret rotation), read from the database
on each admin request so that a revocation made by any process counts at once, and looks
the client up: a token outlives a disabled, deleted or demoted admin client by up to its
lifetime, and admin power should not.

`AdminRoute` authenticates before FastAPI reads the body, so a caller without a valid
token learns nothing from body validation (no token is 401, whatever the body:
docs/threat-model.md §3).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from issuer.audit import Actor
from issuer.clients.registry import get_client
from issuer.http.admin.errors import InsufficientScope, InvalidToken, MissingToken
from issuer.http.client_address import client_address
from issuer.oauth.revocation import is_revoked, token_generation
from issuer.services import Services
from shared.bearer import BearerRefused
from shared.bearer import bearer_token as parse_bearer
from shared.claims import AccessTokenRules
from shared.errors import TokenError
from shared.scope import ADMIN_SCOPE
from shared.verify import AccessTokenVerifier


def bearer_token(authorization: object) -> str:
    """The token of `Authorization: Bearer <token>` by the rule the authorizer applies
    (`shared.bearer`, RFC 6750 §2.1). None or empty: `MissingToken` (RFC 6750 §3.1: the
    client did not try); anything else refused: `InvalidToken`, debug = the reason code."""
    try:
        return parse_bearer(authorization)
    except BearerRefused as exc:
        if exc.code == "no_token":
            raise MissingToken(debug="no_token") from None
        raise InvalidToken(debug=exc.code) from None


def authenticate_admin(services: Services, authorization: str | None, source: str | None) -> Actor:
    token = bearer_token(authorization)
    url = services.settings.url
    now = services.clock()
    with services.sessions() as session:
        keys = services.key_store.public_keys(session, now)
        rules = AccessTokenRules(issuer=url, audiences=frozenset({url}))
        verifier = AccessTokenVerifier(rules, keys.get)
        try:
            verified = verifier.verify(token, now.timestamp())
        except TokenError as exc:
            raise InvalidToken(f"access token refused: {exc.code}", debug=exc.code) from None
        if ADMIN_SCOPE not in verified.scopes:
            raise InsufficientScope(debug="token_without_admin_scope")
        generation = token_generation(verified.claims)
        if is_revoked(
            session, jti=verified.jti, client_id=verified.client_id, generation=generation, now=now
        ):
            raise InvalidToken("the access token has been revoked", debug="revoked")
        client = get_client(session, verified.client_id)
        if client is None or not client.enabled:
            raise InvalidToken("the token's client is disabled or deleted", debug="client_gone")
        if ADMIN_SCOPE not in client.scopes:
            raise InsufficientScope(debug="client_lost_admin_scope")
    return Actor(id=verified.client_id, source=source)


class AdminRoute(APIRoute):
    """A route that authenticates the admin before anything else of the request is read;
    the admin is left on `request.state.admin` for `AdminDep`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            services = request.app.state.services
            # Who made an admin change: the peer, or what a named proxy says it is.
            source = client_address(request.scope, services.settings.trusted_proxies)
            request.state.admin = await run_in_threadpool(
                authenticate_admin,
                services,
                request.headers.get("authorization"),
                source,
            )
            return await handler(request)

        return guarded


def current_admin(request: Request) -> Actor:
    return request.state.admin


AdminDep = Annotated[Actor, Depends(current_admin)]
