"""Retries of the token request: 429 and 5xx after the server's Retry-After, else an
exponential backoff with jitter; a bounded number of attempts; final 4xx; transport
errors. Against a scripted token endpoint over real HTTP."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time

import pytest
from tollgate_client import TokenError, TokenSource
from tollgate_client.source import parse_retry_after

pytestmark = pytest.mark.slow


def source_for(stub, sleeps, **kwargs) -> TokenSource:
    return TokenSource(stub.url, "c_1", "s3cret", sleep=sleeps.append, **kwargs)


def test_429_waits_the_servers_retry_after_then_succeeds(stub):
    """Real sleep: the second request reaches the server no sooner than Retry-After."""
    stub.then(429, {"error": "slow_down"}, {"Retry-After": "1"})
    source = TokenSource(stub.url, "c_1", "s3cret")
    assert source.token() == "tok-1"
    assert len(stub.requests) == 2
    gap = stub.requests[1]["at"] - stub.requests[0]["at"]
    assert 1.0 <= gap < 1.0 + 0.1 + 2.0  # Retry-After, its jitter (<= 10%), a busy machine


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retry_after_is_honoured_for_429_and_5xx(stub, sleeps, status):
    stub.then(status, {"error": "temporarily_unavailable"}, {"Retry-After": "7"})
    assert source_for(stub, sleeps).token() == "tok-1"
    assert len(stub.requests) == 2
    assert len(sleeps) == 1 and 7.0 <= sleeps[0] <= 7.7


def test_retry_after_as_an_http_date(stub, sleeps):
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    stub.then(503, "", {"Retry-After": when})
    assert source_for(stub, sleeps).token() == "tok-1"
    assert 18.0 <= sleeps[0] <= 22.1


def test_without_retry_after_backoff_grows_exponentially_with_jitter(stub, sleeps):
    for _ in range(3):
        stub.then(503, {"error": "temporarily_unavailable"})
    assert source_for(stub, sleeps, backoff_base=0.5).token() == "tok-1"
    assert len(stub.requests) == 4
    # attempt n waits in [b*2^(n-1)/2, b*2^(n-1)]: half fixed, half random.
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0
    assert 1.0 <= sleeps[2] <= 2.0


def test_jitter_spreads_clients_that_failed_together(stub):
    delays = []
    for _ in range(20):
        stub.then(500, {"error": "server_error"})
        own: list[float] = []
        TokenSource(stub.url, "c_1", "s3cret", sleep=own.append, backoff_base=1.0).token()
        delays.append(own[0])
    assert all(0.5 <= d <= 1.0 for d in delays)
    assert len(set(delays)) == 20  # no two clients wait the same time


def test_backoff_is_capped(stub, sleeps):
    for _ in range(5):
        stub.then(500, {"error": "server_error"})
    source_for(stub, sleeps, backoff_base=10, backoff_cap=12, max_attempts=6).token()
    assert len(sleeps) == 5 and max(sleeps) <= 12 and min(sleeps[1:]) >= 6


def test_attempts_are_bounded(stub, sleeps):
    for _ in range(10):
        stub.then(503, {"error": "temporarily_unavailable",
                        "error_description": "database restarting"})
    with pytest.raises(TokenError) as failed:
        source_for(stub, sleeps, max_attempts=4).token()
    assert len(stub.requests) == 4 and len(sleeps) == 3
    assert failed.value.status == 503
    assert failed.value.error == "temporarily_unavailable"
    assert str(failed.value) == (
        "token request: HTTP 503 temporarily_unavailable (database restarting)"
    )


def test_a_retry_after_beyond_the_limit_is_not_waited_for(stub, sleeps):
    stub.then(429, {"error": "slow_down"}, {"Retry-After": "3600"})
    with pytest.raises(TokenError) as failed:
        source_for(stub, sleeps, max_retry_after=60).token()
    assert failed.value.retry_after == 3600 and failed.value.status == 429
    assert len(stub.requests) == 1 and sleeps == []


@pytest.mark.parametrize(
    "status, error", [(400, "invalid_scope"), (401, "invalid_client"), (400, "invalid_target")]
)
def test_client_errors_are_final(stub, sleeps, status, error):
    stub.then(status, {"error": error})
    with pytest.raises(TokenError) as failed:
        source_for(stub, sleeps).token()
    assert (failed.value.status, failed.value.error) == (status, error)
    assert len(stub.requests) == 1 and sleeps == []


def test_every_attempt_is_a_new_request(stub, sleeps):
    """A retried private_key_jwt request carries a new assertion (new jti)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    stub.then(503, {})
    stub.then(503, {})
    source = TokenSource(stub.url, "c_1", private_key=ec.generate_private_key(ec.SECP256R1()),
                         sleep=sleeps.append)
    assert source.token() == "tok-1"
    assertions = [r["form"]["client_assertion"] for r in stub.requests]
    assert len(assertions) == 3 and len(set(assertions)) == 3


def test_transport_errors_are_retried_then_reported(sleeps):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = TokenSource(f"http://127.0.0.1:{port}", "c_1", "s3cret",
                         token_endpoint=f"http://127.0.0.1:{port}/token",
                         sleep=sleeps.append, max_attempts=3)
    with pytest.raises(TokenError) as failed:
        source.token()
    assert str(failed.value) == "token request: ConnectError (no answer)"
    assert failed.value.status is None and len(sleeps) == 2


def test_non_json_and_non_bearer_answers_are_refused(stub, sleeps):
    stub.then(200, "<html>proxy login</html>")
    with pytest.raises(TokenError, match="not JSON"):
        source_for(stub, sleeps).token()
    stub.then(200, {"access_token": "x", "token_type": "mac"})
    with pytest.raises(TokenError, match="not Bearer"):
        source_for(stub, sleeps).token()
    stub.then(200, {"token_type": "Bearer"})
    with pytest.raises(TokenError, match="no access_token"):
        source_for(stub, sleeps).token()
    assert sleeps == []


def test_async_fetch_retries_with_the_async_sleep(stub):
    stub.then(429, {"error": "slow_down"}, {"Retry-After": "2"})
    stub.then(502, "bad gateway")
    waited: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waited.append(seconds)

    source = TokenSource(stub.url, "c_1", "s3cret", async_sleep=fake_sleep,
                         sleep=lambda s: pytest.fail("the sync sleep blocks the loop"))
    assert asyncio.run(source.atoken()) == "tok-1"
    assert len(stub.requests) == 3
    assert 2.0 <= waited[0] <= 2.2 and 0.25 <= waited[1] <= 1.0


@pytest.mark.parametrize(
    "value, expected",
    [("0", 0.0), ("12", 12.0), (" 5 ", 5.0), ("-1", None), ("soon", None), ("1.5", None),
     (None, None), ("99999999", 86400.0)],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected
