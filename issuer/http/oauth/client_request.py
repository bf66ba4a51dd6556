"""Running an endpoint for an authenticated client (introspection, revocation): the same
client authentication as the token endpoint (RFC 7662 §2.1, RFC 7009 §2.1), and the same
brute-force brake, since each is one more place to guess a secret.

`authentication_failed` is what every failed client authentication goes through, here and
at the token endpoint: counted and logged, or past the limit refused with 429 uncounted
and unlogged (issuer/oauth/throttle.py). A request that authenticates never meets the
throttle."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import NoReturn, TypeVar

from fastapi import Request
from sqlalchemy.orm import Session

from issuer.clients.cache import ClientRecord
from issuer.http.access_log import THROTTLED
from issuer.http.client_address import client_address
from issuer.http.client_cert import client_certificate
from issuer.http.concurrency import run_blocking
from issuer.http.oauth.form import read_form
from issuer.logs import log_event
from issuer.oauth.client_auth import TokenRequest, claimed_client_id
from issuer.oauth.errors import InvalidClient
from issuer.oauth.throttle import TooManyFailures, throttle_keys
from issuer.services import Services
from issuer.store.tables import CLIENT_ID_LENGTH

log = logging.getLogger("issuer.oauth")

T = TypeVar("T")
Work = Callable[[Services, Session, ClientRecord, Mapping[str, str]], T]


def _count_failure(
    services: Services, request: Request, token_request: TokenRequest, failed: InvalidClient
) -> None:
    claimed = claimed_client_id(token_request)
    if claimed and services.activity is not None:  # kept only for an id that is a client's
        services.activity.failed(claimed[:CLIENT_ID_LENGTH])
    address = client_address(request.scope, services.settings.trusted_proxies)
    services.throttle.record_failure(throttle_keys(address, claimed))  # 429 past the limit
    presented = [m.name for m in services.authenticator.methods if m.present(token_request)]
    log_event(
        log,
        "client_authentication_failed",
        logging.WARNING,
        client_id=claimed[:CLIENT_ID_LENGTH] if claimed else None,
        method=presented[0] if len(presented) == 1 else None,
        reason=failed.debug,
    )


async def authentication_failed(
    request: Request, services: Services, token_request: TokenRequest, failed: InvalidClient
) -> NoReturn:
    """Count and log a failed client authentication, then raise it; or, when its keys are
    past the limit, raise `TooManyFailures` (429) having written nothing (the access log
    leaves that request out too: the throttle logged once that the brake engaged)."""
    try:
        await run_blocking(request.scope, _count_failure, services, request, token_request, failed)
    except TooManyFailures:
        request.scope[THROTTLED] = True
        raise
    raise failed


def _run(services: Services, token_request: TokenRequest, work: Work[T]) -> T:
    with services.sessions() as session:
        client = services.authenticator.authenticate(token_request, session).client
        return work(services, session, client, token_request.form)


async def run_for_client(request: Request, services: Services, work: Work[T]) -> T:
    """Read the form, authenticate the client, then `work(services, session, client,
    form)` off the event loop (database and crypto are blocking)."""
    form = await read_form(request)
    token_request = TokenRequest(
        form=form,
        authorization=request.headers.get("authorization"),
        # mTLS clients (RFC 8705 §2) authenticate here with their certificate too.
        client_cert=client_certificate(request.scope, services.settings),
    )
    try:
        return await run_blocking(request.scope, _run, services, token_request, work)
    except InvalidClient as failed:
        await authentication_failed(request, services, token_request, failed)
