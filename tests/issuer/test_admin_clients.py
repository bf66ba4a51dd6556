"""/admin/clients and /admin/audit: every verb's success, 404 for unknown ids, 422 for
bodies that do not validate (docs/threat-model.md §3), and a refused request changes nothing
(clients and audit count compared before and after)."""

from __future__ import annotations

import jwt
import pytest
from helpers.issuer_admin import ADMIN, bearer, db_state, token_for
from helpers.issuer_env import BILLING, ISSUER_URL, ORDERS


@pytest.fixture
def target(admin_env):
    _issuer, _clock, http, _admin = admin_env
    response = http.post("/admin/clients", json={"name": "target", "scopes": ["orders:read"]})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_shows_the_secret_once(admin_env):
    _issuer, _clock, http, admin = admin_env
    response = http.post(
        "/admin/clients",
        json={"name": "svc", "scopes": ["orders:read", "billing:read"],
              "audiences": [BILLING, ORDERS], "default_scopes": ["billing:read"],
              "token_lifetime": 600},
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    assert created["audiences"] == [BILLING, ORDERS] and created["token_lifetime"] == 600
    assert created["default_scopes"] == ["billing:read"] and created["enabled"] is True
    cid, secret = created["client_id"], created["client_secret"]
    shown = http.get(f"/admin/clients/{cid}")
    assert shown.status_code == 200 and "client_secret" not in shown.json()
    assert secret not in shown.text
    token = token_for(http, cid, secret)  # the secret works, default scope and audience
    assert token
    audit = http.get("/admin/audit", params={"limit": 1}).json()["items"][0]
    assert audit["action"] == "client.create" and audit["target"] == cid
    assert audit["actor"] == admin.client.client_id and audit["source"] == "testclient"
    assert audit["changes"]["scopes"] == ["orders:read", "billing:read"]


def test_admin_client_gets_the_issuer_audience(admin_env):
    _issuer, _clock, http, _admin = admin_env
    created = http.post("/admin/clients", json={"name": "second admin", "scopes": [ADMIN]}).json()
    token = token_for(http, created["client_id"], created["client_secret"])
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == ISSUER_URL
    assert http.get("/admin/keys", headers=bearer(token)).status_code == 200


def test_list_pages_with_a_cursor(admin_env):
    _issuer, _clock, http, _admin = admin_env
    for n in range(5):
        http.post("/admin/clients", json={"name": f"page {n}", "scopes": ["orders:read"]})
    everyone = http.get("/admin/clients", params={"limit": 100}).json()["items"]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = http.get("/admin/clients", params=params).json()
        assert len(page["items"]) <= 2
        seen += [c["client_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["client_id"] for c in everyone]
    assert len(set(seen)) == len(seen) >= 6
    assert all("secret" not in key for c in everyone for key in c)


def test_update_every_field(admin_env, target):
    _issuer, _clock, http, _admin = admin_env
    cid = target["client_id"]
    body = {"name": "renamed", "scopes": ["orders:read", "orders:write"],
            "default_scopes": ["orders:read"], "token_lifetime": 120, "enabled": False}
    response = http.patch(f"/admin/clients/{cid}", json=body)
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in body} == body
    # Adding an API's scope needs its audience: given explicitly, both change together.
    response = http.patch(f"/admin/clients/{cid}", json={
        "scopes": ["orders:read", "billing:read"], "audiences": [ORDERS, BILLING],
        "token_lifetime": None, "enabled": True})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["audiences"] == [ORDERS, BILLING] and updated["token_lifetime"] is None
    assert updated["default_scopes"] == ["orders:read"]  # kept: still among the scopes
    record = http.get("/admin/audit", params={"limit": 1}).json()["items"][0]
    assert record["action"] == "client.update"
    assert record["changes"]["token_lifetime"] == {"from": 120, "to": None}
    assert set(record["changes"]) == {"scopes", "audiences", "token_lifetime", "enabled"}


def test_disable_enable_and_the_token_endpoint(admin_env, target):
    _issuer, _clock, http, _admin = admin_env
    cid, secret = target["client_id"], target["client_secret"]
    assert http.patch(f"/admin/clients/{cid}", json={"enabled": False}).status_code == 200
    refused = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                        auth=(cid, secret))
    assert refused.status_code == 401  # read from the database: no stale client cache
    assert http.get("/admin/audit").json()["items"][0]["action"] == "client.disable"
    assert http.patch(f"/admin/clients/{cid}", json={"enabled": True}).status_code == 200
    assert http.get("/admin/audit").json()["items"][0]["action"] == "client.enable"
    assert token_for(http, cid, secret)


def test_patch_without_change_writes_nothing(admin_env, target):
    issuer, _clock, http, _admin = admin_env
    before = db_state(issuer)
    response = http.patch(f"/admin/clients/{target['client_id']}", json={"name": "target"})
    assert response.status_code == 200
    assert db_state(issuer) == before


def test_rotate_secret_and_delete(admin_env, target):
    _issuer, _clock, http, _admin = admin_env
    cid = target["client_id"]
    response = http.post(f"/admin/clients/{cid}/secret")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    rotated = response.json()
    assert set(rotated) == {"client_id", "client_secret", "previous_secret_valid_until"}
    assert rotated["client_secret"] != target["client_secret"]
    assert token_for(http, cid, rotated["client_secret"])
    assert http.delete(f"/admin/clients/{cid}").status_code == 204
    assert http.get(f"/admin/clients/{cid}").status_code == 404
    record = http.get("/admin/audit").json()["items"][0]
    assert (record["action"], record["target"]) == ("client.delete", cid)


UNKNOWN = [
    ("GET", "/admin/clients/c_nobody", None),
    ("PATCH", "/admin/clients/c_nobody", {"name": "x"}),
    ("POST", "/admin/clients/c_nobody/secret", None),
    ("DELETE", "/admin/clients/c_nobody", None),
]


@pytest.mark.parametrize(("method", "path", "body"), UNKNOWN, ids=[f"{m}" for m, _, _ in UNKNOWN])
def test_unknown_client_is_404(admin_env, method, path, body):
    issuer, _clock, http, _admin = admin_env
    before = db_state(issuer)
    response = http.request(method, path, json=body)
    assert response.status_code == 404, response.text
    assert db_state(issuer) == before


RAW = {"Content-Type": "application/json"}
INVALID = [
    # (id, method, path, body as JSON value or raw bytes, text the message must contain)
    ("malformed-json", "POST", "/admin/clients", b'{"name": "x",', "JSON"),
    ("not-an-object", "POST", "/admin/clients", [1, 2], ""),
    ("unknown-field", "POST", "/admin/clients",
     {"name": "x", "scopes": ["orders:read"], "role": "root"}, "Extra inputs"),
    ("missing-name", "POST", "/admin/clients", {"scopes": ["orders:read"]}, "Field required"),
    ("scopes-a-string", "POST", "/admin/clients", {"name": "x", "scopes": "orders:read"}, ""),
    ("lifetime-a-string", "POST", "/admin/clients",
     {"name": "x", "scopes": ["orders:read"], "token_lifetime": "600"}, ""),
    ("lifetime-too-long", "POST", "/admin/clients",
     {"name": "x", "scopes": ["orders:read"], "token_lifetime": 10**6}, ""),
    ("empty-scopes", "POST", "/admin/clients", {"name": "x", "scopes": []}, ""),
    ("undeclared-scope", "POST", "/admin/clients",
     {"name": "x", "scopes": ["orders:delete"]}, "orders:delete"),
    ("unknown-audience", "POST", "/admin/clients",
     {"name": "x", "scopes": ["orders:read"], "audiences": ["https://nope.example"]},
     "https://nope.example"),
    ("scope-outside-audiences", "POST", "/admin/clients",
     {"name": "x", "scopes": ["orders:read"], "audiences": [BILLING]}, "orders:read"),
    ("default-not-among-scopes", "POST", "/admin/clients",
     {"name": "x", "scopes": ["orders:read"], "default_scopes": ["orders:write"]},
     "orders:write"),
    ("private-key-jwt", "POST", "/admin/clients",
     {"name": "x", "scopes": ["orders:read"], "auth_method": "private_key_jwt"}, ""),
    ("patch-unknown-field", "PATCH", "/admin/clients/{cid}", {"secret_hash": "00"},
     "Extra inputs"),
    ("patch-null-name", "PATCH", "/admin/clients/{cid}", {"name": None}, "cannot be null"),
    ("patch-enabled-string", "PATCH", "/admin/clients/{cid}", {"enabled": "false"}, ""),
    ("patch-undeclared-scope", "PATCH", "/admin/clients/{cid}",
     {"scopes": ["billing:write"]}, "billing:write"),
    ("patch-scope-needs-audience", "PATCH", "/admin/clients/{cid}",
     {"scopes": ["billing:read"]}, "billing:read"),
    ("patch-malformed", "PATCH", "/admin/clients/{cid}", b"{", "JSON"),
    ("secret-unknown-field", "POST", "/admin/clients/{cid}/secret", {"grace": 5}, "Extra"),
    ("secret-negative-grace", "POST", "/admin/clients/{cid}/secret",
     {"grace_seconds": -1}, ""),
    ("list-limit-too-large", "GET", "/admin/clients?limit=101", None, ""),
    ("list-bad-cursor", "GET", "/admin/clients?cursor=%%%", None, "cursor"),
    ("audit-limit-zero", "GET", "/admin/audit?limit=0", None, ""),
    ("audit-bad-cursor", "GET", "/admin/audit?cursor=WyJ4Il0", None, "cursor"),
]


@pytest.mark.parametrize(("method", "path", "body", "says"),
                         [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_request_is_422_and_changes_nothing(admin_env, target, method, path, body, says):
    issuer, _clock, http, _admin = admin_env
    url = path.format(cid=target["client_id"])
    before = db_state(issuer)
    if isinstance(body, bytes):
        response = http.request(method, url, content=body, headers=RAW)
    else:
        response = http.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert says in response.text
    assert "Traceback" not in response.text
    assert db_state(issuer) == before
