"""The brute-force brake cannot be turned against the clients it protects (issue 12,
items 7 and 8).

- Failures someone else caused never refuse correct credentials: not a guesser naming a
  client id (ids are public: `sub`, `client_id` in every token), not the failures of
  another client behind the same address (a NAT, a proxy).
- Failures stay braked: past the limit a failing request is 429 + Retry-After and costs
  no database write and no log line.
- The address is the TCP peer unless that peer is a proxy the operator named
  (`ISSUER_TRUSTED_PROXIES`); a caller cannot pick its own throttle key.
- Every throttle key fits its column, whatever the caller sends, and a failing throttle
  store still brakes failures.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import pytest
from fastapi.testclient import TestClient
from helpers.client_assertion import assertion_form, client_assertion
from helpers.issuer_db import count_writes
from helpers.issuer_env import ISSUER_URL, make_issuer, make_settings
from helpers.mint import make_key
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from issuer.oauth.throttle import FailureThrottle, MemoryFailureStore, throttle_keys
from issuer.oauth.throttle_store import DatabaseFailureStore
from issuer.settings import SettingsError
from issuer.store.throttle_tables import AuthFailure

FORM = {"grant_type": "client_credentials"}
LIMIT = 3
ATTACKER = "203.0.113.66"  # and everyone behind the same NAT
ELSEWHERE = "198.51.100.7"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _issuer(url, policy_file, store=None, **env):
    """(issuer, clock): an issuer whose throttle allows LIMIT failures a minute, counted in
    its database unless `store` says otherwise."""
    clock = Clock()
    issuer = make_issuer(url, policy_file, **env)
    store = store if store is not None else DatabaseFailureStore(issuer.services.sessions)
    throttle = FailureThrottle(LIMIT, 60, clock, store)
    issuer.services = issuer.services._replace(throttle=throttle)
    return issuer, clock


@pytest.fixture
def guarded(databases, db_kind, policy_file):
    issuer, clock = _issuer(databases.new_url(db_kind), policy_file)
    yield issuer, clock
    issuer.services.engine.dispose()


def _from(app, address, port=40000):
    return TestClient(app, client=(address, port))


def _token(http, cid, secret, **kwargs):
    return http.post("/oauth2/token", data=FORM, auth=(cid, secret), **kwargs)


def _stored(issuer) -> int:
    with issuer.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(AuthFailure))


def _lines(caplog, event_name=None):
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name.startswith("issuer.")]
    return [e for e in lines if event_name is None or e.get("event") == event_name]


# --- item 7: nobody else's failures refuse correct credentials -------------------------


def test_guesses_at_a_client_id_never_refuse_its_secret(guarded):
    """Ten wrong secrets used to hold the real client at 429. Now the guesser is braked
    (429 + Retry-After past the limit) and the client gets its tokens from anywhere,
    from behind the guesser's own NAT too, by either secret method."""
    issuer, _ = guarded
    victim = issuer.client(["orders:read"])
    cid, secret = victim.client.client_id, victim.client_secret
    app = issuer.app()
    with _from(app, ATTACKER, 1) as attacker, _from(app, ATTACKER, 2) as same_nat, \
            _from(app, ELSEWHERE) as elsewhere:
        assert [_token(attacker, cid, "guess").status_code for _ in range(LIMIT)] == [401] * 3
        for _ in range(5):
            refused = _token(attacker, cid, "guess")
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "60"
            assert refused.json()["error"] == "temporarily_unavailable"
        assert _token(elsewhere, cid, secret).status_code == 200
        assert _token(same_nat, cid, secret).status_code == 200
        post = {**FORM, "client_id": cid, "client_secret": secret}
        assert same_nat.post("/oauth2/token", data=post).status_code == 200
        assert _token(attacker, cid, "guess").status_code == 429  # still braked


def test_failures_behind_a_nat_do_not_refuse_the_other_clients_there(guarded):
    issuer, _ = guarded
    neighbour = issuer.client(["orders:read"])
    with _from(issuer.app(), ATTACKER) as nat:
        statuses = [_token(nat, f"c_made_up_{n}", "x").status_code for n in range(LIMIT + 2)]
        assert statuses == [401] * LIMIT + [429] * 2
        ok = _token(nat, neighbour.client.client_id, neighbour.client_secret)
        assert ok.status_code == 200


@pytest.mark.parametrize("endpoint", ["/oauth2/introspect", "/oauth2/revoke"])
def test_guesses_at_other_endpoints_do_not_refuse_the_secret(guarded, endpoint):
    """Introspection and revocation share the token endpoint's keys: guesses there brake
    guesses at the token endpoint, and refuse the real client nowhere."""
    issuer, _ = guarded
    victim = issuer.client(["orders:read"])
    cid, secret = victim.client.client_id, victim.client_secret
    app = issuer.app()
    with _from(app, ATTACKER) as attacker, _from(app, ELSEWHERE) as owner:
        for _ in range(LIMIT):
            assert attacker.post(endpoint, data={"token": "x"}, auth=(cid, "guess")).status_code \
                == 401
        assert _token(attacker, cid, "guess").status_code == 429
        assert owner.post(endpoint, data={"token": "x"}, auth=(cid, "guess")).status_code == 429
        assert _token(owner, cid, secret).status_code == 200
        assert owner.post(endpoint, data={"token": "x"}, auth=(cid, secret)).status_code == 200


def test_forged_assertions_do_not_refuse_the_clients_own(guarded):
    """private_key_jwt: the throttle's client id is the assertion's unverified `iss`, so
    anyone can spend it; the client's own signed assertion still gets its token."""
    issuer, _ = guarded
    private, jwk = make_key("ES256", kid="k1")
    forger, _ = make_key("ES256", kid="k1")
    new = issuer.client(["orders:read"], auth_method="private_key_jwt", jwks={"keys": [jwk]})
    cid = new.client.client_id
    app = issuer.app()

    def assertion(key):
        return assertion_form(
            client_assertion(key, "ES256", cid, ISSUER_URL + "/oauth2/token", time.time(),
                             kid="k1"))

    with _from(app, ATTACKER) as attacker, _from(app, ELSEWHERE) as owner:
        statuses = [attacker.post("/oauth2/token", data=assertion(forger)).status_code
                    for _ in range(LIMIT + 1)]
        assert statuses == [401] * LIMIT + [429]
        assert owner.post("/oauth2/token", data=assertion(forger)).status_code == 429
        assert owner.post("/oauth2/token", data=assertion(private)).status_code == 200
        assert attacker.post("/oauth2/token", data=assertion(private)).status_code == 200


def test_a_flood_of_failures_costs_a_bounded_amount(guarded, caplog):
    """Past the limit, a failure writes nothing to the database and nothing to the log:
    one `client_authentication_throttled` line says the brake is on."""
    issuer, clock = guarded
    victim = issuer.client(["orders:read"])
    cid = victim.client.client_id
    with _from(issuer.app(), ATTACKER) as attacker, caplog.at_level(logging.INFO):
        for _ in range(LIMIT):
            assert _token(attacker, cid, "guess").status_code == 401
        assert len(_lines(caplog, "client_authentication_failed")) == LIMIT
        caplog.clear()
        writes, stop = count_writes(issuer.services.engine)
        try:
            statuses = {_token(attacker, cid, f"guess{n}").status_code for n in range(50)}
        finally:
            stop()
        assert statuses == {429}
        assert writes == []
        assert [e["event"] for e in _lines(caplog)] == ["client_authentication_throttled"]
        assert _stored(issuer) == LIMIT * 2  # client key + address key, per counted failure
        clock.now += 61  # the window passed: failures are counted (and answered 401) again
        assert _token(attacker, cid, "guess").status_code == 401


# --- item 8: the address is the peer's, unless the peer is a named proxy ---------------


def test_serve_never_lets_uvicorn_rewrite_the_client_address(tmp_path, policy_file,
                                                             monkeypatch):
    """uvicorn's proxy_headers default believes X-Forwarded-For from 127.0.0.1: a caller
    on the host (or behind a local proxy) would choose its own address, a new one per
    request. `issuer serve` turns it off; the app applies ISSUER_TRUSTED_PROXIES."""
    from issuer.cli import serve

    settings = make_settings(f"sqlite:///{tmp_path}/serve.db", policy_file)
    calls = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **kw: calls.append(kw))
    for workers in (1, 2):
        args = argparse.Namespace(host="127.0.0.1", port=8000, workers=workers)
        assert serve.run(settings, args) == 0
    assert [call.get("proxy_headers") for call in calls] == [False, False]


def test_trusted_proxies_setting(tmp_path, policy_file):
    import ipaddress

    def load(value):
        return make_settings(f"sqlite:///{tmp_path}/s.db", policy_file,
                             ISSUER_TRUSTED_PROXIES=value).trusted_proxies

    assert load("") == ()
    assert load(" 10.0.0.0/8, 192.0.2.1 ,2001:db8::/32") == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.1/32"),
        ipaddress.ip_network("2001:db8::/32"))
    for bad in ("proxy.example.test", "10.0.0.0/33", "10.0.0.1/8", "10.0.0.0/8,,", "*"):
        with pytest.raises(SettingsError, match="ISSUER_TRUSTED_PROXIES"):
            load(bad)


def test_forwarded_for_is_believed_only_from_a_named_proxy(databases, policy_file, caplog):
    issuer, _ = _issuer(databases.new_url("sqlite"), policy_file,
                        ISSUER_TRUSTED_PROXIES="10.0.0.0/8")
    app = issuer.app()

    def fail(http, n, forwarded):
        return _token(http, f"c_made_up_{n}", "x",
                      headers={"X-Forwarded-For": forwarded}).status_code

    with _from(app, "10.1.2.3") as proxy, _from(app, "192.0.2.50") as direct, \
            caplog.at_level(logging.INFO):
        # Through the named proxy: the address it appended is the client's, whatever the
        # client wrote before it (its own X-Forwarded-For is no way to a new key).
        assert [fail(proxy, n, f"1.1.1.{n}, {ATTACKER}, 10.9.9.9") for n in range(LIMIT)] \
            == [401] * LIMIT
        assert fail(proxy, 9, f"1.1.1.9, {ATTACKER}") == 429
        assert fail(proxy, 10, ELSEWHERE) == 401  # another client behind the proxy
        assert {e["client"] for e in _lines(caplog, "http_request")} == {ATTACKER, ELSEWHERE}
        # Not through a named proxy: the header is the caller's word, never believed.
        statuses = [fail(direct, 20 + n, f"203.0.113.{n}") for n in range(LIMIT + 1)]
        assert statuses == [401] * LIMIT + [429]
    issuer.services.engine.dispose()


def test_every_key_fits_its_column():
    column = AuthFailure.__table__.c.key.type.length
    hostile = ["x" * 500, "é" * 200, "a\x00b", "c_ok", "", "1.2.3.4, " * 30, "\udcff" * 70,
               "2001:db8:1:2:3:4:5:6", "fe80::1%" + "e" * 200]
    for address in [None, *hostile]:
        for claimed in [None, *hostile]:
            for key in throttle_keys(address, claimed):
                assert len(key) <= column, key
                assert key.isascii() and key.isprintable(), key
    # Distinct inputs keep distinct keys (a hash, not a cut), and IPv6 counts per /64.
    assert throttle_keys(None, "c" * 65 + "1") != throttle_keys(None, "c" * 65 + "2")
    assert throttle_keys("2001:db8:1:2:aaaa::1", None) == throttle_keys("2001:db8:1:2::9", None)
    assert throttle_keys("203.0.113.1", "c_x") == ["addr:203.0.113.1", "client:c_x"]


@pytest.mark.parametrize(
    "peer, claimed",
    [
        # X-Forwarded-For as an old `issuer serve` passed it on from a loopback proxy,
        # and as Mangum passes an ALB's header: longer than the column.
        ("198.51.100.1, " * 10 + "198.51.100.2", None),
        ("x" * 120, None),
        (ATTACKER, "a\x00b"),  # PostgreSQL refuses NUL in text
        (ATTACKER, "é" * 120),
    ],
    ids=["forwarded-list", "long-peer", "nul-client-id", "long-client-id"],
)
def test_hostile_keys_are_counted(guarded, peer, claimed):
    """A key the database refused made every failure a 503 that counted nothing: as many
    guesses as the caller liked. Now each is counted and braked like any other."""
    issuer, _ = guarded
    with _from(issuer.app(), peer) as http:
        def attempt():
            if claimed is None:
                return _token(http, "c_made_up", "x").status_code
            data = {**FORM, "client_id": claimed, "client_secret": "x"}
            return http.post("/oauth2/token", data=data).status_code

        assert [attempt() for _ in range(LIMIT + 2)] == [401] * LIMIT + [429] * 2
    assert _stored(issuer) == LIMIT * 2


class BrokenStore:
    """A throttle store whose database is gone (or refuses the row)."""

    def __init__(self, fail_reads=True) -> None:
        self.fail_reads = fail_reads
        self.calls = 0

    def _fail(self):
        self.calls += 1
        raise OperationalError("INSERT INTO auth_failures", {}, Exception("db down"))

    def add(self, keys, at):
        self._fail()

    def nth_newest(self, key, since, n):
        if self.fail_reads:
            self._fail()
        return None

    def prune(self, before):
        self._fail()


@pytest.mark.parametrize("fail_reads", [True, False], ids=["store-down", "writes-refused"])
def test_a_failing_store_still_brakes_failures(databases, policy_file, caplog, fail_reads):
    """Fail closed: failures the store cannot keep are counted in the process, so wrong
    secrets are 401 then 429 as usual (never unlimited); the store is not asked again
    while the brake is on, each store error is one `error` line, and a correct secret,
    which the throttle never reads, still gets its token."""
    store = BrokenStore(fail_reads)
    issuer, _ = _issuer(databases.new_url("sqlite"), policy_file, store=store)
    victim = issuer.client(["orders:read"])
    cid, secret = victim.client.client_id, victim.client_secret
    with _from(issuer.app(), ATTACKER) as http, caplog.at_level(logging.INFO):
        statuses = [_token(http, cid, "guess").status_code for _ in range(LIMIT + 5)]
        assert statuses == [401] * LIMIT + [429] * 5
        calls = store.calls
        assert _token(http, cid, "guess").status_code == 429
        assert store.calls == calls
        errors = [r.levelno for r in caplog.records if "throttle_store_error" in r.getMessage()]
        assert errors == [logging.ERROR] * LIMIT
        assert _token(http, cid, secret).status_code == 200
    issuer.services.engine.dispose()


def test_memory_store_nth_newest():
    store = MemoryFailureStore()
    store.add(["k"], 1.0)
    store.add(["k"], 3.0)
    store.add(["k", "j"], 2.0)
    assert store.nth_newest("k", 0.0, 1) == 3.0
    assert store.nth_newest("k", 0.0, 3) == 1.0
    assert store.nth_newest("k", 1.0, 3) is None
    assert store.nth_newest("j", 0.0, 2) is None


def test_admin_audit_source_follows_the_same_rule(databases, policy_file):
    """The admin guard records where a change came from with the same function: the
    address a named proxy vouches for, never one the caller wrote itself."""
    from helpers.issuer_admin import ADMIN, bearer, token_for

    from issuer.store.audit_tables import AuditRecord

    issuer, _ = _issuer(databases.new_url("sqlite"), policy_file,
                        ISSUER_TRUSTED_PROXIES="10.0.0.0/8")
    admin = issuer.client([ADMIN], name="admin")
    app = issuer.app()
    body = {"name": "svc", "scopes": ["orders:read"]}
    with _from(app, "10.1.2.3") as proxy, _from(app, ELSEWHERE) as direct:
        token = bearer(token_for(proxy, admin.client.client_id, admin.client_secret))
        forged = {"X-Forwarded-For": "192.0.2.99"}
        assert proxy.post("/admin/clients", json=body,
                          headers={**token, "X-Forwarded-For": f"1.1.1.1, {ATTACKER}"}
                          ).status_code == 201
        assert direct.post("/admin/clients", json=body, headers={**token, **forged}
                           ).status_code == 201
    with issuer.services.sessions() as session:
        sources = session.scalars(select(AuditRecord.source).order_by(AuditRecord.id)).all()
    assert sources[-2:] == [ATTACKER, ELSEWHERE]
    issuer.services.engine.dispose()


def _scope(peer, *forwarded):
    return {"client": (peer, 1234) if peer else None,
            "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}


def test_client_address_rule():
    from issuer.http.client_address import client_address, parse_trusted_proxies

    proxies = parse_trusted_proxies("10.0.0.0/8, 2001:db8::/32")
    assert client_address(_scope(None)) is None
    assert client_address(_scope("192.0.2.1", "203.0.113.5")) == "192.0.2.1"  # no proxies
    assert client_address(_scope("192.0.2.1", "203.0.113.5"), proxies) == "192.0.2.1"
    assert client_address(_scope("10.0.0.1", "203.0.113.5"), proxies) == "203.0.113.5"
    # Two header lines are one list; named proxies are skipped from the right.
    assert client_address(_scope("10.0.0.1", "1.1.1.1, 203.0.113.5", "10.0.0.2"),
                          proxies) == "203.0.113.5"
    # Garbage ends the walk at the last proxy that vouched for it.
    assert client_address(_scope("10.0.0.1", "203.0.113.5, nonsense"), proxies) == "10.0.0.1"
    assert client_address(_scope("10.0.0.1", "10.0.0.3"), proxies) == "10.0.0.3"  # all proxies
    assert client_address(_scope("10.0.0.1"), proxies) == "10.0.0.1"  # no header
    # A dual-stack socket's IPv4-mapped peer is the IPv4 address, matched as such.
    assert client_address(_scope("::ffff:10.0.0.1", "203.0.113.5"), proxies) == "203.0.113.5"
    assert client_address(_scope("2001:db8::1", "2001:db9::7"), proxies) == "2001:db9::7"
    # Mangum under an ALB passes the whole header as the client: its last entry is the
    # address the load balancer received the request from.
    assert client_address(_scope("6.6.6.6, 198.51.100.2")) == "198.51.100.2"
    assert client_address(_scope("testclient")) == "testclient"
