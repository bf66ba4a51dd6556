"""Running an endpoint for an authenticated client (introspection, revocation): the same
client authentication as the token endpoint (RFC 7662 §2.1, RFC 7009 §2.1), and the same
brute-force brake, since each is one more place to guess a secret (ATTACKS.md 15)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ..models import Client
from ..oauth.client_auth import TokenRequest, claimed_client_id
from ..oauth.errors import InvalidClient
from ..oauth.form import read_form
from ..oauth.throttle import throttle_keys
from ..services import Services

T = TypeVar("T")
# The form these endpoints take (OpenAPI; the body is read by `read_form`, not FastAPI).
TOKEN_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        "token": {"type": "string"},
                        "token_type_hint": {"type": "string"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                        "client_assertion_type": {"type": "string"},
                        "client_assertion": {"type": "string"},
                    },
                }
            }
        },
    }
}

Work = Callable[[Services, Session, Client, Mapping[str, str]], T]


def _run(services: Services, token_request: TokenRequest, keys: list[str], work: Work[T]) -> T:
    services.throttle.check(keys)  # before authentication: a blocked key learns nothing
    with services.sessions() as session:
        client = services.authenticator.authenticate(token_request, session).client
        return work(services, session, client, token_request.form)


async def run_for_client(request: Request, services: Services, work: Work[T]) -> T:
    """Read the form, authenticate the client, then `work(services, session, client,
    form)` off the event loop (database and crypto are blocking)."""
    form = await read_form(request)
    token_request = TokenRequest(form=form, authorization=request.headers.get("authorization"))
    # The token endpoint's keys: a guess here spends the same budget.
    keys = throttle_keys(request.client.host if request.client else None,
                         claimed_client_id(token_request))
    try:
        return await run_in_threadpool(_run, services, token_request, keys, work)
    except InvalidClient:
        await run_in_threadpool(services.throttle.record_failure, keys)
        raise
