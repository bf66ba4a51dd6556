"""JWKS (never a private member, every algorithm), RFC 8414 metadata (Authlib's strict
validation), /healthz, and a database outage answered 503, never 500."""

from __future__ import annotations

import base64
import json

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from fastapi.testclient import TestClient
from helpers.issuer_env import ISSUER_URL, ORDERS, make_issuer, make_settings
from jwcrypto import jwk as jwc_jwk
from jwcrypto import jwt as jwc_jwt

from issuer.http.app import create_app
from shared.jwk import PRIVATE_JWK_MEMBERS

ALGS = ["RS256", "PS256", "ES256", "EdDSA"]
DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("db", DB_KINDS)
@pytest.mark.parametrize("alg", ALGS)
def test_jwks_public_only_and_tokens_verify(databases, policy_file, alg, db):
    issuer = make_issuer(databases.new_url(db), policy_file, ISSUER_SIGNING_ALG=alg)
    new = issuer.client(["orders:read"])
    try:
        with TestClient(issuer.app()) as http:
            response = http.get("/.well-known/jwks.json")
            token = http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(new.client.client_id, new.client_secret),
            ).json()["access_token"]
    finally:
        issuer.services.engine.dispose()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert len(keys) == 1
    for key in keys:
        assert not PRIVATE_JWK_MEMBERS & set(key), key
        assert key["alg"] == alg and key["use"] == "sig" and key["kid"]
        assert not jwc_jwk.JWK(**key).has_private
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": alg, "typ": "at+jwt", "kid": keys[0]["kid"]}
    keyset = jwc_jwk.JWKSet.from_json(response.text)
    claims = json.loads(
        jwc_jwt.JWT(
            jwt=token, key=keyset, algs=[alg], check_claims={"iss": ISSUER_URL, "aud": ORDERS}
        ).claims
    )
    assert claims["scope"] == "orders:read"


def test_jwks_max_age_setting(databases, policy_file):
    issuer = make_issuer(databases.new_url("sqlite"), policy_file, ISSUER_JWKS_MAX_AGE="60")
    with TestClient(issuer.app()) as http:
        assert http.get("/.well-known/jwks.json").headers["cache-control"] == "public, max-age=60"


def _authlib_validate(doc: dict) -> None:
    """Authlib's strict RFC 8414 checks, every one but response_types_supported: a
    client-credentials server has no authorization endpoint and so no response type to
    list, and RFC 8414 §3.2 forbids an empty list (issuer/http/discovery/metadata.py)."""
    metadata = AuthorizationServerMetadata(doc)
    for name in dir(metadata):
        if name.startswith("validate_") and name != "validate_response_types_supported":
            getattr(metadata, name)()
    with pytest.raises(ValueError, match="response_types_supported"):
        metadata.validate()  # the one check left out, and only it


def test_metadata_passes_authlib_validation(http):
    response = http.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=3600"
    doc = response.json()
    _authlib_validate(doc)
    assert doc["issuer"] == ISSUER_URL
    assert doc["token_endpoint"] == ISSUER_URL + "/oauth2/token"
    assert doc["jwks_uri"] == ISSUER_URL + "/.well-known/jwks.json"
    assert doc["grant_types_supported"] == ["client_credentials"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "self_signed_tls_client_auth",  # RFC 8705 §2.2, §2.1
        "tls_client_auth",
    ]
    assert set(doc["scopes_supported"]) == {
        "orders:read", "orders:write", "billing:read", "issuer:admin"
    }


def test_metadata_advertises_only_what_the_server_does(http):
    """RFC 8414: nothing about an authorization endpoint (no response type, response mode
    or PKCE method), only the grant, methods and algorithms the endpoints accept."""
    doc = http.get("/.well-known/oauth-authorization-server").json()
    methods = ["client_secret_basic", "client_secret_post", "private_key_jwt",
               "self_signed_tls_client_auth", "tls_client_auth"]
    algs = ["ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384",
            "RS512"]  # what private_key_jwt verifies (shared/jwa.py), never none or HS*
    assert doc == {
        "issuer": ISSUER_URL,
        "token_endpoint": ISSUER_URL + "/oauth2/token",
        "jwks_uri": ISSUER_URL + "/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint": ISSUER_URL + "/oauth2/introspect",
        "introspection_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint": ISSUER_URL + "/oauth2/revoke",
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "scopes_supported": doc["scopes_supported"],  # checked above
        # RFC 8705 §3.3 and RFC 9449 §5.1 (asymmetric algorithms only).
        "tls_client_certificate_bound_access_tokens": True,
        "dpop_signing_alg_values_supported": ["RS256", "PS256", "ES256", "ES384", "ES512",
                                              "EdDSA"],
        "service_documentation": ISSUER_URL + "/docs",
    }
    # Every advertised endpoint is served here (the URL's path, on this app).
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        path = doc[name].removeprefix(ISSUER_URL)
        # An empty body has no form content type: each endpoint parses it and refuses it.
        response = http.post(path, data={})
        assert response.status_code == 400, name
        assert response.json()["error"] == "invalid_request", name
    assert http.get(doc["jwks_uri"].removeprefix(ISSUER_URL)).status_code == 200
    assert http.get(doc["service_documentation"].removeprefix(ISSUER_URL)).status_code == 200


def test_metadata_names_no_docs_page_when_it_is_off(databases, policy_file):
    issuer = make_issuer(databases.new_url("sqlite"), policy_file, ISSUER_DOCS="off")
    with TestClient(issuer.app()) as http:
        doc = http.get("/.well-known/oauth-authorization-server").json()
        assert "service_documentation" not in doc
        assert http.get("/docs").status_code == 404
    issuer.services.engine.dispose()


def test_healthz_and_docs(http):
    assert http.get("/healthz").json() == {"status": "ok", "database": "ok"}
    assert http.get("/docs").status_code == 200
    assert "/oauth2/token" in http.get("/openapi.json").json()["paths"]


@pytest.fixture
def broken_db_app(tmp_path, policy_file):
    # A database that cannot be opened: the directory does not exist.
    settings = make_settings(f"sqlite:///{tmp_path}/missing/dir/issuer.db", policy_file)
    with TestClient(create_app(settings)) as http:
        yield http


def test_database_down_is_503_not_500(broken_db_app):
    health = broken_db_app.get("/healthz")
    assert health.status_code == 503
    assert health.json()["database"] == "down"
    token = broken_db_app.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=("c_someone", "secret"),
    )
    assert token.status_code == 503
    assert token.json()["error"] == "temporarily_unavailable"
    assert "Traceback" not in token.text and "sqlite" not in token.text.lower()
    assert broken_db_app.get("/.well-known/jwks.json").status_code == 503


def test_unexpected_error_is_a_bare_json_error(issuer, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr("issuer.http.oauth.token.grant_client_credentials", explode)
    new = issuer.client(["orders:read"])
    with TestClient(issuer.app(), raise_server_exceptions=False) as http:
        response = http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(new.client.client_id, new.client_secret),
        )
    assert response.json() == {"error": "server_error", "error_description": "unexpected error"}
    assert "internal detail" not in response.text
