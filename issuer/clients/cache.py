"""A short-lived, in-process cache of what the token endpoint needs to know about a client.

Authenticating a client and deciding its grant needs the client's row and its revocation
record (`issuer/oauth/revocation.py`: a new token carries the client's revocation
generation, `gen`).
Reading both on every token request cost more than signing (docs/benchmarks.md), so
`ClientCache.get(session, client_id)` keeps an immutable `ClientRecord` per client for
`ISSUER_CLIENT_CACHE_TTL` seconds (default 5; 0 turns the cache off).

Freshness:
- In this process a change is seen at once: `watch_client_changes(sessions, cache)`
  listens to the ORM sessions of this issuer and drops a client's record when a commit
  touched its `clients` row or `client_revocations` record (admin API, or anything else
  written through `services.sessions`), and every record on a bulk UPDATE/DELETE of
  clients. A load that started before such a commit is not stored (generation check),
  so an old row read concurrently cannot come back for a TTL.
- Other processes (workers, Lambda instances, the CLI) see a change within the TTL:
  until then they may still accept a disabled, deleted or rotated-out client's secret.
  Tokens a disabled or deleted client obtained before its revocation are refused by
  the authorizer through the revocation list (docs/revocation.md), and so are those a
  stale process mints meanwhile: they carry the generation of the record it cached,
  below the revocation's (docs/design.md, "Caches").
- Unknown client ids are cached too (apart, so a flood of made-up ids cannot evict the
  real clients): a wrong id must cost what a wrong secret costs, or response times would
  tell which ids exist (tests/issuer/test_throttle_timing.py). A client registered in
  another process is unknown here for at most the TTL only if its id was asked for
  before it existed: ids are 128 random bits, so in practice it works at once.
The TTL runs on the services' clock (`Services.clock`), so tests move time instead of
sleeping; a clock that goes backwards counts as expired.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final, Literal, NamedTuple

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from issuer.store.tables import client_revocations_table, clients_table

MAX_ENTRIES = 10_000


class _Miss(Enum):
    MISS = 0  # ClientCache._fresh: nothing cached


_MISS: Final = _Miss.MISS

_CLIENT = clients_table.c
_REVOCATION = client_revocations_table.c
_LOAD = (
    select(
        _CLIENT.client_id,
        _CLIENT.enabled,
        _CLIENT.auth_method,
        _CLIENT.secret_hash,
        _CLIENT.previous_secret_hash,
        _CLIENT.previous_secret_valid_until,
        _CLIENT.scopes,
        _CLIENT.default_scopes,
        _CLIENT.audiences,
        _CLIENT.grant_types,
        _CLIENT.token_lifetime,
        _CLIENT.jwks,
        _CLIENT.tls_client_auth_subject_dn,
        _CLIENT.token_binding,
        _REVOCATION.generation,
    )
    .outerjoin(client_revocations_table, _REVOCATION.client_id == _CLIENT.client_id)
    .where(_CLIENT.client_id == bindparam("client_id"))
)


class ClientRecord(NamedTuple):
    """A snapshot of one client: the fields client authentication and the grant read
    (the same names as the `clients` columns), plus its revocation record if any."""

    client_id: str
    enabled: bool
    auth_method: str
    secret_hash: str | None
    previous_secret_hash: str | None
    previous_secret_valid_until: datetime | None
    scopes: tuple[str, ...]
    default_scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    grant_types: tuple[str, ...]
    token_lifetime: int | None
    jwks: Mapping[str, Any] | None
    # client_revocations.generation (0: none): what a token minted from this snapshot
    # carries as `gen`.
    generation: int
    # RFC 8705 §2.1.2 (tls_client_auth clients) and what tokens are bound to (none, mtls,
    # dpop); defaults keep records built by hand (tests, benchmarks) bearer clients.
    tls_client_auth_subject_dn: str | None = None
    token_binding: str = "none"  # noqa: S105 (a binding kind, not a secret)
    # (iss, sub): the external identity a federated assertion authenticated the client
    # with, on the record that request got (issuer/oauth/federated.py); never cached.
    federated_identity: tuple[str, str] | None = None


def _aware(value: datetime | None) -> datetime | None:
    # Core rows skip no type processing, but be safe about SQLite's naive datetimes.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def load_client_record(session: Session, client_id: str) -> ClientRecord | None:
    """One query: the client and its revocation record (None: no such client)."""
    row = session.execute(_LOAD, {"client_id": client_id}).one_or_none()
    if row is None:
        return None
    return ClientRecord(
        client_id=row.client_id,
        enabled=bool(row.enabled),
        auth_method=row.auth_method,
        secret_hash=row.secret_hash,
        previous_secret_hash=row.previous_secret_hash,
        previous_secret_valid_until=_aware(row.previous_secret_valid_until),
        scopes=tuple(row.scopes),
        default_scopes=tuple(row.default_scopes),
        audiences=tuple(row.audiences),
        grant_types=tuple(row.grant_types),
        token_lifetime=row.token_lifetime,
        jwks=row.jwks,
        generation=row.generation or 0,
        tls_client_auth_subject_dn=row.tls_client_auth_subject_dn,
        token_binding=row.token_binding or "none",
    )


class ClientCache:
    """client_id -> (loaded at, ClientRecord), for `ttl` seconds of `clock`."""

    def __init__(
        self,
        ttl: float,
        clock: Callable[[], datetime],
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.ttl = timedelta(seconds=ttl)
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[str, tuple[datetime, ClientRecord]] = {}
        self._absent: dict[str, datetime] = {}  # ids with no client, when last looked up
        self._lock = threading.Lock()
        # Bumped by every invalidation: a load that began before one is not stored.
        self._generation = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > timedelta(0)

    def get(self, session: Session, client_id: str) -> ClientRecord | None:
        if not self.enabled:
            return load_client_record(session, client_id)
        now = self._clock()
        found = self._fresh(client_id, now)
        if found is not _MISS:
            return found  # a record, or None: no such client
        generation = self._generation
        record = load_client_record(session, client_id)
        with self._lock:
            if generation == self._generation:
                # Bounded: when full, start over (a miss only costs a query).
                if record is None:
                    if len(self._absent) >= self._max_entries:
                        self._absent.clear()
                    self._absent[client_id] = now
                else:
                    if len(self._entries) >= self._max_entries:
                        self._entries.clear()
                    self._entries[client_id] = (now, record)
                    self._absent.pop(client_id, None)
        return record

    def cached(self, client_id: str) -> bool:
        """True if `get(session, client_id)` would answer without the database now."""
        return self.enabled and self._fresh(client_id, self._clock()) is not _MISS

    def _fresh(self, client_id: str, now: datetime) -> ClientRecord | Literal[_Miss.MISS] | None:
        """The cached record, None for a cached unknown id, `_MISS` when neither is
        younger than the TTL."""
        entry = self._entries.get(client_id)
        if entry is not None and entry[0] <= now < entry[0] + self.ttl:
            return entry[1]
        absent = self._absent.get(client_id)
        if absent is not None and absent <= now < absent + self.ttl:
            return None
        return _MISS

    def invalidate(self, client_ids: set[str] | None = None) -> None:
        """Forget these clients (None: all of them)."""
        with self._lock:
            self._generation += 1
            if client_ids is None:
                self._entries.clear()
                self._absent.clear()
            else:
                for client_id in client_ids:
                    self._entries.pop(client_id, None)
                    self._absent.pop(client_id, None)


_TOUCHED = "tollgate_touched_clients"
_ALL = "*"


def _touched(session: Session) -> set[str]:
    return session.info.setdefault(_TOUCHED, set())


def _watched(table: object) -> bool:
    # By table, not by ORM class: the classes (issuer/store/models.py) are imported by
    # what edits clients, never by a cold start for a token.
    return table is clients_table or table is client_revocations_table


def watch_client_changes(sessions: sessionmaker[Session], cache: ClientCache) -> None:
    """Invalidate `cache` when a session of `sessions` commits a change to a client or
    its revocation record (flushed objects, and bulk UPDATE/DELETE statements). What a
    rolled-back flush touched is invalidated at the session's next commit: harmless."""

    def after_flush(session: Session, _context: Any) -> None:
        for obj in (*session.new, *session.dirty, *session.deleted):
            if _watched(getattr(obj, "__table__", None)):
                _touched(session).add(obj.client_id)

    def do_orm_execute(state: ORMExecuteState) -> None:
        # ORM statements only (update(Client)): a Core DELETE on the table is how the
        # revocation prune drops expired records without emptying this cache
        # (issuer/oauth/revocation.py `prune`).
        if (state.is_update or state.is_delete) and state.bind_mapper is not None:
            if _watched(state.bind_mapper.local_table):
                _touched(state.session).add(_ALL)

    def after_commit(session: Session) -> None:
        touched = session.info.pop(_TOUCHED, None)
        if touched:
            cache.invalidate(None if _ALL in touched else touched)

    event.listen(sessions, "after_flush", after_flush)
    event.listen(sessions, "do_orm_execute", do_orm_execute)
    event.listen(sessions, "after_commit", after_commit)
