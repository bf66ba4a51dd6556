"""Brute force (ATTACKS.md 15): repeated failures for one client id or one address get
429 with Retry-After; the brake lifts when the window passes (no permanent lockout)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_env import make_issuer

from issuer.oauth.throttle import FailureThrottle, TooManyFailures


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_unit_window():
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60, clock=clock)
    for _ in range(3):
        throttle.check(["k"])
        throttle.record_failure(["k"])
    with pytest.raises(TooManyFailures) as refused:
        throttle.check(["k"])
    assert refused.value.retry_after == 60
    throttle.check(["other"])  # other keys unaffected
    clock.now += 30
    with pytest.raises(TooManyFailures) as refused:
        throttle.check(["k"])
    assert refused.value.retry_after == 30
    clock.now += 31
    throttle.check(["k"])  # window passed: not locked out forever


def test_token_endpoint_slows_brute_force(databases, policy_file):
    clock = Clock()
    issuer = make_issuer(
        databases.new_url("sqlite"), policy_file, throttle=FailureThrottle(5, 60, clock)
    )
    victim = issuer.client(["orders:read"])
    cid, secret = victim.client.client_id, victim.client_secret
    form = {"grant_type": "client_credentials"}
    with TestClient(issuer.app()) as http:
        for _ in range(5):
            assert http.post("/oauth2/token", data=form, auth=(cid, "guess")).status_code == 401
        refused = http.post("/oauth2/token", data=form, auth=(cid, "guess"))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) == 60
        assert "error" in refused.json() and secret not in refused.text
        # The real secret waits too while the brake is on (no oracle), then works.
        assert http.post("/oauth2/token", data=form, auth=(cid, secret)).status_code == 429
        clock.now += 61
        assert http.post("/oauth2/token", data=form, auth=(cid, secret)).status_code == 200
    issuer.services.engine.dispose()
