"""`POST /oauth2/token`: the client credentials grant (RFC 6749 §4.4, §5.1), with
sender-constrained tokens: certificate-bound (RFC 8705 §3) for clients registered
`token_binding: mtls`, DPoP-bound (RFC 9449 §5) when a `DPoP` proof comes with the
request (required for clients registered `dpop`); `issuer/oauth/dpop.py` `binding_for`
has the rules."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.responses import Response

from issuer.http.access_log import LOGGED
from issuer.http.client_cert import client_certificate
from issuer.http.concurrency import run_blocking, single_request_runtime
from issuer.http.oauth.client_request import authentication_failed
from issuer.http.oauth.form import read_form
from issuer.http.openapi import TOKEN_EXAMPLE, TOKEN_FORM, oauth_errors, ok
from issuer.logs import log_event
from issuer.oauth.access_token import mint_access_token
from issuer.oauth.client_auth import TokenRequest, claimed_client_id, presents_assertion
from issuer.oauth.dpop import TokenEndpointDpop, binding_for
from issuer.oauth.errors import NO_STORE, InvalidClient
from issuer.oauth.federated import federated_act, federated_log_fields
from issuer.oauth.grant import check_grant_type, grant_client_credentials
from issuer.oauth.scopes import join_scopes
from issuer.services import Services


class LeanRoute(APIRoute):
    """An endpoint that takes the bare `Request` and returns a `Response`, served without
    FastAPI's per-request dependency solving and response serialization (~60 us of the
    token request in pyinstrument). Everything else stays: the OpenAPI operation (built
    from the route's declaration), the app's middleware and exception handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


router = APIRouter(tags=["oauth2"], route_class=LeanRoute)
log = logging.getLogger("issuer.tokens")


class _SessionOnDemand:
    """A Session made on first use: a token answered from the caches never makes one
    (making and closing a Session costs ~50 us)."""

    def __init__(self, factory: Callable[[], Session]) -> None:
        self._factory = factory
        self._session: Session | None = None

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = self._factory()
        return getattr(self._session, name)

    def __enter__(self) -> Session:
        return self  # type: ignore[return-value]  # stands in for the Session

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:
            self._session.close()


def _dpop(services: Services) -> TokenEndpointDpop:
    dpop = services.dpop
    if dpop is None:  # services built without one: the settings' defaults, no nonce
        settings = services.settings
        dpop = TokenEndpointDpop(settings.token_endpoint, settings.dpop_max_age)
    return dpop


_UNBOUND: dict[str, Any] = {}


def _binding_fields(cnf: dict[str, str] | None) -> dict[str, Any]:
    """`cnf`: the binding's kind (x5t#S256 or jkt) on a bound token's line; nothing on
    a bearer token's line."""
    return {"cnf": next(iter(cnf))} if cnf else _UNBOUND


def _issue(services: Services, request: TokenRequest, dpop_proofs: tuple[str, ...] = ()) -> dict:
    settings = services.settings
    check_grant_type(request.form)
    now = services.clock()
    # The database is used only if a cache misses: with the client record
    # (services.clients) and the active signer (KeyStore.cached_signer) in memory, a token
    # costs no database round trip (a DPoP proof's jti is always written: replay check).
    with _SessionOnDemand(services.sessions) as session:
        authenticated = services.authenticator.authenticate(request, session)
        client = authenticated.client
        binding = binding_for(client, dpop_proofs, request.client_cert, _dpop(services), now)
        grant = grant_client_credentials(
            request.form, client, services.policy, settings.url, settings.token_lifetime
        )
        if binding.proof is not None:
            _dpop(services).spend(session, binding.proof, now)  # committed: spent once
        # Also makes due key transitions (next -> active after its publication lead).
        signer = services.signer(session, now)
    scope = join_scopes(grant.scopes)
    token = mint_access_token(
        signer,
        issuer=settings.url,
        client_id=client.client_id,
        audience=grant.audience,
        scope=scope,
        lifetime=grant.lifetime,
        now=math.floor(now.timestamp()),  # never ahead (RFC 7519 §4.1.6)
        # The client's revocation generation, from the record it was authenticated with
        # (issuer/oauth/revocation.py): a record read before a revocation mints revoked tokens.
        generation=client.generation,
        act=federated_act(client),  # RFC 8693 §4.1, federated clients only
        cnf=binding.cnf,
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
        **federated_log_fields(client),
        exp=token.exp,
        **_binding_fields(binding.cnf),
    )
    if services.metrics is not None:
        services.metrics.issued(client.client_id)
    if services.activity is not None:  # in memory; written in batches (clients/activity.py)
        services.activity.issued(client.client_id)
    return {
        "access_token": token.token,
        "token_type": binding.token_type,
        "expires_in": grant.lifetime,
        "scope": scope,
    }


def _answerable_from_memory(
    services: Services,
    token_request: TokenRequest,
    claimed: str | None,
    dpop_proofs: tuple[str, ...] = (),
) -> bool:
    """True when the whole request can be answered without database work: a secret
    method (private_key_jwt records its assertion's jti), the client's record cached and a
    cached signer (the throttle has no say before authentication: only failures meet it).
    A cache expiring in between costs one database read on the loop, every few seconds at
    most.

    Signing then runs on the loop too, RSA included (~0.8 ms): what the ceiling app does.
    Handing RS256 to the thread pool instead (a hop of ~100 us plus a GIL handoff per
    request) measured worse, in throughput and tail alike (docs/benchmarks.md)."""
    if presents_assertion(token_request) or not claimed:
        return False
    if dpop_proofs:
        return False  # the proof's jti is written to the replay store
    return (
        services.key_store.cached_signer(services.clock()) is not None
        and services.clients.cached(claimed)
    )


_TOKEN_HEADERS = [
    (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in NO_STORE.items()
] + [(b"content-type", b"application/json")]


# JSONResponse's encoding, with the encoder made once (json.dumps makes one per call).
_encode_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


class _TokenResponse(Response):
    """The 200 answer: what `JSONResponse(body, headers=NO_STORE)` sends (same compact
    JSON, same headers), with the static headers encoded once."""

    def __init__(self, body: dict, dpop_nonce: str | None = None) -> None:
        self.status_code = 200
        self.background = None
        self.body = _encode_json(body).encode("utf-8")
        self.raw_headers = [(b"content-length", str(len(self.body)).encode()), *_TOKEN_HEADERS]
        if dpop_nonce is not None:  # RFC 9449 §8.2: the nonce for the client's next proof
            self.raw_headers.append((b"dpop-nonce", dpop_nonce.encode("ascii")))


@router.post(
    "/oauth2/token",
    summary="Client credentials grant (RFC 6749 §4.4)",
    # The form is read by read_form, not FastAPI: described here for the document only.
    openapi_extra=TOKEN_FORM,
    response_model=None,
    responses={
        **ok("TokenResponse", "an access token (RFC 6749 §5.1)", TOKEN_EXAMPLE),
        **oauth_errors(400, 401, 429, 503),
    },
)
async def token(request: Request) -> Response:
    services: Services = request.app.state.services  # no dependency: ~40 us less per request
    form = await read_form(request)
    headers = request.headers
    token_request = TokenRequest(
        form=form,
        authorization=headers.get("authorization"),
        client_cert=client_certificate(request.scope, services.settings),
    )
    dpop_proofs = tuple(headers.getlist("dpop"))
    claimed = claimed_client_id(token_request)
    try:
        if single_request_runtime(request.scope) or _answerable_from_memory(
            services, token_request, claimed, dpop_proofs
        ):
            body = _issue(services, token_request, dpop_proofs)
        else:
            # Database work blocks: off the event loop, in one hop for all of it.
            body = await run_blocking(
                request.scope, _issue, services, token_request, dpop_proofs
            )
    except InvalidClient as failed:
        if services.metrics is not None:
            services.metrics.refused()  # under (unknown): the id it named is anyone's
        # Only a failure meets the brute-force brake: correct credentials never wait on
        # failures someone else caused (issuer/oauth/throttle.py).
        await authentication_failed(request, services, token_request, failed)
    request.scope[LOGGED] = True  # token_issued is this request's line (access_log.py)
    nonce = _dpop(services).fresh_nonce(services.clock()) if dpop_proofs else None
    return _TokenResponse(body, nonce)
