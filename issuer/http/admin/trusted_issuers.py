"""`/admin/trusted-issuers`: the external issuers whose tokens authenticate federated
clients (docs/federation.md): add, list, show, change, remove. Every change is
committed with its audit record (`issuer/federation/trusted_issuers.py`). Errors have
the admin API's one body: 422 for a rule broken (naming it), 409 for an issuer already
trusted or still named by a client's identities, 404 for no such id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from issuer.federation import trusted_issuers as registry
from issuer.federation.jwks import UriPolicy
from issuer.http.admin.guard import AdminDep, AdminRoute
from issuer.http.deps import ServicesDep, SessionDep
from issuer.http.openapi import admin_errors, ok
from issuer.services import Services
from issuer.store.federation_tables import TrustedIssuer
from issuer.store.paging import DEFAULT_LIMIT, MAX_LIMIT, decode_time_key_cursor, next_cursor
from issuer.store.tables import CLIENT_ID_LENGTH, ISSUER_LENGTH, URI_LENGTH

router = APIRouter(
    prefix="/admin/trusted-issuers",
    tags=["admin"],
    route_class=AdminRoute,  # authenticates; the schemes are documented by issuer/http/openapi.py
    responses=admin_errors(401, 403, 413, 503),
)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=ISSUER_LENGTH)]
Uri = Annotated[str, StringConstraints(min_length=1, max_length=URI_LENGTH)]
Algorithms = Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=16)]],
                       Field(min_length=1, max_length=20)]
MaxAge = Annotated[int, Field(ge=registry.MIN_MAX_TOKEN_AGE, le=registry.MAX_MAX_TOKEN_AGE)]


class _Body(BaseModel):
    # Strict as the other admin bodies: unknown fields and wrong JSON types are 422.
    model_config = ConfigDict(extra="forbid", strict=True)


class TrustedIssuerCreate(_Body):
    issuer: Text = Field(description="the exact iss of its tokens (a URI)")
    jwks_uri: Uri | None = Field(None, description="where its public keys are (or jwks)")
    jwks: dict[str, Any] | None = Field(None, description="its public keys inline")
    algorithms: Algorithms = Field(
        default_factory=lambda: list(registry.DEFAULT_ALGORITHMS),
        description="JWS algorithms its tokens may use; never none or HS*",
    )
    audience: Text | None = Field(None, description="the aud its tokens carry for us; "
                                                    "default: our token endpoint URL")
    max_token_age: MaxAge = Field(registry.DEFAULT_MAX_TOKEN_AGE,
                                  description="seconds: the oldest iat accepted")
    allow_reuse: bool = Field(False, description="one token may authenticate more than once "
                                                 "before it expires")


class TrustedIssuerUpdate(_Body):
    """Only the fields present change; `audience: null` returns to the default. The
    issuer itself never changes."""

    jwks_uri: Uri | None = None
    jwks: dict[str, Any] | None = None
    algorithms: Algorithms | None = None
    audience: Text | None = None
    max_token_age: MaxAge | None = None
    allow_reuse: bool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> TrustedIssuerUpdate:
        for name in self.model_fields_set - {"audience", "jwks_uri", "jwks"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set
                if not (name in ("jwks_uri", "jwks") and getattr(self, name) is None)}


class TrustedIssuerView(BaseModel):
    id: str
    issuer: str
    jwks_uri: str | None = None
    jwks: dict[str, Any] | None = None
    algorithms: list[str]
    audience: str = Field(description="the aud required (the default shown resolved)")
    audience_default: bool
    max_token_age: int
    allow_reuse: bool
    created_at: datetime
    updated_at: datetime


class TrustedIssuerList(BaseModel):
    items: list[TrustedIssuerView]
    next_cursor: str | None


EXAMPLE = {
    "id": "ti_3b5FQWm1b0b2cZ0r",
    "issuer": "https://token.actions.githubusercontent.com",
    "jwks_uri": "https://token.actions.githubusercontent.com/.well-known/jwks",
    "algorithms": ["RS256"],
    "audience": "https://issuer.example.com/oauth2/token",
    "audience_default": True,
    "max_token_age": 3600,
    "allow_reuse": True,
    "created_at": "2025-01-01T00:00:00+00:00",
    "updated_at": "2025-01-01T00:00:00+00:00",
}


def uri_policy(services: Services) -> UriPolicy:
    return UriPolicy.from_settings(services.settings)


def _row_or_404(session: SessionDep, trusted_issuer_id: str) -> TrustedIssuer:
    key = trusted_issuer_id[:CLIENT_ID_LENGTH]
    # An id of a shape never made is not read (NUL: a database error on PostgreSQL).
    row = session.get(TrustedIssuer, key) if registry.could_be_trusted_issuer_id(key) else None
    if row is None:
        raise HTTPException(404, f"no trusted issuer {key!r}")
    return row


RowDep = Annotated[TrustedIssuer, Depends(_row_or_404)]


def _refused(exc: registry.FederationError) -> HTTPException:
    if isinstance(exc, registry.Conflict):
        return HTTPException(409, str(exc)[:500])
    return HTTPException(422, str(exc)[:500])


def _view(services: Services, row: TrustedIssuer) -> dict[str, Any]:
    return registry.trusted_issuer_view(row, services.settings.token_endpoint)


@router.post(
    "",
    status_code=201,
    summary="Trust an external issuer's tokens for federated clients",
    response_model=None,
    responses={**ok(TrustedIssuerView, "the trusted issuer", EXAMPLE, 201),
               **admin_errors(409, 422)},
)
def create(body: TrustedIssuerCreate, admin: AdminDep, services: ServicesDep,
           session: SessionDep) -> JSONResponse:
    fields = body.model_dump(exclude_none=True)
    try:
        row = registry.add(session, fields, admin, services.clock(), uri_policy(services),
                           own_issuer=services.settings.url)
    except registry.FederationError as exc:
        raise _refused(exc) from None
    return JSONResponse(_view(services, row), status_code=201)


@router.get(
    "",
    summary="List trusted issuers, oldest first",
    response_model=None,
    responses={**ok(TrustedIssuerList, "a page of trusted issuers",
                    {"items": [EXAMPLE], "next_cursor": None}),
               **admin_errors(422)},
)
def list_trusted_issuers(admin: AdminDep, services: ServicesDep, session: SessionDep,
                         limit: Limit = DEFAULT_LIMIT,
                         cursor: str | None = None) -> dict[str, Any]:
    after = None
    if cursor is not None:
        try:
            after = decode_time_key_cursor(cursor, registry.could_be_trusted_issuer_id)
        except ValueError:
            raise HTTPException(422, "cursor is not valid") from None
    page = registry.trusted_issuer_page(session, limit, after)
    return {
        "items": [_view(services, row) for row in page],
        "next_cursor": next_cursor(page, limit, registry.trusted_issuer_position),
    }


@router.get(
    "/{trusted_issuer_id}",
    summary="Show a trusted issuer",
    response_model=None,
    responses={**ok(TrustedIssuerView, "the trusted issuer", EXAMPLE),
               **admin_errors(404, 422)},
)
def show(admin: AdminDep, services: ServicesDep, row: RowDep) -> dict[str, Any]:
    return _view(services, row)


@router.patch(
    "/{trusted_issuer_id}",
    summary="Change keys, algorithms, audience, maximum age, reuse",
    response_model=None,
    responses={**ok(TrustedIssuerView, "the trusted issuer as changed", EXAMPLE),
               **admin_errors(404, 422)},
)
def patch(body: TrustedIssuerUpdate, admin: AdminDep, services: ServicesDep,
          session: SessionDep, row: RowDep) -> dict[str, Any]:
    try:
        registry.update(session, row, body.changes(), admin, services.clock(),
                        uri_policy(services))
    except registry.FederationError as exc:
        raise _refused(exc) from None
    return _view(services, row)


@router.delete(
    "/{trusted_issuer_id}",
    status_code=204,
    summary="Stop trusting an issuer (refused while clients' identities name it)",
    response_model=None,
    responses={204: {"description": "removed"}, **admin_errors(404, 409, 422)},
)
def delete(admin: AdminDep, services: ServicesDep, session: SessionDep,
           row: RowDep) -> Response:
    try:
        registry.remove(session, row, admin, services.clock())
    except registry.FederationError as exc:
        raise _refused(exc) from None
    return Response(status_code=204)
