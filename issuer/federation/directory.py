"""What the token endpoint reads about federation, cached as clients are.

`Federation.issuer(session, iss)` gives a trusted issuer as a frozen `IssuerRecord`
(with its key lookup: the inline `jwks` parsed once, or the `jwks_uri`'s `RemoteKeys`),
`Federation.client_id_for(session, iss, sub)` the client an external identity names.
Both are kept for `ISSUER_CLIENT_CACHE_TTL` on the services' clock (absent answers too,
so a flood of made-up issuers costs no query per request), and dropped in this process
at once when a session of the issuer commits a change to a trusted issuer or an
identity (`watch_federation_changes`), as `issuer/clients/cache.py` does for clients.
A fetched JWKS is kept by `RemoteKeys` across those reloads (same issuer, same URI), so
an admin change does not refetch every issuer's keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from issuer.federation.identities import client_id_for
from issuer.federation.jwks import RemoteKeys, UriPolicy, fetch_jwks
from issuer.store.federation_tables import FederatedIdentity, TrustedIssuer
from issuer.store.models import Client
from shared.errors import KeySetError
from shared.jwk import KeySet, PublicKey

MAX_ENTRIES = 10_000

KeyLookup = Callable[[str | None], PublicKey | None]


@dataclass(frozen=True)
class IssuerRecord:
    id: str
    issuer: str
    algorithms: frozenset[str]
    audience: str  # resolved: the configured one, or our token endpoint URL
    max_token_age: int
    allow_reuse: bool
    keys: KeyLookup


def _inline_lookup(keys: KeySet, kid: str | None) -> PublicKey | None:
    return keys.get(kid)


class Federation:
    def __init__(
        self,
        token_endpoint: str,
        ttl: float,
        clock: Callable[[], datetime],
        uri_policy: UriPolicy,
        fetcher: Callable[[str], bytes] | None = None,
    ) -> None:
        self._token_endpoint = token_endpoint
        self.ttl = timedelta(seconds=ttl)
        self._clock = clock
        self._policy = uri_policy
        self._fetcher = fetcher or partial(fetch_jwks, policy=uri_policy)
        self._lock = threading.Lock()
        self._issuers: dict[str, tuple[datetime, IssuerRecord | None]] = {}
        self._identities: dict[tuple[str, str], tuple[datetime, str | None]] = {}
        self._remote: dict[tuple[str, str], RemoteKeys] = {}
        self._generation = 0

    def _fresh(self, at: datetime, now: datetime) -> bool:
        return at <= now < at + self.ttl

    def issuer(self, session: Session, iss: str) -> IssuerRecord | None:
        now = self._clock()
        entry = self._issuers.get(iss)
        if entry is not None and self._fresh(entry[0], now):
            return entry[1]
        generation = self._generation
        row = session.scalars(select(TrustedIssuer).where(TrustedIssuer.issuer == iss)).first()
        record = self._record(row) if row is not None else None
        self._store(self._issuers, iss, (now, record), generation)
        return record

    def client_id_for(self, session: Session, iss: str, sub: str) -> str | None:
        now = self._clock()
        entry = self._identities.get((iss, sub))
        if entry is not None and self._fresh(entry[0], now):
            return entry[1]
        generation = self._generation
        client_id = client_id_for(session, iss, sub)
        self._store(self._identities, (iss, sub), (now, client_id), generation)
        return client_id

    def _store(self, table: dict[Any, Any], key: Any, value: Any, generation: int) -> None:
        if not self.ttl:
            return
        with self._lock:
            if generation != self._generation:
                return  # a change was committed while this was read: do not keep it
            if len(table) >= MAX_ENTRIES:
                table.clear()
            table[key] = value

    def _record(self, row: TrustedIssuer) -> IssuerRecord:
        keys: KeyLookup
        if row.jwks is not None:
            keys = partial(_inline_lookup, KeySet.from_jwks(row.jwks))
        elif row.jwks_uri is not None:
            keys = self._remote_keys(row.id, row.jwks_uri, row.issuer).get
        else:  # a row the rules never let in
            raise KeySetError("trusted issuer has no keys")
        return IssuerRecord(
            id=row.id,
            issuer=row.issuer,
            algorithms=frozenset(row.algorithms),
            audience=row.audience or self._token_endpoint,
            max_token_age=row.max_token_age,
            allow_reuse=row.allow_reuse,
            keys=keys,
        )

    def _remote_keys(self, issuer_id: str, uri: str, issuer: str) -> RemoteKeys:
        with self._lock:
            remote = self._remote.get((issuer_id, uri))
            if remote is None:
                if len(self._remote) >= MAX_ENTRIES:
                    self._remote.clear()
                remote = RemoteKeys(uri, self._fetcher, self._timestamp, issuer=issuer)
                self._remote[(issuer_id, uri)] = remote
            return remote

    def _timestamp(self) -> float:
        return self._clock().timestamp()

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._issuers.clear()
            self._identities.clear()


_TOUCHED = "tollgate_touched_federation"


def watch_federation_changes(sessions: sessionmaker[Session], federation: Federation) -> None:
    """Drop the cached issuers and identities when a session of `sessions` commits a
    change to a trusted issuer, an identity or a client (a client's identities change
    with it, and a deleted client's go by cascade)."""
    watched = (TrustedIssuer, FederatedIdentity, Client)

    def after_flush(session: Session, _context: Any) -> None:
        if any(isinstance(obj, watched)
               for obj in (*session.new, *session.dirty, *session.deleted)):
            session.info[_TOUCHED] = True

    def do_orm_execute(state: ORMExecuteState) -> None:
        if (state.is_update or state.is_delete) and state.bind_mapper is not None:
            if state.bind_mapper.class_ in watched:
                state.session.info[_TOUCHED] = True

    def after_commit(session: Session) -> None:
        if session.info.pop(_TOUCHED, False):
            federation.invalidate()

    event.listen(sessions, "after_flush", after_flush)
    event.listen(sessions, "do_orm_execute", do_orm_execute)
    event.listen(sessions, "after_commit", after_commit)
