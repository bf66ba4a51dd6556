"""Property: whatever the body or scope, the token endpoint answers a 4xx OAuth error
(or 200), never a 500 (docs/threat-model.md §2)."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(scope=st.text(min_size=1, max_size=300))
def test_any_scope_text(http, reader, scope):
    body = "grant_type=client_credentials&scope=" + quote(scope, safe="")
    response = http.post(
        "/oauth2/token",
        content=body.encode(),
        headers=FORM,
        auth=(reader.client.client_id, reader.client_secret),
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"] in ("invalid_request", "invalid_scope")


@FUZZ
@given(body=st.binary(max_size=600))
def test_any_body_bytes(http, reader, body):
    response = http.post(
        "/oauth2/token",
        content=body,
        headers=FORM,
        auth=(reader.client.client_id, reader.client_secret),
    )
    assert response.status_code in (200, 400, 401), response.text
    assert "error" in response.json() or "access_token" in response.json()
