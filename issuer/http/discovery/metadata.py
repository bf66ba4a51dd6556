"""Discovery: the JWK Set (RFC 7517) and authorization server metadata (RFC 8414).

The metadata advertises only what this server does: the client credentials grant, the
client authentication methods the token, introspection and revocation endpoints accept
(and the algorithms private_key_jwt assertions may use), the policy's scopes, and the
documentation page only when it is served. Nothing about an authorization endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from issuer.http.deps import ServicesDep, SessionDep
from issuer.http.openapi import ok, unavailable
from issuer.keys.store import published_jwks
from issuer.oauth.client_auth import ASSERTION_ALGS
from shared.jose_names import DPOP_ALGS, PRIVATE_JWK_MEMBERS
from shared.scope import ADMIN_SCOPE

router = APIRouter(tags=["discovery"])

# The metadata changes only with a deployment (the policy's scopes, the issuer's methods):
# a client or cache may keep it an hour, so a new scope is advertised within the hour.
METADATA_MAX_AGE = 3600


@router.get(
    "/.well-known/jwks.json",
    summary="Public signing keys (RFC 7517)",
    response_model=None,
    responses={
        **ok("Jwks", "the next, active and retiring keys' public halves", {"keys": [{
            "kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "alg": "ES256", "use": "sig",
            "kid": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
        }]}),
        **unavailable(),
    },
)
def jwks(services: ServicesDep, session: SessionDep) -> JSONResponse:
    doc = published_jwks(session)
    # Belt and braces: whatever is stored, a private member is never served.
    doc["keys"] = [
        {name: value for name, value in key.items() if name not in PRIVATE_JWK_MEMBERS}
        for key in doc["keys"]
    ]
    max_age = services.settings.jwks_max_age
    return JSONResponse(doc, headers={"Cache-Control": f"public, max-age={max_age}"})


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="Authorization server metadata (RFC 8414)",
    response_model=None,
    responses=ok("ServerMetadata", "RFC 8414 §3.2", {
        "issuer": "https://issuer.example.com",
        "token_endpoint": "https://issuer.example.com/oauth2/token",
        "jwks_uri": "https://issuer.example.com/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt"
        ],
    }),
)
def metadata(services: ServicesDep) -> JSONResponse:
    settings = services.settings
    scopes = [*services.policy.scopes_supported, ADMIN_SCOPE]
    auth_methods = services.authenticator.method_names
    doc: dict[str, Any] = {
        "issuer": settings.url,
        "token_endpoint": settings.token_endpoint,
        "jwks_uri": settings.jwks_uri,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": auth_methods,
        # RFC 8414 §2: required once private_key_jwt is offered; asymmetric only.
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint": settings.url + "/oauth2/introspect",
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint": settings.url + "/oauth2/revoke",
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "scopes_supported": list(dict.fromkeys(scopes)),
        # RFC 8705 §3.3: certificate-bound tokens for clients registered token_binding
        # mtls; RFC 9449 §5.1: the algorithms DPoP proofs may use (asymmetric only).
        "tls_client_certificate_bound_access_tokens": True,
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        # No response_types_supported: its values are the authorization endpoint's
        # response_type values (RFC 6749 §3.1.1), and this server has no authorization
        # endpoint. "token" would advertise the implicit grant, and an empty list is
        # forbidden (RFC 8414 §3.2: claims with zero elements MUST be omitted), so it is
        # omitted although §2 lists it as REQUIRED; RFC 8414 erratum 7793 proposes
        # "REQUIRED unless no grant types are supported that use the authorization
        # endpoint" for servers such as this one.
    }
    if settings.docs:  # /docs is served (off in production unless ISSUER_DOCS=on)
        doc["service_documentation"] = settings.url + "/docs"
    return JSONResponse(doc, headers={"Cache-Control": f"public, max-age={METADATA_MAX_AGE}"})
