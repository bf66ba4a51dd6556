"""Brute force: past the limit, repeated failures for one client id or one address get
429 with Retry-After; the brake lifts when the window passes (no permanent lockout), and a
request whose credentials verify is never refused by it (tests/issuer/test_throttle_abuse.py).
Counts are shared through the database by every process; a good request pays no write."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_db import count_writes
from helpers.issuer_env import make_issuer
from sqlalchemy import func, select

from issuer.oauth.throttle import FailureThrottle, MemoryFailureStore, TooManyFailures
from issuer.oauth.throttle_store import DatabaseFailureStore
from issuer.store.throttle_tables import AuthFailure

FORM = {"grant_type": "client_credentials"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_unit_window():
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60, clock=clock)
    for _ in range(3):
        throttle.record_failure(["k"])
    with pytest.raises(TooManyFailures) as refused:
        throttle.record_failure(["k"])
    assert refused.value.retry_after == 60
    throttle.record_failure(["other"])  # other keys unaffected
    clock.now += 30
    with pytest.raises(TooManyFailures) as refused:
        throttle.record_failure(["k"])
    assert refused.value.retry_after == 30
    clock.now += 31
    throttle.record_failure(["k"])  # window passed: not locked out forever


def test_refused_failures_are_not_counted():
    """A failure past the limit is not stored: a flood cannot extend the block, and the
    store holds at most `limit` failures per key per window."""
    clock = Clock()
    store = MemoryFailureStore()
    throttle = FailureThrottle(limit=2, window=60, clock=clock, store=store)
    throttle.record_failure(["k", "a"])
    throttle.record_failure(["k", "b"])
    for _ in range(20):
        with pytest.raises(TooManyFailures):
            throttle.record_failure(["k", "c"])
    assert store.nth_newest("k", 0, 3) is None and store.nth_newest("k", 0, 2) is not None
    assert store.nth_newest("c", 0, 1) is None  # refused with k: nothing counted for c
    clock.now += 61
    throttle.record_failure(["k"])


def test_window_slides():
    """Failures spread out: the block lasts until the oldest counted failure leaves."""
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60, clock=clock)
    for _ in range(3):  # at t0, t0 + 20, t0 + 40
        throttle.record_failure(["k"])
        clock.now += 20
    clock.now -= 20
    with pytest.raises(TooManyFailures) as refused:
        throttle.record_failure(["k"])
    assert refused.value.retry_after == 20  # first failure at t0, now t0+40
    clock.now += 21
    throttle.record_failure(["k"])  # two failures left in the window: below the limit
    with pytest.raises(TooManyFailures):
        throttle.record_failure(["k"])


@pytest.fixture
def db_issuer(databases, db_kind, policy_file):
    issuer = make_issuer(databases.new_url(db_kind), policy_file)
    yield issuer
    issuer.services.engine.dispose()


def _throttle(issuer, clock, limit=5, window=60):
    return FailureThrottle(limit, window, clock, DatabaseFailureStore(issuer.services.sessions))


def test_processes_share_counts_through_the_database(db_issuer):
    """Two throttles = two workers on one database: failures add up across them, and a
    key at the limit is refused by every worker, one that never saw it fail included."""
    clock = Clock()
    a, b = _throttle(db_issuer, clock), _throttle(db_issuer, clock)
    keys = ["client:victim", "addr:203.0.113.9"]
    for worker in (a, b, a, b, a):  # the limit (5), spread over both
        worker.record_failure(keys)
    c = _throttle(db_issuer, clock)
    for worker in (a, b, c):
        with pytest.raises(TooManyFailures) as refused:
            worker.record_failure(keys)
        assert refused.value.retry_after == 60
    with db_issuer.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuthFailure)) == 10
    clock.now += 61
    for worker in (a, b, c):
        worker.record_failure(keys)  # lifted everywhere once the window passed


def test_failures_are_pruned(db_issuer):
    clock = Clock()
    throttle = _throttle(db_issuer, clock, window=10)
    throttle.record_failure(["client:x"])
    clock.now += 11
    throttle.record_failure(["client:y"])  # prunes what left the window
    with db_issuer.services.sessions() as session:
        assert session.scalars(select(AuthFailure.key)).all() == ["client:y"]


def test_token_endpoint_with_database_counts(db_issuer):
    """The whole endpoint on the database store, with an injected clock: 401s up to the
    limit, then 429 + Retry-After for the guesser, while the real secret still works; the
    guesser is heard again after the window; a good request writes nothing."""
    clock = Clock()
    db_issuer.services = db_issuer.services._replace(throttle=_throttle(db_issuer, clock))
    victim = db_issuer.client(["orders:read"])
    cid, secret = victim.client.client_id, victim.client_secret
    engine = db_issuer.services.engine
    with TestClient(db_issuer.app()) as http:
        writes, stop = count_writes(engine)
        try:
            assert http.post("/oauth2/token", data=FORM, auth=(cid, secret)).status_code == 200
            assert writes == []  # success: no throttle write (nor any other)
        finally:
            stop()
        for _ in range(5):
            assert http.post("/oauth2/token", data=FORM, auth=(cid, "guess")).status_code == 401
        refused = http.post("/oauth2/token", data=FORM, auth=(cid, "guess"))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "60"
        assert refused.headers["cache-control"] == "no-store"
        assert refused.json()["error"] == "temporarily_unavailable"
        assert secret not in refused.text
        assert http.post("/oauth2/token", data=FORM, auth=(cid, secret)).status_code == 200
        with db_issuer.services.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(AuthFailure))
        assert stored == 10  # 5 failures x (client key + address key); 429s not counted
        clock.now += 61
        assert http.post("/oauth2/token", data=FORM, auth=(cid, "guess")).status_code == 401


def test_address_key_brakes_failures_across_client_ids(databases, policy_file):
    clock = Clock()
    issuer = make_issuer(
        databases.new_url("sqlite"), policy_file, throttle=FailureThrottle(3, 60, clock)
    )
    with TestClient(issuer.app()) as http:
        for n in range(3):
            assert http.post("/oauth2/token", data=FORM, auth=(f"c{n}", "x")).status_code == 401
        refused = http.post("/oauth2/token", data=FORM, auth=("another", "x"))
        assert refused.status_code == 429
    issuer.services.engine.dispose()


@pytest.mark.parametrize("endpoint", ["/oauth2/introspect", "/oauth2/revoke"])
def test_failures_at_other_endpoints_spend_the_token_endpoints_budget(
    databases, policy_file, endpoint
):
    """Introspection and revocation authenticate clients too (RFC 7662 §2.1, RFC 7009
    §2.1): their failures count against the same keys, so failures naming a client id
    there are braked at the token endpoint, and the other way round."""
    clock = Clock()
    issuer = make_issuer(
        databases.new_url("sqlite"), policy_file, throttle=FailureThrottle(3, 60, clock)
    )
    victim = issuer.client(["orders:read"])
    cid = victim.client.client_id
    app = issuer.app()

    def peer(n):  # a client at its own address: only the client id key is shared
        return TestClient(app, client=(f"203.0.113.{n}", 40000))

    with peer(1) as first, peer(2) as second, peer(3) as third:
        for _ in range(2):
            assert first.post(endpoint, data={"token": "x"}, auth=(cid, "guess")).status_code \
                == 401
        assert second.post("/oauth2/token", data=FORM, auth=(cid, "guess")).status_code == 401
        assert third.post("/oauth2/token", data=FORM, auth=(cid, "guess")).status_code == 429
        assert third.post(endpoint, data={"token": "x"}, auth=(cid, "guess")).status_code == 429
    issuer.services.engine.dispose()


def test_memory_store_is_bounded():
    store = MemoryFailureStore(max_keys=10, per_key=3)
    for n in range(25):
        store.add([f"k{n}"], float(n))
    for _ in range(5):
        store.add(["hot"], 100.0)
    assert store.nth_newest("hot", 0.0, 3) == 100.0
    assert store.nth_newest("hot", 0.0, 4) is None
    assert len(store._times) <= 10


def test_token_endpoint_slows_brute_force(databases, policy_file):
    clock = Clock()
    issuer = make_issuer(
        databases.new_url("sqlite"), policy_file, throttle=FailureThrottle(5, 60, clock)
    )
    victim = issuer.client(["orders:read"])
    cid, secret = victim.client.client_id, victim.client_secret
    with TestClient(issuer.app()) as http:
        for _ in range(5):
            assert http.post("/oauth2/token", data=FORM, auth=(cid, "guess")).status_code == 401
        refused = http.post("/oauth2/token", data=FORM, auth=(cid, "guess"))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) == 60
        assert "error" in refused.json() and secret not in refused.text
        # The real secret is never refused for the guesser's failures.
        assert http.post("/oauth2/token", data=FORM, auth=(cid, secret)).status_code == 200
        clock.now += 61
        assert http.post("/oauth2/token", data=FORM, auth=(cid, "guess")).status_code == 401
    issuer.services.engine.dispose()
