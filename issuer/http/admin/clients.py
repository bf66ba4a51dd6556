"""`/admin/clients`: register, list, show, change, rotate the secret of, delete clients
(README, "Operating it"). Every change is committed with its audit record
(`issuer/clients/admin.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse, Response

from issuer.clients import admin as client_admin
from issuer.clients.registry import client_view, client_views, could_be_client_id, get_client
from issuer.http.admin.guard import AdminDep, AdminRoute
from issuer.http.admin.schemas import ClientCreate, ClientUpdate, SecretRotation
from issuer.http.deps import ServicesDep, SessionDep
from issuer.http.openapi import CLIENT_EXAMPLE, admin_errors, ok
from issuer.http.openapi_models import ClientList, ClientView, NewClient, SecretRotated
from issuer.oauth.errors import NO_STORE
from issuer.store.models import Client
from issuer.store.paging import DEFAULT_LIMIT, MAX_LIMIT, decode_time_key_cursor, next_cursor
from issuer.store.tables import CLIENT_ID_LENGTH

router = APIRouter(
    prefix="/admin/clients",
    tags=["admin"],
    route_class=AdminRoute,  # authenticates; the schemes are documented by issuer/http/openapi.py
    # 413: BodyLimitMiddleware refuses a body over 64 KiB on any admin request.
    responses=admin_errors(401, 403, 413, 503),
)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _client_or_404(session: SessionDep, client_id: str) -> Client:
    client = get_client(session, client_id[:CLIENT_ID_LENGTH])
    if client is None:
        raise HTTPException(404, f"no client {client_id[:CLIENT_ID_LENGTH]!r}")
    return client


ClientDep = Annotated[Client, Depends(_client_or_404)]


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        return decode_time_key_cursor(cursor, could_be_client_id)
    except ValueError:
        raise HTTPException(422, "cursor is not valid") from None


@router.post(
    "",
    status_code=201,
    summary="Register a client (the secret is shown once)",
    response_model=None,
    responses={
        **ok(NewClient, "the client, with its secret (client_secret clients)",
             {**CLIENT_EXAMPLE, "client_secret": "kmXvU2jbzOsjEvGICcp1D36SklwiInvsF650hsV7qgA"},
             201),
        # 409: a federated identity another client has (docs/federation.md).
        **admin_errors(409, 422),
    },
)
def create(body: ClientCreate, admin: AdminDep, services: ServicesDep, session: SessionDep):
    new = client_admin.register(
        session,
        services.hasher,
        services.policy,
        admin,
        services.clock(),
        name=body.name,
        scopes=body.scopes,
        audiences=body.audiences,
        default_scopes=body.default_scopes,
        token_lifetime=body.token_lifetime,
        auth_method=body.auth_method,
        jwks=body.jwks,
        federated_identities=body.federated_identities,
        tls_client_auth_subject_dn=body.tls_client_auth_subject_dn,
        token_binding=body.token_binding,
    )
    return JSONResponse(new.view(), status_code=201, headers=NO_STORE)


@router.get(
    "",
    summary="List clients, oldest first (never a secret)",
    response_model=None,
    responses={
        **ok(ClientList, "a page of clients", {"items": [CLIENT_EXAMPLE], "next_cursor": None}),
        **admin_errors(422),
    },
)
def list_clients(
    admin: AdminDep, session: SessionDep, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    page = client_admin.client_page(session, limit, _after(cursor))
    return {
        "items": client_views(page),
        "next_cursor": next_cursor(page, limit, client_admin.client_position),
    }


@router.get(
    "/{client_id}",
    summary="Show a client (never its secret)",
    response_model=None,
    responses={**ok(ClientView, "the client", CLIENT_EXAMPLE), **admin_errors(404, 422)},
)
def show(admin: AdminDep, client: ClientDep) -> dict[str, Any]:
    return client_view(client)


@router.patch(
    "/{client_id}",
    summary="Change name, scopes, audiences, defaults, lifetime, enabled, jwks",
    response_model=None,
    responses={
        **ok(ClientView, "the client as changed", CLIENT_EXAMPLE),
        **admin_errors(404, 409, 422),
    },
)
def patch(
    body: ClientUpdate,
    admin: AdminDep,
    client: ClientDep,
    services: ServicesDep,
    session: SessionDep,
) -> dict[str, Any]:
    updated = client_admin.update(
        session, services.policy, client, body.changes(), admin, services.clock(),
        stale_for=services.settings.client_cache_ttl,
    )
    return client_view(updated)


@router.post(
    "/{client_id}/secret",
    summary="Rotate the secret (the previous one has a grace)",
    response_model=None,
    responses={
        **ok(SecretRotated, "the new secret, shown once", {
            "client_id": CLIENT_EXAMPLE["client_id"],
            "client_secret": "Xo0Nw4bq1yQmJc1c0a0lW7mP8eS7R9yHcV2fQk3kWfI",
            "previous_secret_valid_until": "2025-02-01T12:00:00+00:00",
        }),
        **admin_errors(404, 422),
    },
)
def rotate_secret(
    admin: AdminDep,
    client: ClientDep,
    services: ServicesDep,
    session: SessionDep,
    body: SecretRotation | None = None,
):
    grace = body.grace_seconds if body is not None else None
    if grace is None:
        grace = services.settings.secret_rotation_grace
    rotated = client_admin.rotate_secret(
        session, services.hasher, client, grace, admin, services.clock(),
        stale_for=services.settings.client_cache_ttl,
    )
    return JSONResponse(rotated.view(client.client_id), headers=NO_STORE)


@router.delete(
    "/{client_id}",
    status_code=204,
    summary="Delete a client (its tokens are revoked)",
    response_model=None,
    responses={204: {"description": "deleted"}, **admin_errors(404, 422)},
)
def delete(admin: AdminDep, client: ClientDep, services: ServicesDep, session: SessionDep):
    client_admin.delete(session, client, admin, services.clock(),
                        stale_for=services.settings.client_cache_ttl)
    return Response(status_code=204)
