"""One error body for the whole HTTP API (issuer/http/errors.py): `{"error",
"error_description"}`, plus `details` on a 422 for input that does not validate. Each
status the admin API can answer is asserted with its exact code; the OAuth endpoints keep
RFC 6749 §5.2's body (the same two members)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_admin import bearer, token_for
from sqlalchemy.exc import OperationalError

from issuer.http.body_limit import MAX_JSON_BODY

PAIR = {"error", "error_description"}


def _check(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str) and body["error_description"]
    assert "detail" not in body  # FastAPI's own shape is never sent
    return body


def test_401_without_token(admin_env):
    _issuer, _clock, http, _admin = admin_env
    response = http.get("/admin/clients", headers={"Authorization": ""})
    assert set(_check(response, 401, "invalid_token")) == PAIR


def test_401_bad_token(admin_env):
    _issuer, _clock, http, _admin = admin_env
    response = http.get("/admin/clients", headers={"Authorization": "Bearer not.a.token"})
    assert set(_check(response, 401, "invalid_token")) == PAIR


def test_403_client_no_longer_admin(admin_env):
    issuer, _clock, http, _admin = admin_env
    other = issuer.client(["issuer:admin"], name="demoted")
    token = token_for(http, other.client.client_id, other.client_secret)
    demote = http.patch(
        f"/admin/clients/{other.client.client_id}", json={"scopes": ["orders:read"]}
    )
    assert demote.status_code == 200
    response = http.get("/admin/keys", headers=bearer(token))
    assert set(_check(response, 403, "insufficient_scope")) == PAIR


def test_404_unknown_client(admin_env):
    _issuer, _clock, http, _admin = admin_env
    body = _check(http.get("/admin/clients/c_nobody"), 404, "not_found")
    assert body == {"error": "not_found", "error_description": "no client 'c_nobody'"}


def test_404_unknown_route(admin_env):
    _issuer, _clock, http, _admin = admin_env
    assert set(_check(http.get("/admin/nothing-here"), 404, "not_found")) == PAIR


def test_405_wrong_method_keeps_allow(admin_env):
    _issuer, _clock, http, _admin = admin_env
    response = http.put("/admin/keys", json={})
    assert set(_check(response, 405, "method_not_allowed")) == PAIR
    assert response.headers["allow"] == "GET"


def test_413_body_too_large(admin_env):
    _issuer, _clock, http, _admin = admin_env
    response = http.post(
        "/admin/clients",
        content=b" " * (MAX_JSON_BODY + 1),
        headers={"Content-Type": "application/json"},
    )
    body = _check(response, 413, "request_too_large")
    assert body == {
        "error": "request_too_large",
        "error_description": f"the request body is larger than {MAX_JSON_BODY} bytes",
    }


def test_422_validation_lists_details_without_input(admin_env):
    _issuer, _clock, http, _admin = admin_env
    response = http.post(
        "/admin/clients", json={"name": "x", "scopes": ["orders:read"], "role": "s3cret-root"}
    )
    body = _check(response, 422, "invalid_request")
    assert set(body) == PAIR | {"details"}
    assert body["details"] == [
        {
            "loc": ["body", "role"],
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]
    assert body["error_description"] == "body.role: Extra inputs are not permitted"
    assert "s3cret" not in response.text


def test_422_several_errors_are_counted(admin_env):
    _issuer, _clock, http, _admin = admin_env
    body = _check(http.post("/admin/clients", json={}), 422, "invalid_request")
    assert len(body["details"]) == 2
    assert body["error_description"].endswith("(and 1 more in details)")


def test_422_policy_refusal_is_invalid_client_metadata(admin_env):
    _issuer, _clock, http, _admin = admin_env
    response = http.post("/admin/clients", json={"name": "x", "scopes": ["orders:delete"]})
    body = _check(response, 422, "invalid_client_metadata")
    assert set(body) == PAIR
    assert "orders:delete" in body["error_description"]


def test_422_bad_query_parameter(admin_env):
    _issuer, _clock, http, _admin = admin_env
    body = _check(http.get("/admin/audit?limit=0"), 422, "invalid_request")
    assert body["details"][0]["loc"] == ["query", "limit"]


def test_422_bad_cursor(admin_env):
    _issuer, _clock, http, _admin = admin_env
    body = _check(http.get("/admin/clients?cursor=%25%25"), 422, "invalid_request")
    assert body == {"error": "invalid_request", "error_description": "cursor is not valid"}


def test_503_database_error(admin_env, monkeypatch, caplog):
    _issuer, _clock, http, _admin = admin_env

    def down(*args, **kwargs):
        raise OperationalError(
            "SELECT secret_hash FROM clients WHERE client_id = ?",
            ("hash-s3cret",),
            Exception('connection to "postgresql://tollgate:pa55word@db/tollgate" failed'),
        )

    monkeypatch.setattr("issuer.http.admin.clients.client_admin.client_page", down)
    response = http.get("/admin/clients")
    body = _check(response, 503, "temporarily_unavailable")
    assert set(body) == PAIR
    assert response.headers["retry-after"] == "2"
    logged = [r.getMessage() for r in caplog.records if "database_error" in r.getMessage()]
    assert len(logged) == 1
    assert '"error": "OperationalError"' in logged[0]
    assert "postgresql://tollgate:***@db/tollgate" in logged[0]
    assert "pa55word" not in logged[0] and "s3cret" not in logged[0]
    assert "SELECT" not in logged[0]


def test_500_unexpected(admin_env, monkeypatch):
    issuer, _clock, http, _admin = admin_env

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("issuer.http.admin.clients.client_admin.client_page", explode)
    with TestClient(issuer.app(), raise_server_exceptions=False) as other:
        response = other.get(
            "/admin/clients", headers={"Authorization": http.headers["authorization"]}
        )
    body = _check(response, 500, "server_error")
    assert set(body) == PAIR and "boom" not in response.text


# -- the OAuth endpoints keep RFC 6749 §5.2's body --------------------------------------


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        ({"grant_type": "password"}, True, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, False, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "scope": "orders:nope"}, True, 400, "invalid_scope"),
    ],
)
def test_token_endpoint_errors_are_rfc6749(http, reader, data, auth, status, error):
    credentials = (reader.client.client_id, reader.client_secret) if auth else None
    response = http.post("/oauth2/token", data=data, auth=credentials)
    assert set(_check(response, status, error)) == PAIR


def test_token_endpoint_405_same_shape(http):
    response = http.get("/oauth2/token")
    assert set(_check(response, 405, "method_not_allowed")) == PAIR
    assert response.headers["allow"] == "POST"
