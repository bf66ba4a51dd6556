"""The client library under load: 50 threads share one TokenSource (one RequestsAuth)
and call an API back to back for 30 s against `issuer serve` (a real process) whose
tokens live 60 s. The issuer must see one token request per refresh, not per call:
counted from its `token_issued` log lines and compared with the distinct tokens the
API received.

Two phases. In the first the client's clock is real: 30 s of a 60 s token is no refresh,
so exactly one token request for every call. In the second the client's clock runs four
times faster (the issuer's does not), so its 60 s tokens are refreshed every 54 client
seconds = 13.5 real seconds: three token requests in 30 s, each the single flight of 50
threads arriving at the refresh moment.

CLIENT_LOAD_SECONDS sets each phase's length (default 30, the issue's figure)."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from tollgate_client import RequestsAuth, TokenSource

from .harness import Issuer

pytestmark = [pytest.mark.load, pytest.mark.slow]

THREADS = 50
LIFETIME = 60
SECONDS = float(os.environ.get("CLIENT_LOAD_SECONDS", "30"))
ORDERS = "https://api.example.com/orders"  # the default policy's orders API


class Api:
    """A resource server that counts the calls and the tokens it is sent (no verifying:
    the API's cost is not what is measured; the issuer signed every token it counts)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, int] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                scheme, _, token = self.headers.get("Authorization", "").partition(" ")
                with api.lock:
                    api.tokens[token] = api.tokens.get(token, 0) + 1
                status = 204 if scheme == "Bearer" and token else 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Api:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def token_issued_lines(log) -> list[dict]:
    lines = []
    for line in log.read_text().splitlines():
        if '"token_issued"' in line:
            lines.append(json.loads(line))
    return lines


def hammer(source: TokenSource, url: str, seconds: float) -> tuple[int, list[str], float]:
    """50 threads, one shared auth object, GET back to back; (calls, failures, seconds)."""
    auth = RequestsAuth(source)
    start = threading.Barrier(THREADS + 1)
    calls = [0] * THREADS
    failures: list[str] = []

    def worker(i: int) -> None:
        with requests.Session() as session:
            session.auth = auth
            start.wait()
            while time.monotonic() < deadline:
                try:
                    status = session.get(url, timeout=10).status_code
                except Exception as exc:
                    failures.append(type(exc).__name__)
                    continue
                if status != 204:
                    failures.append(str(status))
                calls[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    began = time.monotonic()
    start.wait()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    return sum(calls), failures, time.monotonic() - began


def test_fifty_threads_one_token_request_per_refresh(database, tmp_path):
    log = tmp_path / "issuer.log"
    issuer = Issuer(database, log, workers=1,
                    extra_env={"ISSUER_TOKEN_LIFETIME": str(LIFETIME)})
    issuer.start()
    try:
        client_id, secret = issuer.client("library-load", "orders:read")
        with Api() as api:
            # Phase 1: the real clock.
            source = TokenSource(issuer.url, client_id, secret, scope="orders:read",
                                 audience=ORDERS)
            calls, failures, elapsed = hammer(source, api.url + "/orders/1", SECONDS)
            issued = token_issued_lines(log)
            print(f"\nphase 1: {calls} calls in {elapsed:.1f} s from {THREADS} threads, "
                  f"{len(issued)} token request(s), {len(api.tokens)} distinct token(s)")
            assert failures == []
            assert calls >= 1000  # a real load, not a handful of calls
            assert len(issued) == 1 == source.fetches
            assert set(api.tokens) == {source.token()}
            assert sum(api.tokens.values()) == calls

            # Phase 2: the client's clock at 4x, refreshes every 13.5 real seconds.
            t0 = time.monotonic()
            fast = TokenSource(issuer.url, client_id, secret, scope="orders:read",
                               audience=ORDERS, clock=lambda: t0 + 4 * (time.monotonic() - t0))
            api.tokens.clear()
            calls, failures, elapsed = hammer(fast, api.url + "/orders/2", SECONDS)
            fast_issued = len(token_issued_lines(log)) - len(issued)
            refresh_every = (LIFETIME - 0.1 * LIFETIME) / 4  # real seconds
            expected = 1 + math.floor(elapsed / refresh_every)
            print(f"phase 2: {calls} calls in {elapsed:.1f} s, client clock 4x, "
                  f"{fast_issued} token requests (expected {expected}: one per "
                  f"{refresh_every:.1f} s refresh), {len(api.tokens)} distinct tokens")
            assert failures == []
            assert fast_issued == fast.fetches == len(api.tokens)
            # Each refresh is due 54 client seconds after the previous request left, so
            # the fetches' own latency can push the last one past the end.
            assert expected - 1 <= fast_issued <= expected and fast_issued >= 2
            assert fast_issued < calls / 100  # per refresh, not per call
    finally:
        issuer.stop()
