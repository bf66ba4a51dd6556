"""Signing keys: made on first start, stored encrypted, loaded once per process.

The private half is AES-GCM encrypted under the KEK with the kid as associated data
(`kek.py`). `KeyStore` keeps the decrypted active key in memory and reloads it only when
the database names a different active kid (a rotation by another process). It reads the
active kid again at most every `SIGNER_RECHECK` (5 s; never longer than the verifiers'
JWKS cache TTL), at once after `invalidate()` (a rotation through this process), and
whenever a lifecycle check falls due, so a token request normally touches no database
at all and a promotion made by another process is followed within seconds. Signing a
few seconds more with a key another process has just demoted is safe: a retiring key
stays published for the longest token lifetime plus that TTL. It also holds the
published keys as a `shared.jwk.KeySet` for verifying this issuer's own tokens (the admin
guard), and makes due lifecycle transitions (`lifecycle.py`) lazily, at most once
per `RECHECK` unless one is foreseeably due sooner.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from issuer.keys.kek import Kek
from issuer.keys.kek_check import check_kek
from issuer.keys.lifecycle import (
    RECHECK,
    KeySchedule,
    Transition,
    advance,
    due_at,
    published,
    published_keys,
)
from issuer.logs import log_event
from issuer.store.tables import signing_keys_table, utcnow

if TYPE_CHECKING:  # the JWK code is imported by what uses it: making a key, the admin guard
    from issuer.store.models import SigningKey
    from shared.jwk import KeySet

log = logging.getLogger("issuer.keys")

# Core statements on the signing path: a cold start's first token maps no ORM class
# (issuer/store/tables.py). Making a key (a rotation, a first start) uses the ORM class.
_KEY = signing_keys_table.c
_ACTIVE_KID = select(_KEY.kid).where(_KEY.status == "active")

# How long the active signer is used without reading the active kid again.
SIGNER_RECHECK = timedelta(seconds=5)


class NoSigningKey(RuntimeError):
    """No active signing key in the database (not bootstrapped, or being rotated)."""


class Signer(NamedTuple):
    kid: str
    alg: str
    private_key: Any


def new_signing_key(kek: Kek, alg: str, status: str, now: datetime | None = None) -> SigningKey:
    # Imported here: signing needs none of them (a cold start for a token loads no JWK
    # code and maps no ORM class).
    from issuer.store.models import SigningKey
    from shared.jwa import generate_private_key
    from shared.jwk import public_jwk

    private_key = generate_private_key(alg)
    jwk = public_jwk(private_key, alg)
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    now = now or utcnow()
    return SigningKey(
        kid=jwk["kid"],
        alg=alg,
        status=status,
        private_key_encrypted=kek.encrypt(der, jwk["kid"]),
        public_jwk=jwk,
        created_at=now,
        activated_at=now if status == "active" else None,
    )


def ensure_active_key(factory: sessionmaker[Session], kek: Kek, alg: str) -> str:
    """The active kid, making the first key if there is none. Safe to run from several
    processes at once: the one-active unique index lets only one insert win."""
    from issuer.store.models import SigningKey  # see new_signing_key

    with factory() as session:
        active = session.scalar(_ACTIVE_KID)
        if active:
            return active
        # Never seal or promote the first key under a KEK the stored keys or check value
        # refute (the startup check may have been deferred by a database that was down).
        check_kek(session, kek)
        pending = session.scalars(
            select(SigningKey).where(SigningKey.status == "next").order_by(SigningKey.created_at)
        ).first()
        if pending is not None:
            # A published "next" key is the one verifiers already know: promote it.
            pending.status, pending.activated_at = "active", utcnow()
            key = pending
        else:
            key = new_signing_key(kek, alg, "active")
            session.add(key)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            winner = session.scalar(_ACTIVE_KID)
            if winner is None:
                raise
            return winner
        log_event(log, "signing_key_activated", kid=key.kid, alg=key.alg)
        return key.kid


def published_jwks(session: Session) -> dict[str, list[dict[str, Any]]]:
    """RFC 7517 JWK Set of keys verifiers must know: next, active, retiring."""
    return {"keys": [dict(jwk) for jwk in session.scalars(published(_KEY.public_jwk))]}


class KeyStore:
    """This process's view of the keys: the decrypted active key, the published key set,
    and (with a `schedule`) the lazy lifecycle transitions."""

    def __init__(
        self, kek: Kek, schedule: KeySchedule | None = None, recheck: timedelta = SIGNER_RECHECK
    ) -> None:
        self._kek = kek
        self._schedule = schedule
        self._signer: Signer | None = None
        # The active kid as last read, and when: the signer is reused without a query
        # until then + recheck (capped by the publication lead: with verifiers that cache
        # nothing, read it every time).
        self._recheck = min(recheck, schedule.publish_lead) if schedule is not None else recheck
        self._confirmed: tuple[datetime, Signer] | None = None
        self._version = 0  # bumped by invalidate(): a read begun before it is not kept
        self._lock = threading.Lock()
        self._check_after: datetime | None = None  # None: look at the next opportunity
        # One maintainer at a time: each opens a second connection while its request holds
        # one, so dozens of requests arriving when a check is due could take the whole
        # pool and wait for each other until the pool timeout (seen under load).
        self._maintaining = threading.Lock()
        self._public: tuple[datetime, KeySet] | None = None

    def cached_signer(self, now: datetime) -> Signer | None:
        """The active signer without any database work, if the active kid was read less
        than `recheck` ago and no lifecycle check is due; else None (call `signer`)."""
        confirmed = self._confirmed
        if confirmed is None or not confirmed[0] <= now < confirmed[0] + self._recheck:
            return None
        if self._schedule is not None:
            check_after = self._check_after
            if check_after is None or now >= check_after:
                return None
        return confirmed[1]

    def signer(self, session: Session, now: datetime | None = None) -> Signer:
        now = now or utcnow()
        cached = self.cached_signer(now)
        if cached is not None:
            return cached
        version = self._version
        if self._schedule is not None:
            self.maintain(session, now)
        kid = session.scalar(_ACTIVE_KID)
        if kid is None:
            raise NoSigningKey("no active signing key")
        current = self._signer
        if current is None or current.kid != kid:
            with self._lock:
                if self._signer is None or self._signer.kid != kid:
                    self._signer = self._load(session, kid)
                current = self._signer
        with self._lock:
            if version == self._version:
                self._confirmed = (now, current)
        return current

    def maintain(self, session: Session, now: datetime) -> list[Transition]:
        """Make the transitions due at `now` (cheap when none can be: no query at all)."""
        if self._schedule is None:
            return []
        check_after = self._check_after
        if check_after is not None and now < check_after:
            return []
        if not self._maintaining.acquire(blocking=False):
            return []  # another thread of this process is at it: sign with what is active
        try:
            # A session of its own: committing or rolling back must not touch the caller's.
            with Session(session.get_bind(), expire_on_commit=False) as own:
                done = advance(own, self._schedule, now)
                due = due_at(published_keys(own), self._schedule)
            self._check_after = min(due, now + RECHECK) if due is not None else now + RECHECK
        finally:
            self._maintaining.release()
        if done:
            self._public = None
            with self._lock:  # a promotion here: no thread keeps the old signer
                self._version += 1
                self._confirmed = None
        return done

    def invalidate(self) -> None:
        """A key changed elsewhere in this process (a rotation): look again next time."""
        with self._lock:
            self._version += 1
            self._confirmed = None
        self._check_after = None
        self._public = None

    def public_keys(self, session: Session, now: datetime) -> KeySet:
        """The published keys as verifiers see them. Reloaded after the verifier cache TTL:
        a key signs only after being published that long, so this set always knows it."""
        from shared.jwk import KeySet  # see new_signing_key

        ttl = self._schedule.publish_lead if self._schedule is not None else None
        cached = self._public
        if cached is None or ttl is None or not cached[0] <= now < cached[0] + ttl:
            cached = (now, KeySet.from_jwks(published_jwks(session)))
            self._public = cached
        return cached[1]

    def _load(self, session: Session, kid: str) -> Signer:
        row = session.execute(
            select(_KEY.kid, _KEY.alg, _KEY.private_key_encrypted).where(_KEY.kid == kid)
        ).one_or_none()
        if row is None:
            raise NoSigningKey(f"active key {kid} vanished")
        der = self._kek.decrypt(row.private_key_encrypted, row.kid)
        # OpenSSL's RSA key check (26 ms per load, most of a Lambda's first token) guards
        # against key material of unknown origin; this key was generated here and is
        # authenticated by the KEK's AES-GCM tag (issuer/keys/kek.py), so whoever could
        # alter it could already sign. EC keys are loaded the same either way.
        key = serialization.load_der_private_key(
            der, password=None, unsafe_skip_rsa_key_validation=True
        )
        log_event(log, "signing_key_loaded", kid=row.kid, alg=row.alg)
        return Signer(kid=row.kid, alg=row.alg, private_key=key)
