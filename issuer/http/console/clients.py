"""Console pages for clients: list with search and paging, create (the secret shown
once), show with recent activity, edit, enable/disable, rotate the secret, delete.

Every change calls the admin API's function (`issuer/clients/admin.py`: `register`,
`update`, `rotate_secret`, `delete`) with the signed-in admin client as actor and
`console` as source, so the same rules apply and the same audit records are written.
A secret is rendered once, in the answer to the POST that made it (`Cache-Control:
no-store`), never put in a URL, a cookie or a log line."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from issuer.clients import admin as client_admin
from issuer.clients.activity import activity_of
from issuer.clients.registry import (
    CLIENT_SECRET,
    PRIVATE_KEY_JWT,
    ClientError,
    client_view,
    client_views,
    could_be_client_id,
    get_client,
)
from issuer.clients.search import search_clients
from issuer.http.console.auth import (
    ConsoleRoute,
    SignedIn,
    checked_post,
    query_text,
    services_of,
    signed_in,
)
from issuer.http.console.render import page, redirect
from issuer.oauth.token_lifetime import MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME
from issuer.services import Services
from issuer.settings import MAX_SECRET_ROTATION_GRACE
from issuer.store.paging import decode_time_key_cursor, next_cursor
from issuer.store.tables import CLIENT_ID_LENGTH, CLIENT_NAME_LENGTH
from shared.jws import strict_json
from shared.scope import ADMIN_SCOPE

router = APIRouter(prefix="/console/clients", include_in_schema=False, route_class=ConsoleRoute)
PAGE_SIZE = 20
AUTH_METHODS = (CLIENT_SECRET, PRIVATE_KEY_JWT)
MAX_JWKS_CHARS = 32_000
DONE = {  # the messages a redirect may ask for (never text from the request)
    "updated": "Client updated.",
    "enabled": "Client enabled.",
    "disabled": "Client disabled: its tokens are revoked.",
    "deleted": "Client deleted: its tokens are revoked.",
    "unchanged": "Nothing changed.",
}


def scope_choices(services: Services) -> list[dict[str, Any]]:
    """The policy's scopes by API, then the built-in admin scope."""
    groups = [
        {"api": api.name, "audience": api.audience,
         "scopes": [{"name": s, "description": d} for s, d in api.scopes.items()]}
        for api in services.policy.apis.values()
    ]
    groups.append({"api": "this issuer", "audience": services.settings.url,
                   "scopes": [{"name": ADMIN_SCOPE,
                               "description": "Administer the issuer (admin API, console)"}]})
    return groups


def _form_context(services: Services, who: SignedIn, **extra: Any) -> dict[str, Any]:
    return {
        "signed_in": who, "csrf": who.csrf, "groups": scope_choices(services),
        "min_lifetime": MIN_TOKEN_LIFETIME, "max_lifetime": MAX_TOKEN_LIFETIME,
        "default_lifetime": services.settings.token_lifetime, "auth_methods": AUTH_METHODS,
        "max_name": CLIENT_NAME_LENGTH, **extra,
    }


class FormError(ValueError):
    pass


def _lifetime(raw: object) -> int | None:
    text = str(raw or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 6:
        raise FormError(f"Token lifetime must be a whole number of seconds "
                        f"({MIN_TOKEN_LIFETIME} to {MAX_TOKEN_LIFETIME}).")
    return int(text)


def _jwks(raw: object) -> dict[str, Any] | None:
    text = str(raw or "").strip()
    if not text:
        return None
    if len(text) > MAX_JWKS_CHARS:
        raise FormError("The public keys are too long.")
    try:
        # As strict as the CLI's --jwks-file (duplicate members, NaN refused): what is
        # registered is what the admin pasted.
        value = strict_json(text)
    except ValueError:
        raise FormError("The public keys must be a JSON JWK Set ({\"keys\": [...]}).") from None
    if not isinstance(value, dict):
        raise FormError("The public keys must be a JSON JWK Set ({\"keys\": [...]}).")
    return value


def _fields(form: Any) -> dict[str, Any]:
    name = str(form.get("name") or "").strip()
    if not name:
        raise FormError("Give the client a name.")
    scopes = [str(s) for s in form.getlist("scopes")]
    if not scopes:
        raise FormError("Choose at least one scope.")
    return {
        "name": name[:CLIENT_NAME_LENGTH + 1],
        "scopes": scopes,
        "audiences": [str(a) for a in form.getlist("audiences")],
        "token_lifetime": _lifetime(form.get("token_lifetime")),
    }


@router.get("")
def list_clients(request: Request) -> Response:
    who = signed_in(request)
    services = services_of(request)
    query = query_text(request.query_params.get("q"), CLIENT_NAME_LENGTH)
    cursor = request.query_params.get("cursor")
    after = None
    if cursor:
        try:
            after = decode_time_key_cursor(cursor, could_be_client_id)
        except ValueError:
            after = None  # a cursor we did not write: the first page
    with services.sessions() as session:
        rows = search_clients(session, query, PAGE_SIZE, after)
        views = client_views(rows)
    done = DONE.get(request.query_params.get("done", ""))
    return page("clients.html", signed_in=who, csrf=who.csrf, clients=views, q=query,
                next_cursor=next_cursor(rows, PAGE_SIZE, client_admin.client_position),
                first=cursor is not None, done=done)


@router.get("/new")
def new_client_form(request: Request) -> Response:
    who = signed_in(request)
    services = services_of(request)
    return page("client_new.html", **_form_context(services, who, values={
        "scopes": [], "audiences": [], "auth_method": CLIENT_SECRET}))


def _register(services: Services, who: SignedIn, fields: dict[str, Any]) -> dict[str, Any]:
    with services.sessions() as session:
        new = client_admin.register(session, services.hasher, services.policy, who.actor,
                                    services.clock(), **fields)
        return new.view()


@router.post("/new")
async def create(request: Request) -> Response:
    who, form = await checked_post(request)
    services = services_of(request)
    values = {
        "name": str(form.get("name") or ""), "scopes": form.getlist("scopes"),
        "audiences": form.getlist("audiences"),
        "token_lifetime": str(form.get("token_lifetime") or ""),
        "auth_method": str(form.get("auth_method") or CLIENT_SECRET),
        "jwks": str(form.get("jwks") or "")[:MAX_JWKS_CHARS],
    }
    try:
        fields = _fields(form)
        method = values["auth_method"]
        if method not in AUTH_METHODS:
            raise FormError("Choose an authentication method.")
        fields["auth_method"] = method
        fields["jwks"] = _jwks(form.get("jwks")) if method == PRIVATE_KEY_JWT else None
        if method == PRIVATE_KEY_JWT and fields["jwks"] is None:
            raise FormError("A private_key_jwt client needs its public keys (a JWK Set).")
        view = await run_in_threadpool(_register, services, who, fields)
    except (FormError, ClientError) as exc:
        return page("client_new.html", status=422, **_form_context(
            services, who, values=values, error=str(exc)))
    return page("secret.html", status=201, signed_in=who, csrf=who.csrf, client=view,
                secret=view.pop("client_secret", None), created=True)


def _view_or_none(services: Services, client_id: str) -> dict[str, Any] | None:
    # Viewed while its session is open: a federated client's identities are a query.
    with services.sessions() as session:
        client = get_client(session, client_id[:CLIENT_ID_LENGTH])
        return client_view(client) if client is not None else None


def _not_found(who: SignedIn, client_id: str) -> Response:
    return page("error.html", status=404, signed_in=who, csrf=who.csrf, title="No such client",
                message=f"There is no client {client_id[:CLIENT_ID_LENGTH]!r}.")


@router.get("/{client_id}")
def show(request: Request, client_id: str) -> Response:
    who = signed_in(request)
    services = services_of(request)
    if services.activity is not None:
        services.activity.flush()  # this process's counts first: the page is current here
    with services.sessions() as session:
        client = get_client(session, client_id[:CLIENT_ID_LENGTH])
        if client is None:
            return _not_found(who, client_id)
        view = client_view(client)
        activity = activity_of(session, client.client_id, services.clock())
    done = DONE.get(request.query_params.get("done", ""))
    jwks_text = json.dumps(view["jwks"], indent=2) if "jwks" in view else ""
    return page("client.html", **_form_context(
        services, who, client=view, activity=activity, done=done, jwks_text=jwks_text,
        default_grace=services.settings.secret_rotation_grace,
        max_grace=MAX_SECRET_ROTATION_GRACE))


def _update(services: Services, who: SignedIn, client_id: str, fields: dict[str, Any]) -> str:
    with services.sessions() as session:
        client = get_client(session, client_id[:CLIENT_ID_LENGTH])
        if client is None:
            return "missing"
        before = client_view(client)
        updated = client_admin.update(session, services.policy, client, fields, who.actor,
                                      services.clock(),
                                      stale_for=services.settings.client_cache_ttl)
        return "changed" if client_view(updated) != before else "unchanged"


@router.post("/{client_id}/edit")
async def edit(request: Request, client_id: str) -> Response:
    who, form = await checked_post(request)
    services = services_of(request)
    try:
        fields = _fields(form)
        if "jwks" in form and str(form.get("jwks") or "").strip():
            fields["jwks"] = _jwks(form.get("jwks"))
        outcome = await run_in_threadpool(_update, services, who, client_id, fields)
    except (FormError, ClientError) as exc:
        view = await run_in_threadpool(_view_or_none, services, client_id)
        if view is None:
            return _not_found(who, client_id)
        return page("error.html", status=422, signed_in=who, csrf=who.csrf,
                    title="Not changed", message=str(exc),
                    back=f"/console/clients/{view['client_id']}")
    if outcome == "missing":
        return _not_found(who, client_id)
    done = "updated" if outcome == "changed" else "unchanged"
    return redirect(f"/console/clients/{client_id}?done={done}")


@router.post("/{client_id}/enabled")
async def set_enabled(request: Request, client_id: str) -> Response:
    who, form = await checked_post(request)
    services = services_of(request)
    enabled = form.get("enabled") == "true"
    outcome = await run_in_threadpool(_update, services, who, client_id, {"enabled": enabled})
    if outcome == "missing":
        return _not_found(who, client_id)
    done = ("enabled" if enabled else "disabled") if outcome == "changed" else "unchanged"
    return redirect(f"/console/clients/{client_id}?done={done}")


def _rotate(services: Services, who: SignedIn, client_id: str,
            grace: int) -> tuple[dict[str, Any], str, datetime | None] | None:
    with services.sessions() as session:
        client = get_client(session, client_id[:CLIENT_ID_LENGTH])
        if client is None:
            return None
        rotated = client_admin.rotate_secret(
            session, services.hasher, client, grace, who.actor, services.clock(),
            stale_for=services.settings.client_cache_ttl,
        )
        return client_view(client), rotated.client_secret, rotated.previous_secret_valid_until


@router.post("/{client_id}/secret")
async def rotate_secret(request: Request, client_id: str) -> Response:
    who, form = await checked_post(request)
    services = services_of(request)
    raw = str(form.get("grace_seconds") or "").strip()
    if raw and (not raw.isdigit() or int(raw) > MAX_SECRET_ROTATION_GRACE):
        return page("error.html", status=422, signed_in=who, csrf=who.csrf, title="Not rotated",
                    message=f"The grace period is 0 to {MAX_SECRET_ROTATION_GRACE} seconds.",
                    back=f"/console/clients/{client_id[:CLIENT_ID_LENGTH]}")
    grace = int(raw) if raw else services.settings.secret_rotation_grace
    try:
        rotated = await run_in_threadpool(_rotate, services, who, client_id, grace)
    except ClientError as exc:
        return page("error.html", status=422, signed_in=who, csrf=who.csrf, title="Not rotated",
                    message=str(exc), back=f"/console/clients/{client_id[:CLIENT_ID_LENGTH]}")
    if rotated is None:
        return _not_found(who, client_id)
    view, secret, until = rotated
    return page("secret.html", signed_in=who, csrf=who.csrf, client=view, secret=secret,
                created=False, previous_valid_until=until)


@router.get("/{client_id}/delete")
def confirm_delete(request: Request, client_id: str) -> Response:
    who = signed_in(request)
    view = _view_or_none(services_of(request), client_id)
    if view is None:
        return _not_found(who, client_id)
    return page("client_delete.html", signed_in=who, csrf=who.csrf, client=view)


def _delete(services: Services, who: SignedIn, client_id: str) -> bool:
    with services.sessions() as session:
        client = get_client(session, client_id[:CLIENT_ID_LENGTH])
        if client is None:
            return False
        client_admin.delete(session, client, who.actor, services.clock(),
                            stale_for=services.settings.client_cache_ttl)
        return True


@router.post("/{client_id}/delete")
async def delete(request: Request, client_id: str) -> Response:
    who, _ = await checked_post(request)
    if not await run_in_threadpool(_delete, services_of(request), who, client_id):
        return _not_found(who, client_id)
    return redirect("/console/clients?done=deleted")
