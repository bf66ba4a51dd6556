"""The HTTP contract as published in `/openapi.json`: the answer of every operation, each
error status it can give with its body, examples, and the security schemes.

The answers' schemas are pydantic models that only document (issuer/http/openapi_models.py):
the endpoints build their JSON themselves (the token endpoint without FastAPI's
serialization at all, `LeanRoute`), so nothing here runs per request.
tests/issuer/test_openapi_contract.py holds the document to these answers, and the
schemathesis fuzzer (tests/fuzz/test_openapi.py) holds the answers to the document.

The public routes, declared at every cold start, name their models by `$ref` (`ok("Jwks",
...)`, the error bodies): a route that declares a model class makes FastAPI import
`pydantic.v1` to rule out a v1 model (~11 ms of import here) on top of the models (~5 ms),
in a Lambda init that only wants a token (tests/issuer/test_lambda_init_openapi.py).
`install_openapi` renders the models the document names when it is first built, with
FastAPI's own rendering. The admin routes, loaded on their first request, pass model
classes.

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

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from issuer.oauth.client_auth import JWT_BEARER
from issuer.settings import Settings
from shared.scope import ADMIN_SCOPE

if TYPE_CHECKING:
    from pydantic import BaseModel

SCHEMA_REF = "#/components/schemas/"  # FastAPI's, where it renders a route's models


def schema_ref(model: str) -> dict[str, str]:
    """A documentation model's schema (issuer/http/openapi_models.py), by reference."""
    return {"$ref": SCHEMA_REF + model}


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


def ok(model: str | type[BaseModel], description: str, example: Any, status: int = 200) -> dict:
    """The success answer of `responses=` (the routes declare `response_model=None`).
    `model`: a documentation model's name, rendered only with the document; or a model
    class, which FastAPI renders as the route is declared (the admin routes)."""
    if isinstance(model, str):
        media = {"schema": schema_ref(model), **example_ref(example)}
        return {status: {"description": description, "content": {"application/json": media}}}
    return {status: {
        "model": model,
        "description": description,
        "content": {"application/json": example_ref(example)},
    }}


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


def _error(description: str, examples: dict[str, tuple[str, str]], headers=None) -> dict[str, Any]:
    content = {
        "examples": {
            name: {"value": {"error": error, "error_description": text}}
            for name, (error, text) in examples.items()
        },
        "schema": schema_ref("ErrorBody"),
    }
    answer: dict[str, Any] = {"description": description, "content": {"application/json": content}}
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
    404: _error("no such client or trusted issuer",
                {"not_found": ("not_found", "no client 'c_nobody'")}),
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
        }, "schema": schema_ref("ValidationErrorBody")}},
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


def _referenced_models(node: Any) -> Iterator[str]:
    """The names of the schemas `node` refers to."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
            yield ref[len(SCHEMA_REF):]
        for value in node.values():
            yield from _referenced_models(value)
    elif isinstance(node, list):
        for value in node:
            yield from _referenced_models(value)


def _render_models(names: list[str]) -> dict[str, Any]:
    """The schemas of these documentation models (and of the models they contain) as
    FastAPI renders a route's response model: its JSON Schema generator, its names, its
    nulls dropped. Rendered in a document of their own, one placeholder route each."""
    from fastapi.routing import APIRoute

    from issuer.http import openapi_models

    def placeholder() -> None:  # never routed: it only carries the model
        raise NotImplementedError

    routes = [APIRoute(f"/{name}", placeholder, response_model=getattr(openapi_models, name))
              for name in names]
    return get_openapi(title="models", version="0", routes=routes)["components"]["schemas"]


def _add_documentation_models(doc: dict[str, Any]) -> None:
    """Render the documentation models the operations name by `$ref` (the public routes
    declare none: this module's docstring) into `components.schemas`, kept in
    FastAPI's order (by name)."""
    components = doc.setdefault("components", {})
    schemas = components.get("schemas", {})
    missing = sorted(set(_referenced_models(doc.get("paths", {}))) - set(schemas))
    if not missing:
        return
    for name, rendered in _render_models(missing).items():
        # A model contained in a route's model is rendered there too: the same schema,
        # unless two models share a name (then the document would be wrong: refuse).
        if schemas.setdefault(name, rendered) != rendered:
            raise RuntimeError(f"two different schemas named {name!r}")
    components["schemas"] = dict(sorted(schemas.items()))


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """`app.openapi()` builds the document once: FastAPI's, plus the documentation models
    the public routes name, the security schemes, each operation's security requirement
    and the X-Request-Id header on every answer."""

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
        _add_documentation_models(doc)
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
