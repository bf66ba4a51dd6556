"""The published OpenAPI document (issuer/http/openapi.py) is the HTTP contract: every
operation has a 2xx answer with a schema and an example, exactly the error statuses it
can answer, each with the one error body's schema and an example; the token form
documents private_key_jwt's fields; the admin API documents an OAuth 2.0
clientCredentials scheme whose tokenUrl is this issuer's token endpoint. Real answers are
validated against the document's schemas."""

from __future__ import annotations

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from helpers.issuer_admin import bearer, token_for
from helpers.issuer_env import ISSUER_URL

from shared.scope import ADMIN_SCOPE

OAUTH = {400, 401, 429, 503}
ADMIN = {401, 403, 413, 503}
# (METHOD, path) -> the error statuses the operation can answer.
ERRORS = {
    ("POST", "/oauth2/token"): OAUTH,
    ("POST", "/oauth2/introspect"): OAUTH,
    ("POST", "/oauth2/revoke"): OAUTH,
    ("GET", "/.well-known/revocations.jwt"): {503},
    ("GET", "/.well-known/jwks.json"): {503},
    ("GET", "/.well-known/oauth-authorization-server"): set(),
    ("GET", "/healthz"): {503},
    ("GET", "/readyz"): {503},
    ("POST", "/admin/clients"): ADMIN | {409, 422},
    ("GET", "/admin/clients"): ADMIN | {422},
    ("GET", "/admin/clients/{client_id}"): ADMIN | {404, 422},
    ("PATCH", "/admin/clients/{client_id}"): ADMIN | {404, 409, 422},
    ("DELETE", "/admin/clients/{client_id}"): ADMIN | {404, 422},
    ("POST", "/admin/clients/{client_id}/secret"): ADMIN | {404, 422},
    ("GET", "/admin/keys"): ADMIN,
    ("POST", "/admin/keys/rotate"): ADMIN,
    ("GET", "/admin/audit"): ADMIN | {422},
    ("POST", "/admin/trusted-issuers"): ADMIN | {409, 422},
    ("GET", "/admin/trusted-issuers"): ADMIN | {422},
    ("GET", "/admin/trusted-issuers/{trusted_issuer_id}"): ADMIN | {404, 422},
    ("PATCH", "/admin/trusted-issuers/{trusted_issuer_id}"): ADMIN | {404, 422},
    ("DELETE", "/admin/trusted-issuers/{trusted_issuer_id}"): ADMIN | {404, 409, 422},
}
# Answers without a body (RFC 7009 §2.2's empty 200; a deletion's 204).
BODILESS = {("POST", "/oauth2/revoke"), ("DELETE", "/admin/clients/{client_id}"),
            ("DELETE", "/admin/trusted-issuers/{trusted_issuer_id}")}
ERROR_SCHEMAS = {"#/components/schemas/ErrorBody", "#/components/schemas/ValidationErrorBody"}


@pytest.fixture(scope="module")
def doc(http):
    response = http.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(doc):
    return {
        (method.upper(), path): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }


def _media(answer: dict) -> tuple[str, dict]:
    (media_type, media), = answer["content"].items()
    return media_type, media


def test_every_operation_is_listed_here(doc):
    """A new endpoint fails here until its answers are documented (and listed above)."""
    assert set(_operations(doc)) == set(ERRORS)


@pytest.mark.parametrize(("method", "path"), sorted(ERRORS))
def test_operation_documents_its_answers(doc, method, path):
    operation = _operations(doc)[(method, path)]
    responses = operation["responses"]
    statuses = {int(code) for code in responses}
    successes = {s for s in statuses if 200 <= s < 300}
    assert successes, "no 2xx answer"
    assert statuses - successes == ERRORS[(method, path)]
    for status in successes:
        answer = responses[str(status)]
        if (method, path) in BODILESS:
            assert "content" not in answer
            continue
        _media_type, media = _media(answer)
        assert media["schema"] not in ({}, None)
        assert "example" in media or "examples" in media
    for status in statuses - successes:
        media_type, media = _media(responses[str(status)])
        assert media_type == "application/json"
        if path in ("/healthz", "/readyz"):
            model = {"/healthz": "Health", "/readyz": "Ready"}[path]
            assert media["schema"] == {"$ref": f"#/components/schemas/{model}"}
        else:
            assert media["schema"]["$ref"] in ERROR_SCHEMAS
        assert media.get("examples") or media.get("example")
    for answer in responses.values():
        assert "X-Request-Id" in answer["headers"]


def test_no_fastapi_validation_shape(doc):
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["ValidationErrorBody"]["properties"]) == {
        "error", "error_description", "details"
    }


def test_token_form_documents_every_client_authentication(doc):
    body = _operations(doc)[("POST", "/oauth2/token")]["requestBody"]
    media_type, media = _media(body)
    assert media_type == "application/x-www-form-urlencoded"
    properties = media["schema"]["properties"]
    assert {"grant_type", "scope", "resource", "audience", "client_id", "client_secret",
            "client_assertion_type", "client_assertion"} <= set(properties)
    assert properties["client_assertion_type"]["enum"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    assert media["example"]["grant_type"] == "client_credentials"
    for path in ("/oauth2/introspect", "/oauth2/revoke"):
        form = _media(_operations(doc)[("POST", path)]["requestBody"])[1]["schema"]
        assert {"token", "client_assertion", "client_assertion_type"} <= set(form["properties"])


def test_security_schemes(doc):
    schemes = doc["components"]["securitySchemes"]
    flow = schemes["adminClientCredentials"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == ISSUER_URL + "/oauth2/token"
    assert set(flow["scopes"]) == {ADMIN_SCOPE}
    assert schemes["adminBearer"]["scheme"] == "bearer"
    assert schemes["clientSecretBasic"]["scheme"] == "basic"
    for (_method, path), operation in _operations(doc).items():
        if path.startswith("/admin"):
            assert operation["security"] == [
                {"adminClientCredentials": [ADMIN_SCOPE]}, {"adminBearer": []}
            ]
        elif path.startswith("/oauth2/"):
            assert operation["security"] == [{"clientSecretBasic": []}, {}]
        else:
            assert "security" not in operation


# -- real answers fit the document ---------------------------------------------------------


def _validate(doc, method: str, path: str, response) -> None:
    answer = _operations(doc)[(method, path)]["responses"][str(response.status_code)]
    _media_type, media = _media(answer)
    schema = {**media["schema"], "components": doc["components"]}
    jsonschema_rs.Draft202012Validator(schema).validate(response.json())
    example = media.get("example")
    if example is not None:  # the example fits too
        jsonschema_rs.Draft202012Validator(schema).validate(example)


def test_answers_fit_their_schemas(admin_env):
    issuer, _clock, http, admin = admin_env
    with TestClient(issuer.app()) as plain:
        doc = plain.get("/openapi.json").json()
    admin_auth = (admin.client.client_id, admin.client_secret)

    token = http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=admin_auth)
    _validate(doc, "POST", "/oauth2/token", token)
    access = token.json()["access_token"]
    for data, auth in (({"token": access}, admin_auth), ({"token": "x"}, admin_auth),
                       ({}, admin_auth), ({"token": "x"}, (admin.client.client_id, "nope"))):
        _validate(doc, "POST", "/oauth2/introspect",
                  http.post("/oauth2/introspect", data=data, auth=auth))
    created = http.post("/admin/clients", json={"name": "doc", "scopes": ["orders:read"]})
    _validate(doc, "POST", "/admin/clients", created)
    cid = created.json()["client_id"]
    for method, template, path, body in [
        ("GET", "/admin/clients", "/admin/clients", None),
        ("GET", "/admin/clients/{client_id}", f"/admin/clients/{cid}", None),
        ("PATCH", "/admin/clients/{client_id}", f"/admin/clients/{cid}", {"name": "doc 2"}),
        ("POST", "/admin/clients/{client_id}/secret", f"/admin/clients/{cid}/secret", None),
        ("GET", "/admin/keys", "/admin/keys", None),
        ("POST", "/admin/keys/rotate", "/admin/keys/rotate", None),
        ("POST", "/admin/keys/rotate", "/admin/keys/rotate", None),  # pending: 200
        ("GET", "/admin/audit", "/admin/audit", None),
        ("GET", "/admin/clients/{client_id}", "/admin/clients/c_nobody", None),
        ("POST", "/admin/clients", "/admin/clients", {"name": "x"}),
        ("POST", "/admin/clients", "/admin/clients", {"name": "x", "scopes": ["nope:x"]}),
        ("GET", "/admin/audit", "/admin/audit?cursor=zz", None),
        ("GET", "/.well-known/jwks.json", "/.well-known/jwks.json", None),
        ("GET", "/.well-known/oauth-authorization-server",
         "/.well-known/oauth-authorization-server", None),
        ("GET", "/healthz", "/healthz", None),
        ("GET", "/readyz", "/readyz", None),
    ]:
        _validate(doc, method, template, http.request(method, path, json=body))
    _validate(doc, "GET", "/admin/keys",
              http.get("/admin/keys", headers=bearer("not-a-token")))
    other = issuer.client([ADMIN_SCOPE], name="demoted")
    demoted = bearer(token_for(http, other.client.client_id, other.client_secret))
    http.patch(f"/admin/clients/{other.client.client_id}", json={"scopes": ["orders:read"]})
    _validate(doc, "GET", "/admin/keys", http.get("/admin/keys", headers=demoted))
