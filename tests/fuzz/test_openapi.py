"""Schemathesis over the issuer's own OpenAPI document, in process (ASGI): every
operation it publishes (token, metadata, JWKS, health, admin, introspection, revocation:
whatever the app has) answers without a 5xx and, where the document describes the
answer, with a body that fits it. Requests carry credentials so the fuzzer gets past
authentication: an admin bearer token on /admin, a client's Basic credentials elsewhere.
"""

from __future__ import annotations

import re
from base64 import b64encode
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from helpers.issuer_env import make_issuer, make_settings, write_policy
from hypothesis import given
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from issuer.http.app import create_app
from issuer.services import build_services

from .conftest import FUZZ

ADMIN = "issuer:admin"

# Schemathesis parses `application/jwt` as JSON (its JSON_MEDIA_TYPES); a JWT is not JSON
# (RFC 7519 §10.3.1), so the revocation list's body is checked here instead.
NOT_JSON = {"/.well-known/revocations.jwt"}
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\Z")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    issuer = make_issuer(f"sqlite:///{tmp / 'fuzz.db'}", write_policy(tmp))
    client = issuer.client(["orders:read", "orders:write"], name="fuzzed")
    cid, secret = client.client.client_id, client.client_secret
    admin = issuer.client([ADMIN], name="fuzz admin")
    app = issuer.app()
    with TestClient(app) as http:  # runs the lifespan (first key) and mints the token
        token = http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "scope": ADMIN},
            auth=(admin.client.client_id, admin.client_secret),
        ).json()["access_token"]
        yield {
            "schema": schemathesis.openapi.from_asgi("/openapi.json", app),
            "admin": f"Bearer {token}",
            "basic": "Basic " + b64encode(f"{cid}:{secret}".encode()).decode(),
        }
    issuer.services.engine.dispose()


def _published_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation the app publishes, read at collection from an
    app that is built but never started (no database is touched)."""
    from issuer.settings import DEFAULT_POLICY_FILE

    settings = make_settings("sqlite://", Path(DEFAULT_POLICY_FILE))
    app = create_app(settings, build_services(settings))
    return sorted(
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


def _with_credentials(case, fuzzed) -> None:
    headers = dict(case.headers or {})
    if "authorization" not in {name.lower() for name in headers}:
        if case.path.startswith("/admin"):
            headers["Authorization"] = fuzzed["admin"]
        else:
            headers["Authorization"] = fuzzed["basic"]
    case.headers = headers


@pytest.mark.parametrize(("method", "path"), _published_operations())
def test_no_server_error_and_answers_fit_the_schema(fuzzed, method, path):
    operation = fuzzed["schema"][path][method]

    @FUZZ
    @given(case=operation.as_strategy())
    def fuzz(case):
        _with_credentials(case, fuzzed)
        if path in NOT_JSON:
            response = case.call_and_validate(checks=[not_a_server_error])
            assert response.status_code != 200 or COMPACT_JWS.match(response.text)
            return
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

    fuzz()
