"""Revocation at the authorizer: the issuer's signed revocation list, refreshed on a TTL.

The list's format, and the checks a list must pass before it is adopted (signature by a
key of the issuer's JWKS, `typ`, `iss`, `iat`/`exp`, claim types), are the contract
between the halves, in `shared/revocation_list.py`. A token is refused (`revoked`) when
its `jti` is listed, or its client is listed (by `client_key`, a hash of its id: the
public list names no client in clear) and the token's `gen` claim (absent: 0) is below
that client's generation: the token was minted from a client record older than the
client's latest revocation.

Here: when to fetch, and which verified list to hold. Only a list whose `seq` is strictly
above the held list's replaces it (a list of the same `seq`, or an older one replayed
within its `exp`, never does). A list that cannot be adopted (refused, unreachable
issuer, too large) is an `error` log line; an older `seq` a `warning` (issuer processes'
list caches may briefly disagree). A held list is never dropped: only a strictly newer
one replaces it.

Timing: refreshed at most once per `ttl` (failed attempts count too), in line with a
request, with the fetcher's short timeout; so an unreachable issuer costs one bounded
wait per TTL, never one per request. Between refreshes the check is two dictionary
lookups, on cache hits as on misses (plus, while the list names clients, one more for
the client's key, remembered per client id: SHA-256 is paid once per client).

Before a first list is held (`fail_closed`, AUTHORIZER_REVOCATION_FAIL): "closed" (the
default) refuses every token with `revocation_unavailable` and retries every
`NO_LIST_RETRY` seconds; "open" checks tokens without revocation until a list arrives.
docs/revocation.md states the trade-off.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from shared.errors import TokenError
from shared.revocation_list import (
    MAX_LIST_BYTES,
    VerifiedRevocationList,
    client_key,
    parse_revocation_list,
)
from shared.verify import KeyLookup

Fetcher = Callable[[str], bytes]
Clock = Callable[[], float]
Log = Callable[..., None]

FETCH_TIMEOUT = 1.0  # seconds: the request that triggers a refresh waits at most this
# Seconds between attempts while a fail-closed authorizer holds no list (it refuses every
# token meanwhile, so waiting a whole TTL would be an outage of that length).
NO_LIST_RETRY = 1.0
# Client keys remembered (client id -> `client_key`): the ids come from verified tokens,
# so this holds about one entry per real client; a full memo is dropped, not grown.
MAX_CLIENT_KEYS = 4096

__all__ = ["MAX_LIST_BYTES", "RevocationCache", "fetch_revocation_list", "parse_revocation_list"]


def fetch_revocation_list(uri: str) -> bytes:
    from authorizer.jwks_cache import fetch_jwks

    return fetch_jwks(uri, FETCH_TIMEOUT, MAX_LIST_BYTES, what="revocation list")


class RevocationCache:
    """`revoked(client_id, jti, gen)`: the decision's check, refreshing when due."""

    def __init__(
        self,
        *,
        uri: str,
        issuer: str,
        key_lookup: KeyLookup,
        ttl: float = 30,
        leeway: float = 0,
        fail_closed: bool = True,
        fetcher: Fetcher = fetch_revocation_list,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        log: Log | None = None,
    ) -> None:
        self._uri = uri
        self._issuer = issuer
        self._key_lookup = key_lookup
        self._ttl = ttl
        self._leeway = leeway
        self._fail_closed = fail_closed
        self._fetch = fetcher
        self._clock = clock
        self._wall = wall_clock
        self._log = log or (lambda *args, **kwargs: None)
        self._list: VerifiedRevocationList | None = None  # None: never held one
        self._due_at = -math.inf  # monotonic time of the next refresh
        self._client_keys: dict[str, str] = {}  # client id -> client_key(id)

    @property
    def current(self) -> VerifiedRevocationList | None:
        return self._list

    def revoked(self, client_id: str, jti: str | None, gen: int) -> bool:
        """True if listed; `gen` is the token's generation (`gen` claim, 0 if absent).
        Raises `TokenError("revocation_unavailable")` while no list was ever held and
        the authorizer fails closed."""
        if self._clock() >= self._due_at:
            self.refresh()
        current = self._list
        if current is None:
            if self._fail_closed:
                raise TokenError("revocation_unavailable", "no revocation list held yet")
            return False
        if jti is not None and jti in current.jtis:
            return True
        clients = current.clients
        if not clients:
            return False
        key = self._client_keys.get(client_id)
        if key is None:
            key = self._client_key(client_id)
        generation = clients.get(key)
        return generation is not None and not (type(gen) is int and gen >= generation)

    def _client_key(self, client_id: str) -> str:
        keys = self._client_keys
        if len(keys) >= MAX_CLIENT_KEYS:
            keys.clear()
        key = keys[client_id] = client_key(client_id)
        return key

    def _serving(self) -> int:
        held = self._list
        return -1 if held is None else len(held.jtis) + len(held.clients)

    def refresh(self) -> None:
        """One attempt; whatever happens, the next is a TTL away (`NO_LIST_RETRY` while a
        closed authorizer holds no list: it refuses everything meanwhile). No lock:
        Lambda runs one request at a time, and two racing refreshes only fetch twice."""
        started = self._clock()
        wait = self._ttl
        if self._list is None and self._fail_closed:
            wait = min(wait, NO_LIST_RETRY)
        self._due_at = started + wait
        try:
            body = self._fetch(self._uri)
            fresh = parse_revocation_list(
                body, self._key_lookup, self._issuer, self._wall(), self._leeway
            )
        except TokenError as exc:
            # A document we must not trust (forged, foreign, stale, malformed).
            self._log("error", "revocation_list_refused", reason=exc.code, detail=exc.detail,
                      serving=self._serving())
            return
        except Exception as exc:
            # KeySetError: issuer unreachable or the body too large; anything else a bug in
            # a fetcher. Either way revocations made since the held list do not arrive.
            self._log("error", "revocation_list_fetch_failed",
                      error=f"{type(exc).__name__}: {exc}", serving=self._serving())
            return
        held = self._list
        if held is not None and fresh.seq <= held.seq:
            if fresh.seq < held.seq:
                self._log("warning", "revocation_list_not_newer", seq=fresh.seq,
                          held_seq=held.seq, serving=self._serving())
            return  # the same list again: nothing to do
        self._list = fresh
        self._due_at = started + self._ttl
        self._log("info", "revocation_list_fetched", seq=fresh.seq, jtis=len(fresh.jtis),
                  clients=len(fresh.clients))
