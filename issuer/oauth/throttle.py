"""Brute-force brake for client authentication (ATTACKS.md 15).

Failures are counted per claimed client id and per remote address in a sliding window;
past `limit` that key gets 429 with `Retry-After` (RFC 6585 §4) until enough of its
failures have left the window, so a real client is slowed for at most `window` seconds,
never locked out. While blocked, attempts are refused before authentication and are not
counted (a flood cannot extend the block, and a right guess earns nothing).

Counts live in a `FailureStore` (the database in production, so every worker and Lambda
instance sees the same counts). The store is touched only on the failure path:

- a failure writes one row per key, reads back the newest `limit` times, and may set a
  local "blocked until" (cached for the block's exact length: nothing but time lifts it);
- `check` costs nothing for a key this process has not seen fail within the window (the
  normal case: a good client pays no database read or write for the throttle). For a
  key it has seen fail, it reads the shared count, so failures spread over processes add
  up. The price: a key's first attempt on each process is unchecked, so across N
  processes a key gets at most max(limit, N) failures per window.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from .errors import OAuthError


class TooManyFailures(OAuthError):
    error = "temporarily_unavailable"
    status_code = 429
    default_description = "too many failed attempts; retry later"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "Retry-After": str(self.retry_after)}


class FailureStore(Protocol):
    def add(self, keys: Sequence[str], at: float) -> None:
        """Record one failure at `at` (epoch seconds) for each key."""

    def newest(self, key: str, since: float, limit: int) -> list[float]:
        """Up to `limit` newest failure times of `key` after `since`, oldest first."""

    def prune(self, before: float) -> None:
        """Forget failures at or before `before` (they can no longer count)."""


class MemoryFailureStore:
    """Per-process store: tests, and a single process without a database."""

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

    def newest(self, key: str, since: float, limit: int) -> list[float]:
        with self._lock:
            recent = [t for t in self._times.get(key, ()) if t > since]
        return sorted(recent)[-limit:]

    def prune(self, before: float) -> None:
        with self._lock:
            for key in list(self._times):
                kept = [t for t in self._times[key] if t > before]
                if kept:
                    self._times[key] = kept
                else:
                    del self._times[key]


def throttle_keys(peer: str | None, claimed_client_id: str | None) -> list[str]:
    """What one authentication attempt counts against: the remote address and, if the
    request names one, the claimed client id (cut to 64 characters: a flood of long
    made-up ids must not grow the keys). The token, introspection and revocation
    endpoints all use these keys, so a guess anywhere spends the same budget."""
    keys = [f"addr:{peer or '-'}"]
    if claimed_client_id:
        keys.append(f"client:{claimed_client_id[:64]}")
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
            self._until.clear()  # losing hints only costs a database read later
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
        self._blocked = _ExpiringSet(max_keys)  # key -> blocked until
        self._suspect = _ExpiringSet(max_keys)  # key -> local failure seen, until
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def _retry_after(self, until: float, now: float) -> int:
        return max(1, math.ceil(until - now))

    def _block_from_store(self, key: str, now: float) -> float | None:
        times = self.store.newest(key, now - self.window, self.limit)
        if len(times) < self.limit:
            return None
        # The oldest of the newest `limit` failures leaving the window lifts the block.
        until = times[0] + self.window
        with self._lock:
            self._blocked.put(key, until)
        return until

    def check(self, keys: Iterable[str]) -> None:
        """Raise `TooManyFailures` if any key is blocked; blocking I/O (call off the loop)."""
        now = self._clock()
        keys = list(keys)
        with self._lock:
            blocked = [u for k in keys if (u := self._blocked.get(k, now)) is not None]
            suspects = [k for k in keys if self._suspect.get(k, now) is not None]
        if blocked:
            raise TooManyFailures(self._retry_after(max(blocked), now))
        for key in suspects:
            until = self._block_from_store(key, now)
            if until is not None:
                raise TooManyFailures(self._retry_after(until, now))

    def check_from_memory(self, keys: Iterable[str]) -> bool:
        """`check(keys)` as far as memory can answer it: raise `TooManyFailures` if a key
        is blocked here; True if that was the whole check (no key failed on this process
        within the window), False if the store must be read (call `check`, off the loop).
        The token endpoint's in-memory path makes this its only throttle check."""
        now = self._clock()
        with self._lock:
            blocked = [u for k in keys if (u := self._blocked.get(k, now)) is not None]
            local = all(self._suspect.get(k, now) is None for k in keys)
        if blocked:
            raise TooManyFailures(self._retry_after(max(blocked), now))
        return local

    def record_failure(self, keys: Iterable[str]) -> None:
        now = self._clock()
        keys = list(keys)
        self.store.add(keys, now)
        with self._lock:
            for key in keys:
                self._suspect.put(key, now + self.window)
            prune = now >= self._next_prune
            if prune:
                self._next_prune = now + self.window
        for key in keys:
            self._block_from_store(key, now)
        if prune:  # at most once a window per process, and only on the failure path
            self.store.prune(now - self.window)
