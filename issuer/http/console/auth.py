"""Signing in and out of the console, and who is signed in.

- `POST /console/sign-in`: an admin client's id and secret, through the token endpoint's
  own path (`issuer/http/oauth/token.py` `_issue`: client authentication, grant with the
  `issuer:admin` scope, signing, the `token_issued` line), and a failure through its
  brute-force brake (`authentication_failed`: counted, 429 past the limit).
- `GET/POST /console/link`: a one-time link from `issuer console link`; the GET only
  shows a button (a link preview or a scanner that fetches the URL spends nothing), the
  POST redeems the code (`issuer/clients/console_links.py`) and mints the client's admin
  token as the grant would.
- `POST /console/sign-out`: revokes the session's token (`revoke_token`, the function
  behind RFC 7009's endpoint) and clears the cookie.
- `signed_in(request)`: the admin behind the session cookie, verified on every request
  by the admin API's guard (`authenticate_admin`), the actor of every change being the
  admin client with source `console`.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from issuer.audit import Actor
from issuer.clients.cache import load_client_record
from issuer.clients.console_links import redeem
from issuer.clients.registry import has_control_character
from issuer.http.admin.errors import InsufficientScope, InvalidToken, MissingToken
from issuer.http.admin.guard import authenticate_admin
from issuer.http.console.csrf import Forbidden, check_origin, check_token, sign_in_token
from issuer.http.console.render import page, redirect
from issuer.http.console.session import (
    PRE_COOKIE_SECONDS,
    ConsoleSession,
    CookiePolicy,
    Sealer,
    cookie_header,
    cookie_policy,
    new_session,
    sealer_for,
)
from issuer.http.oauth.client_request import authentication_failed
from issuer.logs import log_event
from issuer.oauth.access_token import mint_access_token
from issuer.oauth.client_auth import TokenRequest
from issuer.oauth.errors import InvalidClient, OAuthError
from issuer.oauth.grant import grant_client_credentials
from issuer.oauth.own_tokens import verify_own_token
from issuer.oauth.revocation import revoke_token, token_generation
from issuer.oauth.scopes import join_scopes
from issuer.oauth.throttle import TooManyFailures
from issuer.services import Services
from shared.scope import ADMIN_SCOPE

SOURCE = "console"  # the audit records' source for every change made here
MAX_FIELD = 500  # a client id or secret longer than this is not one: refused unread
log = logging.getLogger("issuer.console")


class SignInRequired(Exception):
    """No session, or one whose token the guard refuses: back to the sign-in page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ConsoleState:
    """Per app: cookie names and flags, and the sealer (made on first use)."""

    cookies: CookiePolicy
    sealers: dict[int, Sealer]

    def sealer(self, services: Services) -> Sealer:
        return sealer_for(services, self.sealers)


@dataclass(frozen=True)
class SignedIn:
    actor: Actor  # the admin client, source `console`
    session: ConsoleSession

    @property
    def csrf(self) -> str:
        return self.session.csrf


class ConsoleRoute(APIRoute):
    """A console route: no session is a redirect to the sign-in page (a GET) or a 401
    page, a request refused by `csrf.py` a 403 page; the answer is always a page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return _signed_out(request)
            except Forbidden as exc:
                log_event(log, "console_request_refused", logging.WARNING, reason=exc.reason)
                return page("error.html", status=403, signed_in=None, title="Refused",
                            message="This request was refused: it did not come from a "
                                    "console page of this issuer. Reload the page and try "
                                    "again.")

        return guarded


router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


def services_of(request: Request) -> Services:
    return request.app.state.services


def state_of(request: Request) -> ConsoleState:
    state = getattr(request.app.state, "console", None)
    if state is None:  # one per app, made on its first console request
        state = request.app.state.console = ConsoleState(
            cookies=cookie_policy(services_of(request).settings), sealers={})
    return state


def signed_in(request: Request) -> SignedIn:
    """Blocking (a database read): call from a thread (`def` routes run in one)."""
    services = services_of(request)
    state = state_of(request)
    session = state.sealer(services).open(request.cookies.get(state.cookies.session_name))
    if session is None:
        raise SignInRequired("no_session")
    try:
        actor = authenticate_admin(services, "Bearer " + session.token, SOURCE)
    except (InvalidToken, MissingToken, InsufficientScope) as exc:
        raise SignInRequired(exc.debug or "refused") from None
    return SignedIn(actor=actor, session=session)


async def checked_post(request: Request) -> tuple[SignedIn, Any]:
    """Origin, then the session, then the CSRF token: (who, the form)."""
    check_origin(request, services_of(request).settings)
    who = await run_in_threadpool(signed_in, request)
    form = await request.form()
    check_token(form.get("csrf"), who.csrf)
    return who, form


def query_text(value: str | None, limit: int) -> str:
    """A search or filter term: trimmed, at most `limit` characters, control characters
    dropped (no name, id or action stored holds one: has_control_character; PostgreSQL
    would refuse a NUL, a 503 for a page)."""
    return "".join(ch for ch in value or "" if not has_control_character(ch)).strip()[:limit]


def _pre_nonce(request: Request) -> tuple[str, str | None]:
    """The sign-in forms' nonce: the pre-session cookie's, or a new one (and its cookie)."""
    state = state_of(request)
    nonce = request.cookies.get(state.cookies.pre_name)
    if nonce and 16 <= len(nonce) <= 64 and nonce.isascii() and nonce.replace("-", "").replace(
        "_", ""
    ).isalnum():
        return nonce, None
    nonce = secrets.token_urlsafe(24)
    return nonce, cookie_header(state.cookies, state.cookies.pre_name, nonce, PRE_COOKIE_SECONDS)


def _sign_in_page(request: Request, template: str, status: int = 200,
                  headers: dict[str, str] | None = None, **context: Any) -> Response:
    services = services_of(request)
    nonce, cookie = _pre_nonce(request)
    token = sign_in_token(state_of(request).sealer(services).csrf_key, nonce)
    response = page(template, status=status, headers=headers, csrf=token, signed_in=None,
                    **context)
    if cookie:
        response.headers.append("set-cookie", cookie)
    return response


async def _check_sign_in_post(request: Request) -> Any:
    services = services_of(request)
    check_origin(request, services.settings)
    state = state_of(request)
    nonce = request.cookies.get(state.cookies.pre_name)
    form = await request.form()
    if not nonce:
        raise Forbidden("csrf_missing")
    sealer = await run_in_threadpool(state.sealer, services)
    check_token(form.get("csrf"), sign_in_token(sealer.csrf_key, nonce))
    return form


def _start_session(request: Request, token: str, expires_in: int) -> Response:
    services = services_of(request)
    state = state_of(request)
    cookies = state.cookies
    value = state.sealer(services).seal(new_session(token))
    response = redirect("/console/clients")
    # The session ends when its token does: Max-Age is the token's remaining lifetime.
    response.headers.append("set-cookie", cookie_header(cookies, cookies.session_name, value,
                                                        expires_in))
    response.headers.append("set-cookie", cookie_header(cookies, cookies.pre_name, "", 0))
    return response


@router.get("")
def home(request: Request) -> Response:
    try:
        signed_in(request)
    except SignInRequired:
        return redirect("/console/sign-in")
    return redirect("/console/clients")


@router.get("/sign-in")
def sign_in_form(request: Request) -> Response:
    try:
        signed_in(request)
        return redirect("/console/clients")
    except SignInRequired:
        pass
    ended = request.query_params.get("ended") == "1"
    return _sign_in_page(request, "sign_in.html", ended=ended)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await _check_sign_in_post(request)
    services = services_of(request)
    client_id = str(form.get("client_id") or "").strip()
    secret = str(form.get("client_secret") or "")
    if not client_id or not secret or len(client_id) > MAX_FIELD or len(secret) > MAX_FIELD:
        return _sign_in_page(request, "sign_in.html", status=400, client_id=client_id[:MAX_FIELD],
                             error="Enter the admin client's id and secret.")
    # The token endpoint's own request: client_secret_post, the issuer:admin scope.
    token_request = TokenRequest(
        form={"grant_type": "client_credentials", "scope": ADMIN_SCOPE,
              "client_id": client_id, "client_secret": secret},
        authorization=None,
    )
    from issuer.http.oauth.token import _issue  # the token endpoint's path, not a copy

    try:
        try:
            body = await run_in_threadpool(_issue, services, token_request)
        except InvalidClient as failed:
            await authentication_failed(request, services, token_request, failed)
    except InvalidClient:
        return _sign_in_page(request, "sign_in.html", status=401, client_id=client_id,
                             error="That client id and secret do not match an enabled client.")
    except TooManyFailures as exc:
        return _sign_in_page(request, "sign_in.html", status=429, client_id=client_id,
                             headers={"Retry-After": str(exc.retry_after)},
                             error=f"Too many failed attempts: try again in {exc.retry_after} "
                                   "seconds.")
    except OAuthError:
        return _sign_in_page(request, "sign_in.html", status=403, client_id=client_id,
                             error=f"This client may not administer the issuer (it does not "
                                   f"hold {ADMIN_SCOPE}).")
    log_event(log, "console_signed_in", client_id=client_id, method="client_secret")
    return _start_session(request, body["access_token"], int(body["expires_in"]))


@router.get("/link")
def link_form(request: Request) -> Response:
    code = request.query_params.get("code", "")
    return _sign_in_page(request, "link.html", code=code[:200])


def _mint_for_link(services: Services, code: str) -> tuple[str, int] | None:
    """Redeem the code and mint the client's admin token as the grant would; None when
    the code is unknown, used or expired, or its client no longer an enabled admin."""
    settings = services.settings
    now = services.clock()
    with services.sessions() as session:
        client_id = redeem(session, code, now)
        if client_id is None:
            return None
        client = load_client_record(session, client_id)
        if client is None or not client.enabled or ADMIN_SCOPE not in client.scopes:
            return None
        try:
            grant = grant_client_credentials(
                {"grant_type": "client_credentials", "scope": ADMIN_SCOPE}, client,
                services.policy, settings.url, settings.token_lifetime,
            )
        except OAuthError:
            return None
        signer = services.signer(session, now)
    scope = join_scopes(grant.scopes)
    token = mint_access_token(
        signer, issuer=settings.url, client_id=client.client_id, audience=grant.audience,
        scope=scope, lifetime=grant.lifetime, now=math.floor(now.timestamp()),
        generation=client.generation,
    )
    log_event(logging.getLogger("issuer.tokens"), "token_issued", client_id=client.client_id,
              scope=scope, aud=grant.audience, jti=token.jti, kid=signer.kid,
              auth_method="console_link", exp=token.exp)
    return token.token, grant.lifetime


@router.post("/link")
async def link_sign_in(request: Request) -> Response:
    form = await _check_sign_in_post(request)
    code = str(form.get("code") or "")
    minted = await run_in_threadpool(_mint_for_link, services_of(request), code)
    if minted is None:
        return _sign_in_page(request, "link.html", status=400, code="",
                             error="This sign-in link is unknown, already used or expired. "
                                   "Ask for a new one (issuer console link).")
    token, lifetime = minted
    return _start_session(request, token, lifetime)


def _revoke_session_token(services: Services, token: str) -> None:
    """Sign-out: the session's token revoked as RFC 7009's endpoint revokes one."""
    now = services.clock()
    with services.sessions() as session:
        verified = verify_own_token(services, session, token, now)
        if verified is None or verified.jti is None:
            return  # expired or otherwise dead already
        revoke_token(session, jti=verified.jti, client_id=verified.client_id, exp=verified.exp,
                     generation=token_generation(verified.claims), now=now,
                     stale_for=services.settings.client_cache_ttl)
    log_event(log, "console_signed_out", client_id=verified.client_id, jti=verified.jti)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    who, _ = await checked_post(request)
    await run_in_threadpool(_revoke_session_token, services_of(request), who.session.token)
    return _ended(request)


def _ended(request: Request) -> Response:
    cookies = state_of(request).cookies
    response = redirect("/console/sign-in?ended=1")
    response.headers.append("set-cookie", cookie_header(cookies, cookies.session_name, "", 0))
    return response


def _signed_out(request: Request) -> Response:
    if request.method == "GET":
        return _ended(request)  # the cookie (if any) is dead: cleared
    response = page("error.html", status=401, signed_in=None,
                    title="Signed out", message="Your session has ended: sign in again.")
    cookies = state_of(request).cookies
    response.headers.append("set-cookie", cookie_header(cookies, cookies.session_name, "", 0))
    return response
