"""Single flight: many threads or asyncio tasks that need a token at the same moment
cause one token request (counted where the issuer receives them)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from helpers.issuer_env import ORDERS
from tollgate_client import TokenError, TokenSource

pytestmark = pytest.mark.slow
N = 50


def run_threads(n: int, work) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work()
        except Exception as exc:  # collected, asserted by the test
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def live_source(issuer) -> TokenSource:
    return TokenSource(issuer.url, issuer.client_id, issuer.client_secret,
                       scope="orders:read", audience=ORDERS)


def test_fifty_threads_one_token_request(issuer):
    source = live_source(issuer)
    tokens = run_threads(N, source.token)
    assert all(isinstance(t, str) for t in tokens), tokens
    assert len(set(tokens)) == 1
    assert issuer.counter.token_requests == 1
    assert issuer.counter.metadata_requests == 1
    assert source.fetches == 1


def test_fifty_asyncio_tasks_one_token_request(issuer):
    source = live_source(issuer)

    async def main():
        return await asyncio.gather(*(source.atoken() for _ in range(N)))

    tokens = asyncio.run(main())
    assert len(tokens) == N and len(set(tokens)) == 1
    assert issuer.counter.token_requests == 1
    assert issuer.counter.metadata_requests == 1


def test_threads_and_two_event_loops_share_one_fetch(issuer):
    """A source shared by plain threads and by tasks of two event loops (in two other
    threads) still fetches once: the waiters of every kind wait on one future."""
    source = live_source(issuer)
    start = threading.Barrier(3)
    out: dict[str, list] = {}

    def loop_thread(name: str) -> None:
        async def main():
            start.wait()
            return await asyncio.gather(*(source.atoken() for _ in range(20)))

        out[name] = asyncio.run(main())

    def plain_threads() -> None:
        start.wait()
        out["threads"] = run_threads(20, source.token)

    workers = [threading.Thread(target=loop_thread, args=(n,)) for n in ("loop-a", "loop-b")]
    workers.append(threading.Thread(target=plain_threads))
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    tokens = out["loop-a"] + out["loop-b"] + out["threads"]
    assert len(tokens) == 60 and len(set(tokens)) == 1
    assert issuer.counter.token_requests == 1


def test_expired_token_waiters_all_get_the_one_new_token(stub, fake_clock):
    stub.delay = 0.3  # the fetch stays in flight while all 50 ask
    source = TokenSource(stub.url, "c_1", "s3cret", clock=fake_clock)
    assert source.token() == "tok-1"
    fake_clock.advance(100)  # past expiry: nobody may use tok-1
    tokens = run_threads(N, source.token)
    assert tokens == ["tok-2"] * N
    assert len(stub.requests) == 2


def test_refresh_window_one_refresher_others_keep_the_current_token(stub, fake_clock):
    """Between refresh_at and expiry one caller fetches; the others are not held up."""
    stub.delay = 2.0  # long enough for all 50 to ask while it is in flight, on a busy machine
    source = TokenSource(stub.url, "c_1", "s3cret", clock=fake_clock)
    assert source.token() == "tok-1"
    fake_clock.advance(91)  # lifetime 100, margin 10: due for refresh, still valid
    tokens = run_threads(N, source.token)
    assert sorted(tokens) == ["tok-1"] * (N - 1) + ["tok-2"]
    assert len(stub.requests) == 2
    assert source.token() == "tok-2"


def test_a_failed_fetch_reaches_every_waiter_and_the_next_call_tries_again(stub, sleeps):
    stub.delay = 1.5
    stub.then(400, {"error": "invalid_scope"})
    source = TokenSource(stub.url, "c_1", "s3cret", sleep=sleeps.append)
    results = run_threads(N, source.token)
    assert all(isinstance(r, TokenError) and r.error == "invalid_scope" for r in results)
    assert len(stub.requests) == 1
    stub.delay = 0
    assert source.token() == "tok-1"
    assert len(stub.requests) == 2


def test_a_cancelled_async_leader_hands_the_fetch_over(stub):
    """The task that leads a fetch is cancelled: its waiters do not hang, one of them
    fetches instead."""
    stub.delay = 0.5
    source = TokenSource(stub.url, "c_1", "s3cret")

    async def main():
        leader = asyncio.create_task(source.atoken())
        while not stub.requests:  # the leader's request has reached the server
            await asyncio.sleep(0.01)
        waiters = [asyncio.create_task(source.atoken()) for _ in range(10)]
        await asyncio.sleep(0.05)
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        return await asyncio.wait_for(asyncio.gather(*waiters), 10)

    tokens = asyncio.run(main())
    assert len(set(tokens)) == 1
    assert len(stub.requests) == 2  # the cancelled one and the one a waiter took over


def test_blocking_token_inside_the_fetching_loop_is_refused(stub):
    stub.delay = 0.3
    source = TokenSource(stub.url, "c_1", "s3cret")

    async def main():
        leader = asyncio.create_task(source.atoken())
        await asyncio.sleep(0.05)
        with pytest.raises(RuntimeError, match="atoken"):
            source.token()  # would deadlock: the fetch needs this very loop
        return await leader

    assert asyncio.run(main()) == "tok-1"
