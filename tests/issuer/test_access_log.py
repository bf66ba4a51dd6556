"""The issuer's JSON access log (issuer/http/access_log.py): one line per request, the token
endpoint's success logged once (token_issued), no query string, header or body."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from issuer.http.body_limit import MAX_JSON_BODY

FORM = {"grant_type": "client_credentials"}


@pytest.fixture
def lines(caplog):
    def read() -> list[dict]:
        return [json.loads(r.getMessage()) for r in caplog.records
                if r.name in ("issuer.http", "issuer.tokens")]

    with caplog.at_level(logging.INFO):
        yield read


def test_token_success_is_one_line_its_token_issued_event(http, reader, lines):
    response = http.post("/oauth2/token", data=FORM,
                         auth=(reader.client.client_id, reader.client_secret))
    assert response.status_code == 200
    assert [e["event"] for e in lines()] == ["token_issued"]


def test_token_failure_is_logged_with_its_status(http, reader, lines):
    response = http.post("/oauth2/token", data=FORM, auth=(reader.client.client_id, "wrong"))
    assert response.status_code == 401
    access = [e for e in lines() if e["event"] == "http_request"]
    assert len(access) == 1
    line = access[0]
    assert (line["method"], line["path"], line["status"]) == ("POST", "/oauth2/token", 401)
    assert line["client"] == "testclient"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert "wrong" not in json.dumps(lines())


def test_no_query_string_or_header_is_written(http, lines):
    response = http.get("/admin/clients", params={"cursor": "q-s3cret"},
                        headers={"Authorization": "Bearer h-s3cret"})
    assert response.status_code == 401
    access = [e for e in lines() if e["event"] == "http_request"]
    assert [(e["path"], e["status"]) for e in access] == [("/admin/clients", 401)]
    assert "s3cret" not in json.dumps(lines())  # (httpx's own log shows the URL)


def test_refused_body_is_logged(http, lines):
    response = http.post("/admin/clients", content=b"x" * (MAX_JSON_BODY + 1),
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert [(e["path"], e["status"]) for e in lines() if e["event"] == "http_request"] == [
        ("/admin/clients", 413)
    ]


def test_crash_is_logged_as_500(issuer, monkeypatch, lines):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("issuer.http.oauth.token.grant_client_credentials", explode)
    new = issuer.client(["orders:read"])
    with TestClient(issuer.app(), raise_server_exceptions=False) as client:
        response = client.post("/oauth2/token", data=FORM,
                               auth=(new.client.client_id, new.client_secret))
    assert response.status_code == 500
    access = [e for e in lines() if e["event"] == "http_request"]
    assert [(e["path"], e["status"]) for e in access] == [("/oauth2/token", 500)]
    assert "token_issued" not in [e["event"] for e in lines()]


def test_off_when_the_logger_is_off(http, caplog):
    """Written at INFO: an operator who sets issuer.http to WARNING gets no lines."""
    with caplog.at_level(logging.WARNING, logger="issuer.http"):
        http.get("/healthz")
    assert not [r for r in caplog.records if r.name == "issuer.http"]
