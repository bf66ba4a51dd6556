"""Console pages beside the clients: signing keys (the lifecycle as a timeline, and a
rotation through `issuer/keys/admin.py` `rotate`), the audit trail filtered by actor,
action and target, revocation (a pasted token or jti, through `revoke_token`, audited;
the client-wide cut-offs in force), the token tester (`tester.py`) and the policy (APIs,
scopes, routes, and which clients hold each scope)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from issuer.audit import audit_page, audit_view, record
from issuer.clients.registry import get_client, has_control_character
from issuer.clients.search import scope_holders
from issuer.http.console.auth import (
    ConsoleRoute,
    SignedIn,
    checked_post,
    query_text,
    services_of,
    signed_in,
)
from issuer.http.console.render import page, redirect
from issuer.http.console.tester import decide_token
from issuer.keys.admin import key_view, list_keys, rotate
from issuer.keys.lifecycle import KeySchedule
from issuer.oauth.own_tokens import verify_own_token
from issuer.oauth.revocation import (
    client_cutoffs,
    current_generation,
    revoke_token,
    token_generation,
)
from issuer.oauth.token_lifetime import MAX_TOKEN_LIFETIME
from issuer.services import Services
from issuer.store.paging import decode_id_cursor, next_cursor
from issuer.store.tables import CLIENT_ID_LENGTH
from shared.jws import MAX_TOKEN_BYTES
from shared.route_pattern import METHODS
from shared.scope import ADMIN_SCOPE

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
AUDIT_PAGE = 50
MAX_FILTER = 200
JTI_MAX = 200
AUDIT_ACTIONS = (
    "client.create", "client.update", "client.enable", "client.disable",
    "client.rotate_secret", "client.delete", "key.rotate", "token.revoke", "console.link",
)


# --- keys ---------------------------------------------------------------------------

def _timeline(view: dict[str, Any], schedule: KeySchedule) -> list[tuple[str, str | None, bool]]:
    """(step, date, foreseen) in lifecycle order: what happened, and what will."""
    steps: list[tuple[str, str | None, bool]] = [("created (next)", view["created_at"], False)]
    if view["activated_at"]:
        steps.append(("active", view["activated_at"], False))
    elif view["activates_at"]:
        steps.append(("active", view["activates_at"], True))
    if view["retiring_at"]:
        steps.append(("retiring", view["retiring_at"], False))
    elif view["status"] == "active" and view["activated_at"]:
        due = datetime.fromisoformat(view["activated_at"]) + schedule.rotation_period
        steps.append(("rotation due", due.isoformat(), True))
    if view["retired_at"]:
        steps.append(("retired", view["retired_at"], False))
    elif view["retires_at"]:
        steps.append(("retired", view["retires_at"], True))
    return steps


@router.get("/keys")
def keys(request: Request) -> Response:
    who = signed_in(request)
    services = services_of(request)
    schedule = KeySchedule.from_settings(services.settings)
    with services.sessions() as session:
        services.key_store.maintain(session, services.clock())  # statuses as of now
        views = [key_view(k, schedule) for k in list_keys(session)]
    rows = [{**v, "timeline": _timeline(v, schedule)} for v in views]
    done = {"rotated": "A next key is published; it signs once verifiers have had time to "
                       "fetch it.",
            "pending": "A next key was already pending: nothing changed."}.get(
        request.query_params.get("done", ""))
    return page("keys.html", signed_in=who, csrf=who.csrf, keys=rows, done=done,
                publish_lead=schedule.publish_lead, retire_after=schedule.retire_after)


def _rotate(services: Services, who: SignedIn) -> bool:
    with services.sessions() as session:
        rotation = rotate(session, services.kek, services.settings.signing_alg, who.actor,
                          services.clock())
    services.key_store.invalidate()
    return rotation.created


@router.post("/keys/rotate")
async def rotate_key(request: Request) -> Response:
    who, _ = await checked_post(request)
    created = await run_in_threadpool(_rotate, services_of(request), who)
    return redirect("/console/keys?done=" + ("rotated" if created else "pending"))


# --- audit --------------------------------------------------------------------------

@router.get("/audit")
def audit(request: Request) -> Response:
    who = signed_in(request)
    services = services_of(request)
    params = request.query_params
    filters = {name: query_text(params.get(name), MAX_FILTER) for name in
               ("actor", "action", "target")}
    before = None
    cursor = params.get("cursor")
    if cursor:
        try:
            before = decode_id_cursor(cursor)
        except ValueError:
            before = None
    with services.sessions() as session:
        rows = audit_page(session, AUDIT_PAGE, before, **{k: v or None for k, v in
                                                          filters.items()})
        items = [audit_view(r) for r in rows]
    return page("audit.html", signed_in=who, csrf=who.csrf, items=items, filters=filters,
                actions=AUDIT_ACTIONS,
                next_cursor=next_cursor(rows, AUDIT_PAGE, lambda row: [row.id]))


# --- revocation ---------------------------------------------------------------------

def _cutoffs(services: Services) -> list[dict[str, Any]]:
    with services.sessions() as session:
        return [
            {"client_id": r.client_id, "issued_before": r.issued_before, "reason": r.reason,
             "generation": r.generation, "expires_at": r.expires_at}
            for r in client_cutoffs(session, services.clock())
        ]


def _revocation_page(request: Request, who: SignedIn, status: int = 200,
                     **context: Any) -> Response:
    return page("revocation.html", status=status, signed_in=who, csrf=who.csrf,
                cutoffs=_cutoffs(services_of(request)), **context)


@router.get("/revocation")
def revocation(request: Request) -> Response:
    who = signed_in(request)
    return _revocation_page(request, who)


def _revoke(services: Services, who: SignedIn, pasted: str,
            client_id: str) -> tuple[bool, str]:
    """(revoked, message). A token is verified as one of ours (any audience we mint
    for); a bare jti needs its client, and is kept for the longest a token can live."""
    now = services.clock()
    with services.sessions() as session:
        if pasted.count(".") == 2:
            verified = verify_own_token(services, session, pasted, now)
            if verified is None or verified.jti is None:
                return False, "That is not a live token of this issuer: nothing to revoke."
            jti, owner, exp = verified.jti, verified.client_id, float(verified.exp)
            generation = token_generation(verified.claims)
            how = "token"
        else:
            if not client_id:
                return False, "A jti alone needs the id of the client it was issued to."
            if get_client(session, client_id) is None:
                return False, f"There is no client {client_id!r}."
            jti, owner, how = pasted, client_id, "jti"
            exp = now.timestamp() + MAX_TOKEN_LIFETIME  # no token of ours lives longer
            generation = current_generation(session, client_id)
        # Added first, committed by revoke_token with the revocation itself.
        record(session, who.actor, "token.revoke", owner, {"jti": jti, "by": how}, now=now)
        added = revoke_token(session, jti=jti, client_id=owner, exp=exp, generation=generation,
                             now=now, stale_for=services.settings.client_cache_ttl)
    if not added:
        return True, f"Token {jti} of client {owner} was already revoked."
    return True, f"Token {jti} of client {owner} is revoked."


@router.post("/revocation")
async def revoke(request: Request) -> Response:
    who, form = await checked_post(request)
    pasted = str(form.get("token") or "").strip()
    if pasted[:7].lower() == "bearer ":
        pasted = pasted[7:].strip()
    client_id = str(form.get("client_id") or "").strip()[:CLIENT_ID_LENGTH]
    # A jti is ours only if printable (issuer/oauth/access_token.py makes them); PostgreSQL
    # would refuse a NUL.
    if not pasted or len(pasted) > MAX_TOKEN_BYTES or (pasted.count(".") != 2 and (
            len(pasted) > JTI_MAX or has_control_character(pasted))):
        return _revocation_page(request, who, status=422,
                                error="Paste an access token or a jti.", client_id=client_id)
    ok, message = await run_in_threadpool(_revoke, services_of(request), who, pasted, client_id)
    if not ok:
        return _revocation_page(request, who, status=422, error=message, client_id=client_id)
    return _revocation_page(request, who, done=message)


# --- token tester -------------------------------------------------------------------

@router.get("/tester")
def tester(request: Request) -> Response:
    who = signed_in(request)
    return page("tester.html", signed_in=who, csrf=who.csrf, methods=METHODS,
                values={"method": "GET", "path": "/"})


@router.post("/tester")
async def test(request: Request) -> Response:
    who, form = await checked_post(request)
    token = str(form.get("token") or "").strip()
    method = str(form.get("method") or "GET").upper()
    path = str(form.get("path") or "").strip()
    values = {"method": method, "path": path[:2000]}
    error = None
    if not token or len(token) > MAX_TOKEN_BYTES + 7:
        error = "Paste an access token."
    elif method not in METHODS:
        error = f"Choose one of {', '.join(METHODS)}."
    elif not path.startswith("/") or len(path) > 2000:
        error = "The path starts with / (for example /orders/1)."
    if error:
        return page("tester.html", status=422, signed_in=who, csrf=who.csrf, methods=METHODS,
                    values=values, error=error)
    result = await run_in_threadpool(decide_token, services_of(request), token, method, path)
    return page("tester.html", signed_in=who, csrf=who.csrf, methods=METHODS, values=values,
                result=result, policy_json=_pretty(result.get("response")))


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2) if value is not None else ""


# --- policy -------------------------------------------------------------------------

@router.get("/policy")
def policy(request: Request) -> Response:
    who = signed_in(request)
    services = services_of(request)
    with services.sessions() as session:
        holders, more = scope_holders(session)
    apis = [
        {"name": api.name, "audience": api.audience,
         "scopes": [{"name": s, "description": d, "holders": holders.get(s, [])}
                    for s, d in api.scopes.items()],
         "routes": [{"method": r.method, "path": r.path, "scopes": r.scopes,
                     "all_of": r.all_of} for r in api.routes]}
        for api in services.policy.apis.values()
    ]
    return page("policy.html", signed_in=who, csrf=who.csrf, apis=apis,
                source=services.policy.source, admin_scope=ADMIN_SCOPE,
                admins=holders.get(ADMIN_SCOPE, []), more=more)
