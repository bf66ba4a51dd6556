"""The public routes document their answers without a pydantic model (issuer/http/openapi.py):
the issuer's Lambda init (`import deploy.issuer_lambda`, a cold start for a token) imports
neither the documentation models (issuer/http/openapi_models.py, ~5 ms) nor `pydantic.v1`,
which FastAPI imports (~11 ms) to rule out v1 models as soon as a route declares a
`model`. The document builder renders the models when /openapi.json is first asked for,
as FastAPI would have (tests/issuer/test_openapi_contract.py holds the document)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

from fastapi.testclient import TestClient
from helpers.issuer_env import lambda_child_env

from issuer.http.health import READY_CHECKS

ROOT = Path(__file__).resolve().parents[2]

WATCH = ["issuer.http.openapi_models", "pydantic.v1"]
PROBE = f"""
import json, sys
import deploy.issuer_lambda
print(json.dumps(sorted(m for m in sys.modules if m in {WATCH!r})))
"""


def test_the_lambda_init_imports_no_documentation_model(databases, policy_file):
    env, _basic, _issuer, _client = lambda_child_env(databases.new_url("sqlite"), policy_file,
                                                     "openapi-probe")
    env["ISSUER_ENV"] = "production"  # as deployed: no /docs, no console
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_the_document_renders_the_models_the_public_routes_name(issuer):
    with TestClient(issuer.app()) as http:
        doc = http.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for path, status, name in [
        ("/oauth2/token", "200", "TokenResponse"),
        ("/oauth2/introspect", "200", "IntrospectionResponse"),
        ("/.well-known/jwks.json", "200", "Jwks"),
        ("/.well-known/oauth-authorization-server", "200", "ServerMetadata"),
        ("/healthz", "503", "Health"),
        ("/readyz", "503", "Ready"),
        ("/.well-known/revocations.jwt", "503", "ErrorBody"),
    ]:
        (operation,) = doc["paths"][path].values()
        media = operation["responses"][status]["content"]["application/json"]
        assert media["schema"] == {"$ref": f"#/components/schemas/{name}"}
        assert schemas[name]["title"] == name
    assert schemas["ErrorBody"]["required"] == ["error", "error_description"]
    # Rendered as FastAPI renders a route's model: the nulls dropped (no default: null).
    assert schemas["TokenResponse"]["required"] == [
        "access_token", "token_type", "expires_in", "scope"]
    assert schemas["IntrospectionResponse"]["properties"]["scope"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}], "title": "Scope"}
    # The readiness schema names the checks /readyz runs, in its order.
    assert schemas["Ready"]["properties"]["checks"]["propertyNames"] == {
        "enum": list(READY_CHECKS)}


def test_readyz_documents_exactly_the_checks_it_runs():
    from issuer.http import openapi_models

    assert get_args(openapi_models.ReadyCheck) == READY_CHECKS
