"""Brute-force brake for client authentication: it brakes *failures*, never a client
that authenticates.

Client ids are public (`sub` and `client_id` of every token) and many clients may share an
address (a NAT, a proxy), so a brake that refused correct credentials would let anyone
lock a client out. It never does: a request whose credentials verify gets its answer
whatever the counts say, and the throttle is not even consulted then. What guessing a
secret costs is set by the secret (256 bits, made by the server), not by this brake.

What it bounds is what a flood of failures costs. Failures are counted per claimed client
id and per address in a sliding window; past `limit`, a request that fails again gets 429
with `Retry-After` (RFC 6585 §4) and is neither counted nor logged (one
`client_authentication_throttled` line when the brake engages on this process), so the
database and the logs pay for at most `limit` failures per key per window.

Counts live in a `FailureStore` (the database in production, so every worker and Lambda
instance sees the same counts). Per counted failure: one read per key and one write; a
key found over the limit is remembered here until its block lifts (nothing but time lifts
it), so a flood against it costs no I/O at all. A store that fails does not open the
brake: the failure is counted in this process instead (one `throttle_store_error` line
each), and past the limit it is 429 all the same.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from issuer.logs import error_fields, log_event
from issuer.oauth.errors import OAuthError

log = logging.getLogger("issuer.throttle")


class TooManyFailures(OAuthError):
    error = "temporarily_unavailable"
    status_code = 429
    default_description = "too many failed attempts; retry later"
    # Not logged per request (issuer/http/errors.py): the brake says once that it engaged, so a
    # flood against a braked key writes no log lines.
    quiet = True

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "Retry-After": str(self.retry_after)}


class FailureStore(Protocol):
    def add(self, keys: Sequence[str], at: float) -> None:
        """Record one failure at `at` (epoch seconds) for each key."""

    def nth_newest(self, key: str, since: float, n: int) -> float | None:
        """The time of the `n`-th newest failure of `key` after `since`; None if fewer."""

    def prune(self, before: float) -> None:
        """Forget failures at or before `before` (they can no longer count)."""


class MemoryFailureStore:
    """Per-process store: tests, a single process without a database, and the fallback
    when the shared store fails."""

    def __init__(self, max_keys: int = 100_000, per_key: int = 1000) -> None:
        self._times: dict[str, list[float]] = {}
        self._max_keys, self._per_key = max_keys, per_key
        self._lock = threading.Lock()

    def add(self, keys: Sequence[str], at: float) -> None:
        with self._lock:
            if len(self._times) >= self._max_keys:  # bounded memory under a flood
                self._times.clear()
            for key in keys:
                times = self._times.setdefault(key, [])
                times.append(at)
                del times[: -self._per_key]

    def nth_newest(self, key: str, since: float, n: int) -> float | None:
        with self._lock:
            recent = sorted(t for t in self._times.get(key, ()) if t > since)
        return recent[-n] if len(recent) >= n else None

    def prune(self, before: float) -> None:
        with self._lock:
            for key in list(self._times):
                kept = [t for t in self._times[key] if t > before]
                if kept:
                    self._times[key] = kept
                else:
                    del self._times[key]


# A key's value as written when it is short and plain (readable in the table); anything
# else is hashed, so whatever a caller sends, the key fits `AuthFailure.key` (100
# characters), is ASCII (PostgreSQL refuses NUL in text), and distinct values stay apart.
_PLAIN = re.compile(r"[A-Za-z0-9._~:/-]{1,64}\Z")


def _key(kind: str, value: str) -> str:
    if _PLAIN.match(value):
        return f"{kind}:{value}"
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}#{digest}"


def _address_key(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return _key("addr", address)
    if ip.version == 6:
        # One host is given a /64 or more (RFC 6177): counted per address, a single
        # client would have 2^64 fresh budgets.
        return _key("addr", str(ipaddress.ip_network(f"{ip}/64", strict=False)))
    return _key("addr", str(ip))


def throttle_keys(address: str | None, claimed_client_id: str | None) -> list[str]:
    """What one failed authentication counts against: the client's address
    (`issuer.http.client_address.client_address`; IPv6 by /64) and, if the request names one,
    the claimed client id. The token, introspection and revocation endpoints all use these
    keys, so failures anywhere spend the same budget."""
    keys = [_address_key(address) if address else "addr:-"]
    if claimed_client_id:
        keys.append(_key("client", claimed_client_id))
    return keys


class _ExpiringSet:
    """key -> deadline, bounded; what this process knows about keys, forgotten in time."""

    def __init__(self, max_keys: int) -> None:
        self._until: dict[str, float] = {}
        self._max_keys = max_keys

    def get(self, key: str, now: float) -> float | None:
        until = self._until.get(key)
        if until is None:
            return None
        if until <= now:
            self._until.pop(key, None)
            return None
        return until

    def put(self, key: str, until: float) -> None:
        if len(self._until) >= self._max_keys:
            self._until.clear()  # losing hints only costs a store read later
        self._until[key] = max(until, self._until.get(key, until))


class FailureThrottle:
    def __init__(
        self,
        limit: int = 10,
        window: float = 60.0,
        clock: Callable[[], float] = time.time,
        store: FailureStore | None = None,
        max_keys: int = 100_000,
    ) -> None:
        # Wall time, not monotonic: the times are compared across processes and hosts.
        self.limit, self.window, self._clock = limit, window, clock
        self.store: FailureStore = store if store is not None else MemoryFailureStore()
        # Where failures are counted while the store fails: this process still brakes.
        self._fallback = MemoryFailureStore(max_keys=max_keys)
        self._blocked = _ExpiringSet(max_keys)  # key -> blocked until
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def _refuse(self, until: float, now: float) -> TooManyFailures:
        return TooManyFailures(max(1, math.ceil(until - now)))

    def record_failure(self, keys: Iterable[str]) -> None:
        """Count one failed authentication against each key, or raise `TooManyFailures`
        (counting and logging nothing) if a key is already at the limit. Blocking I/O on
        the store (call it off the event loop). Never call it for a request that
        authenticated: nothing here may refuse correct credentials."""
        now = self._clock()
        keys = list(keys)
        with self._lock:
            blocked = [u for k in keys if (u := self._blocked.get(k, now)) is not None]
        if blocked:
            raise self._refuse(max(blocked), now)  # known here: no I/O at all
        self._check(self._fallback, keys, now)  # what this process counted for a failed store
        try:
            self._check(self.store, keys, now)
            self.store.add(keys, now)
        except TooManyFailures:
            raise
        except Exception as exc:  # the store failed: count here rather than not at all
            log_event(log, "throttle_store_error", logging.ERROR, **error_fields(exc))
            self._fallback.add(keys, now)
            return
        with self._lock:
            due = now >= self._next_prune
            if due:
                self._next_prune = now + self.window
        if due:  # at most once a window per process, and only for a counted failure
            try:
                self.store.prune(now - self.window)
                self._fallback.prune(now - self.window)
            except Exception as exc:  # counted already; the next window's prune catches up
                log_event(log, "throttle_store_error", logging.ERROR, **error_fields(exc))

    def _check(self, store: FailureStore, keys: list[str], now: float) -> None:
        for key in keys:
            # The oldest of the newest `limit` failures leaving the window lifts the block.
            oldest = store.nth_newest(key, now - self.window, self.limit)
            if oldest is None:
                continue
            until = oldest + self.window
            with self._lock:
                self._blocked.put(key, until)
            log_event(
                log,
                "client_authentication_throttled",
                logging.WARNING,
                key=key,
                limit=self.limit,
                window=self.window,
                retry_after=max(1, math.ceil(until - now)),
            )
            raise self._refuse(until, now)
