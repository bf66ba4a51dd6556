"""When a cached token is refreshed, on a fake monotonic clock: a margin of 10% of the
lifetime (capped at 5 minutes) before expiry; a failed refresh keeps the current token
while it is valid; an expired token is never served."""

from __future__ import annotations

import pytest
from tollgate_client import TokenError, TokenSource

pytestmark = pytest.mark.slow


def source_for(stub, clock, sleeps, **kwargs) -> TokenSource:
    return TokenSource(stub.url, "c_1", "s3cret", clock=clock, sleep=sleeps.append, **kwargs)


@pytest.mark.parametrize(
    "lifetime, refresh_after",
    [(100, 90.0), (60, 54.0), (3600, 3300.0), (86400, 86100.0), (10, 9.0)],
)
def test_refresh_margin_is_a_share_of_the_lifetime_capped(
    stub, fake_clock, sleeps, lifetime, refresh_after
):
    stub.lifetime = lifetime
    source = source_for(stub, fake_clock, sleeps)
    assert source.token() == "tok-1"
    fake_clock.advance(refresh_after - 0.01)
    assert source.token() == "tok-1"
    assert len(stub.requests) == 1
    fake_clock.advance(0.01)
    assert source.token() == "tok-2"
    assert len(stub.requests) == 2
    token = source.get()
    assert token.refresh_at - token.obtained_at == refresh_after


def test_one_request_per_refresh_over_many_calls(stub, fake_clock, sleeps):
    stub.lifetime = 60
    source = source_for(stub, fake_clock, sleeps)
    seen = []
    for _ in range(600):  # ten minutes, a call every second
        seen.append(source.token())
        fake_clock.advance(1)
    # Refreshed every 54 s: ceil(600 / 54) = 12 tokens for 600 calls.
    assert len(stub.requests) == 12
    assert len(set(seen)) == 12


def test_missing_expires_in_is_taken_as_a_minute(stub, fake_clock, sleeps):
    stub.then(200, {"access_token": "short", "token_type": "bearer"})
    source = source_for(stub, fake_clock, sleeps)
    assert source.token() == "short"
    fake_clock.advance(53.9)
    assert source.token() == "short"
    fake_clock.advance(0.1)
    assert source.token() == "tok-1"


def test_failed_refresh_keeps_the_valid_token_and_cools_down(stub, fake_clock, sleeps):
    source = source_for(stub, fake_clock, sleeps, max_attempts=1, cooldown=2.0)
    assert source.token() == "tok-1"
    fake_clock.advance(91)  # due (refresh at 90), valid until 95
    stub.then(503, {"error": "temporarily_unavailable"})
    assert source.token() == "tok-1"  # the refresh failed; the token still works
    assert len(stub.requests) == 2
    fake_clock.advance(1.5)
    assert source.token() == "tok-1"  # within the cooldown: no request
    assert len(stub.requests) == 2
    fake_clock.advance(1.0)
    assert source.token() == "tok-2"  # cooldown over: refreshed
    assert len(stub.requests) == 3


def test_a_token_near_expiry_is_not_served_when_refresh_fails(stub, fake_clock, sleeps):
    source = source_for(stub, fake_clock, sleeps, max_attempts=1)
    assert source.token() == "tok-1"
    fake_clock.advance(95)  # lifetime 100: no longer used in its last 5 s
    stub.then(503, {"error": "temporarily_unavailable"})
    with pytest.raises(TokenError) as failed:
        source.token()
    assert failed.value.status == 503
    assert source.token() == "tok-2"


def test_invalidate_only_drops_the_cached_token(stub, fake_clock, sleeps):
    source = source_for(stub, fake_clock, sleeps)
    first = source.token()
    assert source.invalidate("some other token") is False
    assert source.token() == first and len(stub.requests) == 1
    assert source.invalidate(first) is True
    second = source.token()
    assert second != first
    # Fifty callers refused with the old token: only the first drop counts.
    assert [source.invalidate(first) for _ in range(50)] == [False] * 50
    assert source.token() == second and len(stub.requests) == 2
