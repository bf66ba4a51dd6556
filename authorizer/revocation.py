"""Revocation at the authorizer: the issuer's signed revocation list, refreshed on a TTL.

The issuer publishes `GET /.well-known/revocations.jwt` (issuer/revocation.py): a JWS
with `typ: revocation-list+jwt`, signed by a key of its JWKS, whose claims are `iss`,
`iat`, `exp`, `jtis: {jti: exp}` and `clients: {client_id: issued_before}`. A token is
refused (`revoked`) when its `jti` is listed, or its client is listed and its `iat` is at
or before that client's moment (a token without `iat` cannot show it is newer).

Adopting a list (anything else is ignored, and the last good list kept):
- structure as for tokens but up to `MAX_LIST_BYTES`; `typ` exactly ours, so no access
  token or other JWT of the issuer can pass for a list (RFC 8725 §3.11), no `crit`;
- signature by a key of the issuer's JWKS chosen by `kid`, algorithm from the key
  (`shared.verify.verify_signature`: `none`, HS*, foreign keys refused);
- `iss` is the configured issuer; `exp` not passed and `iat` not in the future (within
  the leeway), so a stale copy replayed from a cache cannot roll revocations back; and
  `iat` not older than the list held (no rollback to an older list either);
- `jtis` and `clients` map strings to numbers, nothing else.

Timing: refreshed at most once per `ttl` (failed attempts count too), in line with a
request, with the fetcher's short timeout; so an unreachable issuer costs one bounded
wait per TTL, never one per request. Between refreshes the check is two dictionary
lookups, on cache hits as on misses. Until a first list arrives nothing is refused for
revocation (fail-open: the issuer is not made a hard dependency of every API; logged).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

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


def fetch_revocation_list(uri: str) -> bytes:
    from authorizer.jwks_cache import fetch_jwks

    return fetch_jwks(uri, FETCH_TIMEOUT, MAX_LIST_BYTES, what="revocation list")


class RevocationList:
    """A verified list: `jtis` and `clients` as plain dicts for the hot path."""

    __slots__ = ("clients", "exp", "iat", "jtis")

    def __init__(self, iat: float, exp: float, jtis: dict, clients: dict) -> None:
        self.iat = iat
        self.exp = exp
        self.jtis = jtis
        self.clients = clients


EMPTY = RevocationList(-math.inf, -math.inf, {}, {})


# shared.claims.is_number: an integer beyond float range (10**400) is refused, never an
# OverflowError.
_is_number = is_number


def _string_to_number(value: object, name: str) -> dict:
    if type(value) is not dict or not all(
        type(k) is str and _is_number(v) for k, v in value.items()
    ):
        raise TokenError("bad_claim", f"{name} is not an object of numbers")
    return value


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
    iat, exp = claims.get("iat"), claims.get("exp")
    if not _is_number(iat) or not _is_number(exp):
        raise TokenError("bad_claim", "iat and exp must be numbers")
    if now >= exp + leeway:
        raise TokenError("expired", "revocation list expired")
    if iat > now + leeway:
        raise TokenError("not_yet_valid", "revocation list iat in the future")
    jtis = _string_to_number(claims.get("jtis", {}), "jtis")
    clients = _string_to_number(claims.get("clients", {}), "clients")
    return RevocationList(iat, exp, jtis, clients)


class RevocationCache:
    """`revoked(client_id, jti, iat)`: the decision's check, refreshing when due."""

    def __init__(
        self,
        *,
        uri: str,
        issuer: str,
        key_lookup: KeyLookup,
        ttl: float = 30,
        leeway: float = 0,
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
        self._fetch = fetcher
        self._clock = clock
        self._wall = wall_clock
        self._log = log or (lambda *args, **kwargs: None)
        self._list = EMPTY
        self._due_at = -math.inf  # monotonic time of the next refresh

    @property
    def current(self) -> RevocationList:
        return self._list

    def revoked(self, client_id: str, jti: str | None, iat: float | None) -> bool:
        if self._clock() >= self._due_at:
            self.refresh()
        current = self._list
        if jti is not None and jti in current.jtis:
            return True
        cutoff = current.clients.get(client_id)
        return cutoff is not None and (iat is None or iat <= cutoff)

    def refresh(self) -> None:
        """One attempt; whatever happens, the next is a TTL away. No lock: Lambda runs
        one request at a time, and two racing refreshes only fetch twice."""
        self._due_at = self._clock() + self._ttl
        try:
            body = self._fetch(self._uri)
            fresh = parse_revocation_list(
                body, self._key_lookup, self._issuer, self._wall(), self._leeway
            )
        except TokenError as exc:
            # A document we must not trust (forged, foreign, stale): keep the last good one.
            self._log("warning", "revocation_list_refused", reason=exc.code, detail=exc.detail,
                      serving=len(self._list.jtis) + len(self._list.clients))
            return
        except Exception as exc:
            # KeySetError: issuer unreachable or the body too large; anything else a bug in
            # a fetcher. Either way the last good list keeps serving.
            self._log("warning", "revocation_list_fetch_failed",
                      error=f"{type(exc).__name__}: {exc}",
                      serving=len(self._list.jtis) + len(self._list.clients))
            return
        if fresh.iat < self._list.iat:
            self._log("warning", "revocation_list_refused", reason="older_than_current",
                      serving=len(self._list.jtis) + len(self._list.clients))
            return
        self._list = fresh
        self._log("info", "revocation_list_fetched", jtis=len(fresh.jtis),
                  clients=len(fresh.clients))
