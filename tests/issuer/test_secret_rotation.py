"""Client secret rotation on an injected clock: both secrets work during the grace
period, only the new one after it; `grace_seconds: 0` ends the old one at once; a second
rotation inside the grace period never leaves three valid secrets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_admin import ADMIN, bearer, clocked_issuer, token_for

GRACE = 3600


@pytest.fixture(scope="module")
def env(db_kind, databases, policy_file):
    issuer, clock = clocked_issuer(
        databases.new_url(db_kind), policy_file, ISSUER_SECRET_ROTATION_GRACE=str(GRACE)
    )
    with TestClient(issuer.app()) as http:
        yield issuer, clock, http, issuer.client([ADMIN], name="admin")
    issuer.services.engine.dispose()


def status(http, cid: str, secret: str) -> int:
    """The token endpoint's status for a client_credentials grant with this secret."""
    return http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                     auth=(cid, secret)).status_code


def rotate(env, cid: str, body: dict | None = None) -> dict:
    _issuer, _clock, http, admin = env
    headers = bearer(token_for(http, admin.client.client_id, admin.client_secret))
    response = http.post(f"/admin/clients/{cid}/secret", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def svc(env):
    issuer = env[0]
    new = issuer.client(["orders:read"], name="svc")
    return new.client.client_id, new.client_secret


def test_both_secrets_work_during_the_grace_period_only(env, svc):
    _issuer, clock, http, _admin = env
    cid, old = svc
    rotated = rotate(env, cid)
    new = rotated["client_secret"]
    until = clock.now + timedelta(seconds=GRACE)
    assert rotated["previous_secret_valid_until"] == until.isoformat()
    assert status(http, cid, old) == status(http, cid, new) == 200
    clock.advance(GRACE - 1)
    assert status(http, cid, old) == status(http, cid, new) == 200
    clock.advance(1)  # valid *until*: at the instant itself it no longer works
    assert status(http, cid, old) == 401
    assert status(http, cid, new) == 200


def test_zero_grace_ends_the_old_secret_at_once(env, svc):
    _issuer, _clock, http, _admin = env
    cid, old = svc
    rotated = rotate(env, cid, {"grace_seconds": 0})
    assert rotated["previous_secret_valid_until"] is None
    assert status(http, cid, old) == 401
    assert status(http, cid, rotated["client_secret"]) == 200


def test_grace_override_and_never_three_secrets(env, svc):
    _issuer, clock, http, _admin = env
    cid, first = svc
    second = rotate(env, cid, {"grace_seconds": 60})["client_secret"]
    clock.advance(10)
    third = rotate(env, cid)["client_secret"]
    assert status(http, cid, first) == 401  # pushed out by the second rotation
    assert status(http, cid, second) == status(http, cid, third) == 200
    clock.advance(GRACE)
    assert status(http, cid, second) == 401
    assert status(http, cid, third) == 200
