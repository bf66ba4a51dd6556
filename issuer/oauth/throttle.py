"""Brute-force brake for client authentication (ATTACKS.md 15).

Failures are counted per claimed client id and per remote address in a sliding window;
past the limit that key gets 429 with `Retry-After` until its oldest failure leaves the
window, so a real client is slowed for at most `window` seconds, never locked out.
Per process: with several workers or Lambda instances each keeps its own count (an
upper bound of limit x instances); a shared store can replace it behind the same API.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

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


class FailureThrottle:
    def __init__(
        self,
        limit: int = 10,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit, self.window, self._clock, self._max_keys = limit, window, clock, max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        if times is not None and not times:
            del self._failures[key]
            return None
        return times

    def check(self, keys: Iterable[str]) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self.limit:
                    raise TooManyFailures(max(1, math.ceil(times[0] + self.window - now)))

    def record_failure(self, keys: Iterable[str]) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) >= self._max_keys:  # bounded memory under a flood
                self._failures.clear()
            for key in keys:
                self._failures.setdefault(key, deque(maxlen=self.limit)).append(now)
