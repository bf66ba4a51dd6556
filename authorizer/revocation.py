"""Revocation at the authorizer: the issuer's signed revocation list, refreshed on a TTL.

The issuer publishes `GET /.well-known/revocations.jwt` (issuer/oauth/revocation.py): a JWS
with `typ: revocation-list+jwt`, signed by a key of its JWKS, whose claims are `iss`,
`iat`, `exp`, `seq` (its sequence number), `jtis: {jti: exp}` and `clients: {client_id:
generation}`. A token is refused (`revoked`) when its `jti` is listed, or its client is
listed and the token's `gen` claim (absent: 0) is below that client's generation: the
token was minted from a client record older than the client's latest revocation.

Adopting a list (anything else is kept out, and the list held keeps serving):
- structure as for tokens but up to `MAX_LIST_BYTES`; `typ` exactly ours, so no access
  token or other JWT of the issuer can pass for a list (RFC 8725 §3.11), no `crit`;
- signature by a key of the issuer's JWKS chosen by `kid`, algorithm from the key
  (`shared.verify.verify_signature`: `none`, HS*, foreign keys refused);
- `iss` is the configured issuer; `exp` not passed and `iat` not in the future (within
  the leeway), so a stale copy replayed from a cache cannot roll revocations back;
- `seq` strictly above the held list's (a list of the same `seq`, or an older one
  replayed within its `exp`, never replaces it);
- `jtis` maps strings to numbers, `clients` strings to integers, nothing else.
A list that cannot be adopted (refused, unreachable issuer, too large) is an `error` log
line; an older `seq` a `warning` (issuer processes' list caches may briefly disagree).
A held list is never dropped: only a strictly newer one replaces it.

Timing: refreshed at most once per `ttl` (failed attempts count too), in line with a
request, with the fetcher's short timeout; so an unreachable issuer costs one bounded
wait per TTL, never one per request. Between refreshes the check is two dictionary
lookups, on cache hits as on misses.

Before a first list is held (`fail_closed`, AUTHORIZER_REVOCATION_FAIL): "closed" (the
default) refuses every token with `revocation_unavailable` and retries every
`NO_LIST_RETRY` seconds; "open" checks tokens without revocation until a list arrives.
docs/revocation.md states the trade-off.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeGuard, TypeVar

from shared.claims import is_number
from shared.errors import TokenError
from shared.jws import parse_compact
from shared.verify import KeyLookup, verify_signature

Fetcher = Callable[[str], bytes]
Clock = Callable[[], float]
Log = Callable[..., None]

REVOCATION_LIST_TYP = "revocation-list+jwt"
MAX_LIST_BYTES = 1024 * 1024  # ~25 000 revoked tokens; a bigger body is not our list
FETCH_TIMEOUT = 1.0  # seconds: the request that triggers a refresh waits at most this
# Seconds between attempts while a fail-closed authorizer holds no list (it refuses every
# token meanwhile, so waiting a whole TTL would be an outage of that length).
NO_LIST_RETRY = 1.0


def fetch_revocation_list(uri: str) -> bytes:
    from authorizer.jwks_cache import fetch_jwks

    return fetch_jwks(uri, FETCH_TIMEOUT, MAX_LIST_BYTES, what="revocation list")


class RevocationList:
    """A verified list: `jtis` and `clients` as plain dicts for the hot path."""

    __slots__ = ("clients", "exp", "iat", "jtis", "seq")

    def __init__(
        self, iat: float, exp: float, seq: int, jtis: dict[str, float], clients: dict[str, int]
    ) -> None:
        self.iat = iat
        self.exp = exp
        self.seq = seq
        self.jtis = jtis
        self.clients = clients


# shared.claims.is_number: an integer beyond float range (10**400) is refused, never an
# OverflowError.
_is_number = is_number


_V = TypeVar("_V")


def _string_to(
    value: object, name: str, check: Callable[[object], TypeGuard[_V]]
) -> dict[str, _V]:
    if type(value) is not dict or not all(type(k) is str and check(v) for k, v in value.items()):
        raise TokenError("bad_claim", f"{name} is not an object of the expected values")
    return value


def _is_int(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0  # bool is not int here: type() is exact


def parse_revocation_list(
    body: bytes | str, key_lookup: KeyLookup, issuer: str, now: float, leeway: float = 0
) -> RevocationList:
    """The verified list, or `TokenError` saying why it must not be adopted."""
    try:
        text = body.decode("ascii") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise TokenError("malformed", "revocation list is not ASCII") from None
    jws = parse_compact(text.strip(), max_bytes=MAX_LIST_BYTES)  # duplicate keys refused
    header = jws.header
    if "crit" in header:
        raise TokenError("crit_unsupported", "crit header present")
    typ = header.get("typ")
    if type(typ) is not str or typ.lower() != REVOCATION_LIST_TYP:
        raise TokenError("wrong_typ", "typ is not revocation-list+jwt")
    verify_signature(jws, key_lookup)
    claims = jws.claims
    if claims.get("iss") != issuer:
        raise TokenError("wrong_issuer", "iss is not the configured issuer")
    iat, exp, seq = claims.get("iat"), claims.get("exp"), claims.get("seq")
    if not _is_number(iat) or not _is_number(exp):
        raise TokenError("bad_claim", "iat and exp must be numbers")
    if not _is_int(seq):
        raise TokenError("bad_claim", "seq must be a non-negative integer")
    if now >= exp + leeway:
        raise TokenError("expired", "revocation list expired")
    if iat > now + leeway:
        raise TokenError("not_yet_valid", "revocation list iat in the future")
    jtis = _string_to(claims.get("jtis", {}), "jtis", _is_number)
    clients = _string_to(claims.get("clients", {}), "clients", _is_int)
    return RevocationList(iat, exp, seq, jtis, clients)


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
        self._list: RevocationList | None = None  # None: never held one
        self._due_at = -math.inf  # monotonic time of the next refresh

    @property
    def current(self) -> RevocationList | None:
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
        generation = current.clients.get(client_id)
        return generation is not None and not (type(gen) is int and gen >= generation)

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
