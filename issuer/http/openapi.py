"""The HTTP contract as published in `/openapi.json`: the answer of every operation, each
error status it can give with its body, examples, and the security schemes.

The models here only document: the endpoints build their JSON themselves (the token
endpoint without FastAPI's serialization at all, `LeanRoute`), so nothing here runs per
request. tests/issuer/test_openapi_contract.py holds the document to these answers, and
the schemathesis fuzzer (tests/fuzz/test_openapi.py) holds the answers to the document.

Errors: one body everywhere (issuer/http/errors.py), `ErrorBody`, plus `details` on a
422 for input that does not validate. `oauth_errors(...)` and `admin_errors(...)` give
the `responses=` of an operation for the statuses it can answer.

Security (`install_openapi`): the admin API takes a bearer token of this issuer with the
`issuer:admin` scope, documented as an OAuth 2.0 `clientCredentials` flow whose
`tokenUrl` is this issuer's token endpoint (so the docs page's "Authorize" fetches one)
and as a plain bearer token; the OAuth endpoints take `client_secret_basic` (HTTP Basic)
or credentials in the form (`client_secret_post`, `private_key_jwt`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from issuer.settings import Settings
from shared.scope import ADMIN_SCOPE

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # RFC 7523 §2.2


# -- bodies -----------------------------------------------------------------------------


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


# -- examples ---------------------------------------------------------------------------

TOKEN_EXAMPLE = {
    "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiIsInR5cCI6ImF0K2p3dCJ9.eyJpc3Mi...",
    "token_type": "Bearer",
    "expires_in": 3600,
    "scope": "orders:read",
}
CLIENT_EXAMPLE = {
    "client_id": "c_3q2-7wAbQ0uX9TqPz1Lk2w",
    "name": "billing",
    "scopes": ["orders:read"],
    "default_scopes": ["orders:read"],
    "audiences": ["https://api.example.com/orders"],
    "grant_types": ["client_credentials"],
    "token_lifetime": None,
    "enabled": True,
    "auth_method": "client_secret",
    "token_binding": "none",
    "created_at": "2025-01-31T12:00:00+00:00",
    "updated_at": "2025-01-31T12:00:00+00:00",
}
KEY_EXAMPLE = {
    "kid": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
    "alg": "ES256",
    "status": "active",
    "created_at": "2025-01-01T00:00:00+00:00",
    "activated_at": "2025-01-01T00:05:00+00:00",
    "retiring_at": None,
    "retired_at": None,
    "activates_at": None,
    "retires_at": None,
}


# FastAPI drops every null from the document it builds (`exclude_none`), examples' nulls
# included, which would make an example contradict its schema (`token_lifetime: null`):
# an example is kept here and put in place after the document is built.
EXAMPLES: dict[str, Any] = {}
EXAMPLE_REF = "x-tollgate-example"


def example_ref(example: Any) -> dict[str, str]:
    name = f"example{len(EXAMPLES)}"
    EXAMPLES[name] = example
    return {EXAMPLE_REF: name}


def _json(model: type[BaseModel], description: str, example: Any) -> dict[str, Any]:
    return {
        "model": model,
        "description": description,
        "content": {"application/json": example_ref(example)},
    }


def ok(model: type[BaseModel], description: str, example: Any, status: int = 200) -> dict:
    """The success answer of `responses=` (the routes declare `response_model=None`)."""
    return {status: _json(model, description, example)}


# -- errors -----------------------------------------------------------------------------

RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
BEARER_CHALLENGE = {
    "WWW-Authenticate": {
        "description": 'RFC 6750 §3: Bearer realm="tollgate", error="..."',
        "schema": {"type": "string"},
    }
}
BASIC_CHALLENGE = {
    "WWW-Authenticate": {"description": 'Basic realm="tollgate"', "schema": {"type": "string"}}
}


def _error(description: str, examples: dict[str, tuple[str, str]], headers=None,
           model: type[BaseModel] = ErrorBody) -> dict[str, Any]:
    content = {
        "examples": {
            name: {"value": {"error": error, "error_description": text}}
            for name, (error, text) in examples.items()
        }
    }
    answer: dict[str, Any] = {
        "model": model, "description": description, "content": {"application/json": content}
    }
    if headers:
        answer["headers"] = headers
    return answer


OAUTH_ERRORS: dict[int, dict[str, Any]] = {
    400: _error(
        "RFC 6749 §5.2 (and RFC 8707 §2's invalid_target)",
        {
            "invalid_request": ("invalid_request", "parameter 'scope' is repeated"),
            "unsupported_grant_type": (
                "unsupported_grant_type", "only grant_type=client_credentials is supported"
            ),
            "invalid_scope": ("invalid_scope", "the requested scope is not allowed"),
            "invalid_target": (
                "invalid_target", "the requested resource or audience is not allowed"
            ),
        },
    ),
    401: _error(
        "client authentication failed (the same answer whatever failed)",
        {"invalid_client": ("invalid_client", "client authentication failed")},
        BASIC_CHALLENGE,
    ),
    429: _error(
        "too many failed client authentications for this client id or address; a request "
        "whose credentials verify is never refused",
        {"throttled": ("temporarily_unavailable", "too many failed attempts; retry later")},
        RETRY_AFTER,
    ),
    503: _error(
        "the database is unavailable",
        {"unavailable": (
            "temporarily_unavailable", "the service is temporarily unavailable; retry later"
        )},
        RETRY_AFTER,
    ),
}

ADMIN_ERRORS: dict[int, dict[str, Any]] = {
    401: _error(
        "no valid admin token: none, malformed, expired, revoked, or its client disabled",
        {"invalid_token": ("invalid_token", "access token refused: expired")},
        BEARER_CHALLENGE,
    ),
    403: _error(
        f"the token or its client lacks the {ADMIN_SCOPE} scope",
        {"insufficient_scope": (
            "insufficient_scope", f"the access token lacks the {ADMIN_SCOPE} scope"
        )},
        BEARER_CHALLENGE,
    ),
    404: _error("no such client", {"not_found": ("not_found", "no client 'c_nobody'")}),
    409: _error(
        "the change collides with another record: an external identity another client "
        "has, an issuer already trusted or still in use (docs/federation.md)",
        {"conflict": ("conflict", "(https://token.actions.githubusercontent.com, "
                                  "repo:org/app:ref:refs/heads/main) already authenticates "
                                  "client c_3b5FQWm1b0b2cZ0rQ1xT2w")},
    ),
    413: _error(
        "the JSON body is larger than 64 KiB",
        {"request_too_large": (
            "request_too_large", "the request body is larger than 65536 bytes"
        )},
    ),
    422: {
        "model": ValidationErrorBody,
        "description": "the body or a parameter does not validate (details lists each "
                       "problem, never the input), or the policy refuses the client's "
                       "scopes, audiences or keys (invalid_client_metadata, RFC 7591 §3.2.2)",
        "content": {"application/json": {"examples": {
            "invalid_request": {"value": {
                "error": "invalid_request",
                "error_description": "body.scopes: Field required",
                "details": [
                    {"loc": ["body", "scopes"], "msg": "Field required", "type": "missing"}
                ],
            }},
            "invalid_client_metadata": {"value": {
                "error": "invalid_client_metadata",
                "error_description": "scope 'orders:delete' is not declared in the policy",
            }},
            "bad_cursor": {"value": {
                "error": "invalid_request", "error_description": "cursor is not valid"
            }},
        }}},
    },
    503: OAUTH_ERRORS[503],
}


def oauth_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: OAUTH_ERRORS[status] for status in statuses}


def admin_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: ADMIN_ERRORS[status] for status in statuses}


def unavailable() -> dict[int | str, dict[str, Any]]:
    """503: an endpoint that reads the database."""
    return {503: OAUTH_ERRORS[503]}


# -- request forms (the OAuth endpoints read their form themselves: issuer/http/oauth/form.py)

_CLIENT_FIELDS: dict[str, Any] = {
    "client_id": {"type": "string", "description": "client_secret_post, or with "
                                                   "client_assertion (optional there)"},
    "client_secret": {"type": "string", "description": "client_secret_post (RFC 6749 "
                                                       "§2.3.1); prefer HTTP Basic"},
    "client_assertion_type": {
        "type": "string", "enum": [JWT_BEARER],
        "description": "private_key_jwt (RFC 7523 §2.2), with client_assertion",
    },
    "client_assertion": {
        "type": "string",
        "description": "a JWT signed with one of the client's registered keys: iss = sub = "
                       "client id, aud = the issuer or the token endpoint, exp at most 5 "
                       "minutes ahead, a jti used once",
    },
}


def form(schema: dict[str, Any], example: dict[str, str]) -> dict[str, Any]:
    """`openapi_extra` for an endpoint that reads an x-www-form-urlencoded body itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": schema, "example": example}
            },
        }
    }


TOKEN_FORM = form(
    {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "scope": {"type": "string", "description": "space-separated scopes; default: "
                                                       "the client's default scopes"},
            "resource": {"type": "string", "description": "RFC 8707: the API's audience URI"},
            "audience": {"type": "string", "description": "the same as resource"},
            **_CLIENT_FIELDS,
        },
    },
    {"grant_type": "client_credentials", "scope": "orders:read"},
)

TOKEN_ARGUMENT_FORM = form(
    {
        "type": "object",
        "required": ["token"],
        "properties": {
            "token": {"type": "string", "description": "the access token"},
            "token_type_hint": {"type": "string", "description": "accepted and ignored: "
                                                                 "access tokens only"},
            **_CLIENT_FIELDS,
        },
    },
    {"token": "eyJhbGciOiJFUzI1NiIs..."},
)


# -- the document ------------------------------------------------------------------------

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "adminClientCredentials": {
        "type": "oauth2",
        "description": f"An admin client's id and secret; the token endpoint grants "
                       f"{ADMIN_SCOPE} with this issuer as audience.",
        "flows": {"clientCredentials": {
            "tokenUrl": "",  # set from ISSUER_URL
            "scopes": {ADMIN_SCOPE: "administer clients and signing keys, read the audit"},
        }},
    },
    "adminBearer": {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": f"An access token of this issuer with {ADMIN_SCOPE}.",
    },
    "clientSecretBasic": {
        "type": "http", "scheme": "basic",
        "description": "client_secret_basic (RFC 6749 §2.3.1): client id and secret. "
                       "Or send them in the form (client_secret_post), or a "
                       "client_assertion (private_key_jwt).",
    },
}
REQUEST_ID_HEADER = {
    "X-Request-Id": {
        "description": "this request's id (the caller's when 1 to 128 of A-Z a-z 0-9 . _ -, "
                       "else generated), on every log line of the request",
        "schema": {"type": "string"},
    }
}


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """`app.openapi()` builds the document once: FastAPI's, plus the security schemes, each
    operation's security requirement and the X-Request-Id header on every answer."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        schemes = {name: dict(scheme) for name, scheme in SECURITY_SCHEMES.items()}
        schemes["adminClientCredentials"]["flows"] = {"clientCredentials": {
            **SECURITY_SCHEMES["adminClientCredentials"]["flows"]["clientCredentials"],
            "tokenUrl": settings.token_endpoint,
        }}
        doc.setdefault("components", {})["securitySchemes"] = schemes
        for path, item in doc.get("paths", {}).items():
            for operation in item.values():
                if path.startswith("/admin"):
                    operation["security"] = [
                        {"adminClientCredentials": [ADMIN_SCOPE]}, {"adminBearer": []}
                    ]
                elif path.startswith("/oauth2/"):
                    # {}: no HTTP-level scheme (the credentials travel in the form).
                    operation["security"] = [{"clientSecretBasic": []}, {}]
                for answer in operation.get("responses", {}).values():
                    answer.setdefault("headers", {}).update(REQUEST_ID_HEADER)
                    for media in answer.get("content", {}).values():
                        if EXAMPLE_REF in media:
                            media["example"] = EXAMPLES[media.pop(EXAMPLE_REF)]
        app.openapi_schema = doc
        return doc

    app.openapi = build  # type: ignore[method-assign]
