"""Verified tokens remembered by a warm Lambda, so a repeat costs a dict lookup.

Bounded LRU (an `OrderedDict`): a flood of distinct tokens evicts the oldest entries,
never grows memory without limit. Keyed by the Authorization value as received (the
decision parses the bearer token only on a miss); not hashed first: that would cost more
than the dictionary's own hash, and the cache never leaves the process.

Horizon (why an entry may live as long as it does):
- never past the token's `exp` (no leeway: inside the leeway the verifier still decides,
  so the cache can only be stricter than the verifier, never looser);
- never longer than `max_age`, which the authorizer sets to the JWKS TTL: a key the
  issuer withdraws stops vouching for cached tokens on the same horizon as for new ones.
  Revocation (RFC 7009) needs no bound here: the decision checks the revocation list on
  every hit (`authorizer/revocation.py`), a dictionary lookup.
Only verified tokens are stored; refusals are not (they are cheap or must be re-checked).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

MAX_ENTRIES = 10_000

_V = TypeVar("_V")


class TokenCache(Generic[_V]):
    """Authorization value -> what its verification produced (`_V`: the decision's Grant)."""

    __slots__ = ("_clock", "_entries", "max_age", "max_entries")

    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        max_age: float = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self._clock = clock
        # token -> (expires_at, value)
        self._entries: OrderedDict[str, tuple[float, _V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    # No lock: Lambda runs one invocation at a time per instance. Should two threads
    # race (a local stand-in), the worst case is a KeyError here, answered as a miss:
    # the token is verified again, never wrongly accepted.
    def get(self, token: str) -> _V | None:
        entries = self._entries
        item = entries.get(token)
        if item is None:
            return None
        try:
            if self._clock() >= item[0]:
                del entries[token]
                return None
            entries.move_to_end(token)
        except KeyError:
            return None
        return item[1]

    def put(self, token: str, value: _V, exp: float) -> None:
        entries = self._entries
        entries[token] = (min(exp, self._clock() + self.max_age), value)
        try:
            entries.move_to_end(token)
            while len(entries) > self.max_entries:
                entries.popitem(last=False)
        except KeyError:
            pass

    def clear(self) -> None:
        self._entries.clear()
