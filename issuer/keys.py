"""Signing keys: made on first start, stored encrypted, loaded once per process.

The private half is AES-GCM encrypted under the KEK with the kid as associated data
(`kek.py`). `KeyStore` keeps the decrypted active key in memory and reloads it only when
the database names a different active kid (a rotation by another process), so a token
request costs one indexed lookup, never a decrypt or key parse.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shared.jwk import generate_private_key, public_jwk

from .kek import Kek
from .logs import log_event
from .models import PUBLISHED_STATUSES, SigningKey, utcnow

log = logging.getLogger("issuer.keys")


class NoSigningKey(RuntimeError):
    """No active signing key in the database (not bootstrapped, or being rotated)."""


@dataclass(frozen=True)
class Signer:
    kid: str
    alg: str
    private_key: Any


def new_signing_key(kek: Kek, alg: str, status: str) -> SigningKey:
    private_key = generate_private_key(alg)
    jwk = public_jwk(private_key, alg)
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    now = utcnow()
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
    with factory() as session:
        active = session.scalar(select(SigningKey.kid).where(SigningKey.status == "active"))
        if active:
            return active
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
            winner = session.scalar(select(SigningKey.kid).where(SigningKey.status == "active"))
            if winner is None:
                raise
            return winner
        log_event(log, "signing_key_activated", kid=key.kid, alg=key.alg)
        return key.kid


def published_jwks(session: Session) -> dict[str, list[dict[str, Any]]]:
    """RFC 7517 JWK Set of keys verifiers must know: next, active, retiring."""
    rows = session.scalars(
        select(SigningKey)
        .where(SigningKey.status.in_(PUBLISHED_STATUSES))
        .order_by(SigningKey.created_at, SigningKey.kid)
    )
    return {"keys": [dict(row.public_jwk) for row in rows]}


class KeyStore:
    """Holds the decrypted active signing key for this process."""

    def __init__(self, kek: Kek) -> None:
        self._kek = kek
        self._signer: Signer | None = None
        self._lock = threading.Lock()

    def signer(self, session: Session) -> Signer:
        kid = session.scalar(select(SigningKey.kid).where(SigningKey.status == "active"))
        if kid is None:
            raise NoSigningKey("no active signing key")
        current = self._signer
        if current is not None and current.kid == kid:
            return current
        with self._lock:
            if self._signer is None or self._signer.kid != kid:
                self._signer = self._load(session, kid)
            return self._signer

    def _load(self, session: Session, kid: str) -> Signer:
        row = session.get(SigningKey, kid)
        if row is None:
            raise NoSigningKey(f"active key {kid} vanished")
        der = self._kek.decrypt(row.private_key_encrypted, row.kid)
        key = serialization.load_der_private_key(der, password=None)
        log_event(log, "signing_key_loaded", kid=row.kid, alg=row.alg)
        return Signer(kid=row.kid, alg=row.alg, private_key=key)
