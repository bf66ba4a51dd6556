"""The audit trail and secrecy over a full admin session: a change and its record are
one transaction; no response (other than the one that shows a secret once), log line or
audit record carries a client secret or a secret hash."""

from __future__ import annotations

import json
import logging

import pytest
from helpers.issuer_admin import clocked_http, db_state
from sqlalchemy import select

from issuer.audit import Actor
from issuer.audit import record as real_record
from issuer.clients import admin as client_admin
from issuer.store.audit_tables import AuditRecord
from issuer.store.models import Client
from issuer.store.paging import encode_cursor
from shared.b64 import b64url_encode


@pytest.fixture
def env(db_kind, databases, policy_file):
    """A fresh admin issuer per test: some tests break its audit writes."""
    with clocked_http(databases.new_url(db_kind), policy_file, admin=True) as env:
        yield env


def test_a_change_whose_audit_record_fails_is_not_made(env, monkeypatch):
    issuer, _clock, http, _admin = env
    cid = http.post("/admin/clients", json={"name": "x", "scopes": ["orders:read"]}).json()[
        "client_id"
    ]

    def broken_record(session, actor, action, target, changes, now=None):
        row = real_record(session, actor, action, target, changes, now)
        row.actor = None  # NOT NULL: the database refuses the record at commit
        return row

    monkeypatch.setattr(client_admin, "record", broken_record)
    before = db_state(issuer)
    requests = [
        ("POST", "/admin/clients", {"name": "y", "scopes": ["orders:read"]}),
        ("PATCH", f"/admin/clients/{cid}", {"name": "renamed"}),
        ("POST", f"/admin/clients/{cid}/secret", None),
        ("DELETE", f"/admin/clients/{cid}", None),
    ]
    for method, path, body in requests:
        response = http.request(method, path, json=body)
        assert response.status_code == 503, response.text
        assert "client_secret" not in response.text
        assert db_state(issuer) == before


def test_cli_and_api_records_name_their_actor(env):
    issuer, clock, http, admin = env
    with issuer.services.sessions() as session:
        client_admin.register(session, issuer.services.hasher, issuer.services.policy,
                              Actor("cli:ops", "local"), clock(), name="z",
                              scopes=["orders:read"])
    http.post("/admin/clients", json={"name": "w", "scopes": ["orders:read"]})
    first, second = http.get("/admin/audit", params={"limit": 2}).json()["items"]
    assert (first["actor"], second["actor"]) == (admin.client.client_id, "cli:ops")
    assert first["id"] > second["id"]  # newest first
    assert first["at"] == clock().isoformat()


def test_no_secret_or_hash_anywhere_after_a_full_session(env, caplog):
    issuer, clock, http, admin = env
    caplog.set_level(logging.DEBUG)
    secrets: dict[str, int] = {}  # secret -> index of the one response allowed to show it
    seen: list[str] = []
    hashes: set[str] = set()

    def keep(response):
        seen.append(response.text + json.dumps(dict(response.headers)))
        return response

    def shown_once(response):
        keep(response)
        secrets[response.json()["client_secret"]] = len(seen) - 1
        collect_hashes()
        return response.json()

    def collect_hashes():
        with issuer.services.sessions() as session:
            for row in session.scalars(select(Client)):
                hashes.update(h for h in (row.secret_hash, row.previous_secret_hash) if h)

    secrets[admin.client_secret] = -1
    created = shown_once(http.post("/admin/clients", json={
        "name": "svc", "scopes": ["orders:read", "billing:read"]}))
    cid = created["client_id"]
    keep(http.get("/admin/clients"))
    keep(http.get(f"/admin/clients/{cid}"))
    keep(http.patch(f"/admin/clients/{cid}", json={"name": "svc2", "token_lifetime": 300}))
    keep(http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                   auth=(cid, created["client_secret"])))
    rotated = shown_once(http.post(f"/admin/clients/{cid}/secret", json={"grace_seconds": 60}))
    again = shown_once(http.post(f"/admin/clients/{cid}/secret"))
    for secret in (rotated["client_secret"], again["client_secret"], "wrong-" + cid):
        keep(http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                       auth=(cid, secret)))
    keep(http.post("/oauth2/token", data={"grant_type": "client_credentials",
                                          "client_id": cid, "client_secret": "guess"}))
    keep(http.patch(f"/admin/clients/{cid}", json={"enabled": False}))
    keep(http.patch(f"/admin/clients/{cid}", json={"secret_hash": "x"}))  # refused, 422
    keep(http.post("/admin/keys/rotate"))
    keep(http.get("/admin/keys"))
    clock.advance(60)
    keep(http.delete(f"/admin/clients/{cid}"))
    keep(http.get("/admin/audit", params={"limit": 100}))

    with issuer.services.sessions() as session:
        records = [
            json.dumps([r.actor, r.action, r.target, r.source, r.changes])
            for r in session.scalars(select(AuditRecord))
        ]
    assert len(records) >= 7
    logs = [rec.getMessage() for rec in caplog.records]
    assert any('"event": "token_issued"' in line for line in logs)
    hashes.update(issuer.services.hasher.hash(s) for s in secrets)
    for name, texts in (("response", seen), ("log", logs), ("audit", records)):
        for i, text in enumerate(texts):
            for secret, allowed in secrets.items():
                if not (name == "response" and i == allowed):
                    assert secret not in text, f"{name} {i} shows a secret"
            for digest in hashes:
                assert digest not in text, f"{name} {i} shows a secret hash"


# -- paging cursors (issue 12, item 16): a cursor we did not issue is 422, never 500 ----


def _cursor(position) -> str:
    return encode_cursor(position)


BAD_AUDIT_CURSORS = {
    "int-1e400": _cursor([10**400]),  # SQLite: OverflowError binding it
    "int-2^63": _cursor([2**63]),  # SQLite: OverflowError; PostgreSQL: DataError
    "int-2^31": _cursor([2**31]),  # past PostgreSQL's integer id column
    "zero": _cursor([0]),
    "negative": _cursor([-1]),
    "bool": _cursor([True]),
    "float": _cursor([1.5]),
    "string": _cursor(["1"]),
    "two-members": _cursor([1, 2]),
    "nan": "W05hTl0",  # b64url('[NaN]')
    "not-base64": "***",
    "not-json": "bm90IGpzb24",
    "digits-5000": b64url_encode(b"[" + b"9" * 5000 + b"]"),  # past int's 4300-digit limit
    "nested": _cursor([[1]]),
}


def test_audit_cursor_we_issue_pages_on(admin_env):
    http = admin_env[2]
    for name in ("p1", "p2", "p3"):
        http.post("/admin/clients", json={"name": name, "scopes": ["orders:read"]})
    first = http.get("/admin/audit", params={"limit": 2}).json()
    second = http.get("/admin/audit", params={"limit": 2, "cursor": first["next_cursor"]})
    assert second.status_code == 200
    assert second.json()["items"][0]["id"] < first["items"][-1]["id"]
    # The largest id a cursor may carry is still a cursor (an empty page past it is not).
    top = http.get("/admin/audit", params={"cursor": _cursor([2**31 - 1])})
    assert top.status_code == 200 and top.json()["items"][0]["id"] == first["items"][0]["id"]


BAD_CLIENT_CURSORS = {
    "naive-time": _cursor(["2024-01-01T00:00:00", "c_x"]),  # ValueError in the binder
    "year-1-east": _cursor(["0001-01-01T00:00:00+01:00", "c_x"]),  # UTC before year 1
    "nul-id": _cursor(["2024-01-01T00:00:00+00:00", "c_\x00"]),  # PostgreSQL refuses NUL
    "int-id": _cursor(["2024-01-01T00:00:00+00:00", 10**400]),
    "time-not-string": _cursor([1704067200, "c_x"]),
    "not-a-time": _cursor(["yesterday", "c_x"]),
    "one-member": _cursor(["2024-01-01T00:00:00+00:00"]),
    "long-id": _cursor(["2024-01-01T00:00:00+00:00", "c_" + "x" * 100]),
}


BAD_TRUSTED_ISSUER_CURSORS = {
    "nul-id": _cursor(["2024-01-01T00:00:00+00:00", "ti_\x00"]),  # PostgreSQL refuses NUL
    "long-id": _cursor(["2024-01-01T00:00:00+00:00", "ti_" + "x" * 100]),
    "client-id": _cursor(["2024-01-01T00:00:00+00:00", "c_x"]),
    "naive-time": _cursor(["2024-01-01T00:00:00", "ti_x"]),
}


BAD_CURSORS = [
    *(pytest.param("/admin/audit", c, id=f"audit-{k}") for k, c in BAD_AUDIT_CURSORS.items()),
    *(pytest.param("/admin/clients", c, id=f"clients-{k}")
      for k, c in BAD_CLIENT_CURSORS.items()),
    *(pytest.param("/admin/trusted-issuers", c, id=f"trusted-issuers-{k}")
      for k, c in BAD_TRUSTED_ISSUER_CURSORS.items()),
]


@pytest.mark.parametrize(("path", "cursor"), BAD_CURSORS)
def test_cursor_we_did_not_issue_is_422(admin_env, path, cursor):
    http = admin_env[2]
    response = http.get(path, params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "invalid_request", "error_description": "cursor is not valid"
    }


def test_clients_cursor_we_issue_pages_on(admin_env):
    http = admin_env[2]
    for name in ("c1", "c2", "c3"):
        http.post("/admin/clients", json={"name": name, "scopes": ["orders:read"]})
    first = http.get("/admin/clients", params={"limit": 2}).json()
    second = http.get("/admin/clients", params={"limit": 2, "cursor": first["next_cursor"]})
    assert second.status_code == 200
    ids = [c["client_id"] for c in first["items"] + second.json()["items"]]
    assert len(ids) == len(set(ids)) >= 3
