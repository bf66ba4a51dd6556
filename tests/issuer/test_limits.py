"""Every size limit of the issuer in one table: each is refused with a clear 4xx (never
a 5xx, never accepted), and the largest token the issuer can mint stays under the
authorizer's 8 KiB token limit."""

from __future__ import annotations

import json

import pytest
from helpers.issuer_admin import ADMIN, bearer, token_for

from issuer.http.body_limit import MAX_JSON_BODY
from issuer.http.oauth.form import MAX_BODY_BYTES, MAX_FIELDS
from issuer.oauth.scopes import MAX_SCOPE_LENGTH
from issuer.store.paging import MAX_LIMIT
from shared.jws import MAX_TOKEN_BYTES

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
GRANT = "grant_type=client_credentials"


def _client(scopes: int = 1, **extra) -> bytes:
    return json.dumps({"name": "x", "scopes": ["orders:read"] * scopes, **extra}).encode()


# (id, method, path, headers kind, body, expected status, expected error code or None)
LIMITS = [
    (
        "token body over 8 KiB",
        "POST",
        "/oauth2/token",
        "basic",
        f"{GRANT}&scope={'a' * MAX_BODY_BYTES}".encode(),
        400,
        "invalid_request",
    ),
    (
        "token form with too many fields",
        "POST",
        "/oauth2/token",
        "basic",
        (GRANT + "".join(f"&f{n}=1" for n in range(MAX_FIELDS + 1))).encode(),
        400,
        "invalid_request",
    ),
    (
        "token scope string over 2 KiB",
        "POST",
        "/oauth2/token",
        "basic",
        f"{GRANT}&scope={'orders:read%20' * (MAX_SCOPE_LENGTH // 12 + 1)}".encode(),
        400,
        "invalid_request",
    ),
    (
        "admin body over 64 KiB",
        "POST",
        "/admin/clients",
        "admin",
        _client(audiences=["x" * 400] * 200),
        413,
        None,
    ),
    (
        "admin body over 64 KiB, declared length",
        "POST",
        "/admin/clients",
        "admin",
        b" " * (MAX_JSON_BODY + 1),
        413,
        None,
    ),
    ("admin: more than 100 scopes", "POST", "/admin/clients", "admin", _client(101), 422, None),
    (
        "admin: more than 20 audiences",
        "POST",
        "/admin/clients",
        "admin",
        _client(audiences=["https://api.example.test/orders"] * 21),
        422,
        None,
    ),
    (
        "admin page size over 100 (clients)",
        "GET",
        f"/admin/clients?limit={MAX_LIMIT + 1}",
        "admin",
        None,
        422,
        None,
    ),
    (
        "admin page size over 100 (audit)",
        "GET",
        f"/admin/audit?limit={MAX_LIMIT + 1}",
        "admin",
        None,
        422,
        None,
    ),
    ("bearer token over 8 KiB", "GET", "/admin/clients", "huge", None, 401, None),
]


@pytest.fixture(scope="module")
def admin_token(http, issuer):
    admin = issuer.client([ADMIN], name="limits admin")
    return token_for(http, admin.client.client_id, admin.client_secret, ADMIN)


@pytest.mark.parametrize(
    ("method", "path", "auth", "body", "status", "error"),
    [pytest.param(*row[1:], id=row[0]) for row in LIMITS],
)
def test_limit_refused(http, reader, admin_token, method, path, auth, body, status, error):
    headers = dict(FORM if path.startswith("/oauth2") else JSON)
    if auth == "admin":
        headers.update(bearer(admin_token))
    elif auth == "huge":
        headers.update(bearer("a" * (MAX_TOKEN_BYTES + 1)))
    kwargs = {"auth": (reader.client.client_id, reader.client_secret)} if auth == "basic" else {}
    response = http.request(method, path, content=body, headers=headers, **kwargs)
    assert response.status_code == status, response.text[:300]
    if error:
        assert response.json()["error"] == error
    else:
        assert response.json()  # a JSON explanation, not an empty or HTML body


def test_chunked_admin_body_over_the_limit_is_refused(http, admin_token):
    def chunks():
        for _ in range(MAX_JSON_BODY // 4096 + 2):
            yield b" " * 4096

    response = http.post(
        "/admin/clients", content=chunks(), headers={**JSON, **bearer(admin_token)}
    )
    assert response.status_code == 413


def test_largest_token_fits_the_authorizer(http, issuer):
    """Every scope of the policy on one token, the longest audience: under 8 KiB."""
    api = max(issuer.services.policy.apis.values(), key=lambda a: len(a.scopes))
    client = issuer.client(sorted(api.scopes), name="all scopes")
    token = token_for(
        http, client.client.client_id, client.client_secret, " ".join(sorted(api.scopes))
    )
    assert len(token.encode()) < MAX_TOKEN_BYTES
