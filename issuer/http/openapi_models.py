"""The documentation models of `/openapi.json`: pydantic models of the answers, each
rendered into `components.schemas` under its class name. Nothing here validates or
serializes a request: the endpoints build their JSON themselves.

Imported only to build the document: the public routes name these models by `$ref`
(issuer/http/openapi.py, `ok("TokenResponse", ...)`), and `install_openapi` renders the
ones the document names when /openapi.json is first asked for, so a cold start for a
token loads neither this module nor the `pydantic.v1` check FastAPI runs on every model a
route declares (tests/issuer/test_lambda_init_openapi.py). The admin routes, loaded on
their first request, declare theirs as models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """RFC 6749 §5.2's error body; the admin API's too (issuer/http/errors.py)."""

    error: str = Field(description="a stable code: RFC 6749 §5.2, RFC 6750 §3.1, or the "
                                   "issuer's (not_found, method_not_allowed, "
                                   "request_too_large, invalid_client_metadata)")
    error_description: str = Field(description="for a human; never names a secret")


class ValidationDetail(BaseModel):
    loc: list[str | int] = Field(description="where: body, query or path, then the field")
    msg: str
    type: str


class ValidationErrorBody(ErrorBody):
    """A 422: the request's body or parameters do not validate (the input is not echoed)."""

    details: list[ValidationDetail] | None = None


class TokenResponse(BaseModel):
    """RFC 6749 §5.1 (`Cache-Control: no-store`). `access_token` is an RFC 9068 JWT."""

    access_token: str
    token_type: Literal["Bearer", "DPoP"] = Field(
        description="DPoP when the request carried a DPoP proof (RFC 9449 §5): the token is "
                    "bound to the proof's key"
    )
    expires_in: int = Field(description="seconds")
    scope: str = Field(description="the granted scopes, space-separated (RFC 6749 §3.3)")


class IntrospectionResponse(BaseModel):
    """RFC 7662 §2.2: `{"active": false}` alone for a token that is not active, not this
    issuer's, or (for a caller without `issuer:admin`) another client's."""

    active: bool
    scope: str | None = None
    client_id: str | None = None
    sub: str | None = None
    aud: str | list[str] | None = None
    iss: str | None = None
    exp: int | None = None
    iat: int | None = None
    jti: str | None = None
    token_type: Literal["Bearer", "DPoP"] | None = None
    cnf: dict[str, str] | None = Field(
        None, description="a bound token's confirmation: x5t#S256 (RFC 8705 §3.2) or jkt "
                          "(RFC 9449 §6.2)"
    )


class Jwks(BaseModel):
    """RFC 7517 §5: the public signing keys (next, active, retiring)."""

    keys: list[dict[str, Any]]


class ServerMetadata(BaseModel):
    """RFC 8414 §2 authorization server metadata."""

    model_config = ConfigDict(extra="allow")
    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]


class Health(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str


# issuer/http/health.py's READY_CHECKS, in its order (tests/issuer/test_lambda_init_openapi.py).
ReadyCheck = Literal["database", "migrations", "policy", "kek", "signing_key"]


class Ready(BaseModel):
    """`/readyz`'s body: `failed` is the first check that failed (absent when ready);
    each check is `ok`, `failed` or `skipped` (not run after a failure)."""

    status: Literal["ready", "not_ready"]
    failed: ReadyCheck | None = None
    checks: dict[ReadyCheck, Literal["ok", "failed", "skipped"]]


AuthMethod = Literal[
    "client_secret", "private_key_jwt", "self_signed_tls_client_auth", "tls_client_auth",
    "federated",
]


class ClientView(BaseModel):
    """A client as the admin API shows it: never a secret nor its hash."""

    client_id: str
    name: str
    scopes: list[str]
    default_scopes: list[str]
    audiences: list[str]
    grant_types: list[str]
    token_lifetime: int | None = Field(description="seconds; null: the issuer's default")
    enabled: bool
    auth_method: AuthMethod
    jwks: dict[str, Any] | None = Field(
        None, description="private_key_jwt clients only: their registered public keys"
    )
    federated_identities: list[dict[str, str]] | None = Field(
        None, description="federated clients only: the (issuer, subject) pairs that "
                          "authenticate them (docs/federation.md)"
    )
    tls_client_auth_subject_dn: str | None = Field(
        None, description="tls_client_auth clients only: their certificate's subject DN "
                          "(RFC 8705 §2.1.2)"
    )
    token_binding: Literal["none", "mtls", "dpop"] = Field(
        description="what the client's tokens are bound to: nothing, its TLS certificate "
                    "(RFC 8705 §3) or a DPoP key (RFC 9449)"
    )
    created_at: datetime
    updated_at: datetime


class NewClient(ClientView):
    client_secret: str | None = Field(
        None, description="shown once, at registration (client_secret clients only)"
    )


class ClientList(BaseModel):
    items: list[ClientView]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; "
                                                "null on the last page")


class SecretRotated(BaseModel):
    client_id: str
    client_secret: str = Field(description="shown once")
    previous_secret_valid_until: datetime | None = Field(
        description="until when the previous secret keeps working; null: no grace"
    )


class KeyView(BaseModel):
    """A signing key's public metadata (never private material)."""

    kid: str
    alg: str
    status: Literal["next", "active", "retiring", "retired"]
    created_at: datetime | None
    activated_at: datetime | None
    retiring_at: datetime | None
    retired_at: datetime | None
    activates_at: datetime | None = Field(description="a next key: when it starts signing")
    retires_at: datetime | None = Field(description="a retiring key: when it leaves the JWKS")


class KeyList(BaseModel):
    items: list[KeyView]


class KeyRotation(BaseModel):
    created: bool = Field(description="false: a next key was already pending (200)")
    key: KeyView


class AuditRecordView(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="the admin client id, or cli:<operating system user>")
    action: str = Field(description="client.create, client.update, key.rotate, ...")
    target: str
    source: str | None = Field(description="the caller's address, or local")
    changes: dict[str, Any] | None


class AuditList(BaseModel):
    items: list[AuditRecordView]
    next_cursor: str | None
