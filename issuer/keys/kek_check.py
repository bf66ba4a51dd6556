"""Refuse a key-encryption key that is not the database's, before anything uses it.

A well-formed but different KEK fails in ways nothing reports: new client secrets are
hashed under an HMAC key derived from it (a `rotate-secret --grace 0` then locks the
client out with both secrets), new signing keys are sealed under a key nobody else has,
and a server starts and answers /healthz while every token request fails. So the CLI,
`issuer serve`, `create_app` (hence `app_factory` and the Lambda cold start) call
`verify_kek` first, and `ensure_active_key`/`admin.rotate` check again before sealing a
new key (`check_kek`, read only).

Evidence, strongest first:
1. the published signing keys (next, active, retiring: the ones that will be
   decrypted): AES-GCM authenticates, so a wrong KEK fails on each of them;
2. the KEK check value (`issuer/store/tables.py` `kek_check_table`), a marker sealed under the
   KEK the first time one is verified on a database. It is the only evidence while clients exist but
   no signing key does: a secret hash cannot be checked without the secret.
A database with no check value gets one: verified against its keys if it has any, else
taken on first use (a database made before revision 0006 with clients but no signing
key cannot tell; that is logged).

The same row holds the client-secret HMAC key sealed under the KEK (revision 0007,
`secret_hmac_key`): random for a new database, the HKDF value the secrets were hashed
under for one that already has secrets. `rekey` re-seals the signing keys, that data
key and the check value under the current KEK (`issuer kek rotate`), in one
transaction, so every reader sees all under one KEK or all under the other.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from issuer.keys.kek import KEK_BYTES, SECRET_KEY_AAD, Kek, KekError, WrongKek
from issuer.keys.lifecycle import published
from issuer.logs import log_event
from issuer.store.tables import clients_table, kek_check_table, signing_keys_table, utcnow

log = logging.getLogger("issuer.kek")

CHECK_ROW = 1
# Core statements throughout: the Lambda cold start runs `verify_kek`, and an ORM query
# would map and configure the ORM classes for it (issuer/store/tables.py).
_KEY = signing_keys_table.c
_CHECK = kek_check_table.c


class StoredCheck(NamedTuple):
    """The `kek_check` row."""

    value: bytes
    created_at: datetime
    secret_key: bytes | None


def _stored_check(session: Session) -> StoredCheck | None:
    row = session.execute(
        select(_CHECK.value, _CHECK.created_at, _CHECK.secret_key).where(_CHECK.id == CHECK_ROW)
    ).one_or_none()
    return StoredCheck(*row) if row is not None else None


def _refusal(kek: Kek, what: str) -> WrongKek:
    # One line, naming the setting to fix; never the key itself.
    return WrongKek(
        f"{kek.source} does not decrypt {what}: wrong key? Use the key this database was "
        "set up with; nothing was changed"
    )


def check_kek(session: Session, kek: Kek) -> tuple[StoredCheck | None, int]:
    """Raise `WrongKek` unless `kek` decrypts the published signing keys and the stored
    check value (either of its keys, while a KEK change is under way). Reads only.
    Returns (the check row or None, published keys checked), and points `kek` at the
    key the database is sealed under (`Kek.seal_with`), so what it seals next the
    processes not yet given the new KEK can still open."""
    keys = session.execute(published(_KEY.kid, _KEY.private_key_encrypted)).all()
    record: int | None = None
    for kid, blob in keys:
        try:
            _, index = kek.open(blob, kid)
        except KekError:
            raise _refusal(kek, f"the stored signing keys (kid {kid})") from None
        record = index if record is None else record
    row = _stored_check(session)
    if row is not None:
        opener = kek.opener(row.value)
        if opener is None:
            raise _refusal(
                kek,
                f"the stored KEK check value (stored {row.created_at:%Y-%m-%d})",
            )
        record = opener
        if row.secret_key is not None and _open_secret_key(kek, row.secret_key) is None:
            raise _refusal(kek, "the stored client-secret key")
    kek.seal_with(record or 0)
    return row, len(keys)


def _open_secret_key(kek: Kek, blob: bytes) -> bytes | None:
    try:
        key = kek.decrypt(blob, SECRET_KEY_AAD)
    except KekError:
        return None
    return key if len(key) == KEK_BYTES else None


def _secrets_exist(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(clients_table)
            .where(
                clients_table.c.secret_hash.is_not(None)
                | clients_table.c.previous_secret_hash.is_not(None)
            )
        )
        or 0
    )


def _new_secret_key(session: Session, kek: Kek) -> bytes:
    # A database whose secrets were hashed before the key was a data key of its own keeps
    # the value they were hashed under (the HKDF derivation of the KEK of record); a new
    # one gets a random key.
    if _secrets_exist(session):
        return kek.legacy_secret_hmac_key()
    return secrets.token_bytes(KEK_BYTES)


def verify_kek(sessions: sessionmaker[Session], kek: Kek, now: datetime | None = None) -> None:
    """`check_kek`, then store the check value and the client-secret key if the database
    has none yet (racing first starts: one write wins, the others read it). Leaves the
    secret key on `kek.data_key`. Raises `WrongKek`; database errors propagate (the caller
    decides whether they are fatal)."""
    with sessions() as session:
        row, keys = check_kek(session, kek)
        if row is not None:
            if row.secret_key is None:
                _store_secret_key(session, kek)
            else:
                kek.data_key = _open_secret_key(kek, row.secret_key)
            return
        unverified = _secrets_exist(session) if keys == 0 else 0
        data_key = _new_secret_key(session, kek)
        try:
            session.execute(
                insert(kek_check_table).values(
                    id=CHECK_ROW,
                    value=kek.check_value(),
                    created_at=now or utcnow(),
                    secret_key=kek.encrypt(data_key, SECRET_KEY_AAD),
                )
            )
            session.commit()
        except IntegrityError:
            session.rollback()
            row = check_kek(session, kek)[0]
            if row is None or row.secret_key is None:
                raise
            kek.data_key = _open_secret_key(kek, row.secret_key)
            return
        kek.data_key = data_key
    log_event(log, "kek_check_stored", verified_against_keys=keys, kek_source=kek.source)
    if unverified:
        # Secrets hashed before the check value existed, with no key to check the KEK
        # against: if they stop authenticating, the KEK is not the one they were made with.
        log_event(
            log,
            "kek_check_unverified",
            logging.WARNING,
            client_secrets=unverified,
            kek_source=kek.source,
        )


def _store_secret_key(session: Session, kek: Kek) -> None:
    """A database from before revision 0007 gets its data key; concurrent first starts
    race on `secret_key IS NULL` and the losers read the winner's."""
    data_key = _new_secret_key(session, kek)
    result = session.execute(
        update(kek_check_table)
        .where(_CHECK.id == CHECK_ROW, _CHECK.secret_key.is_(None))
        .values(secret_key=kek.encrypt(data_key, SECRET_KEY_AAD))
    )
    session.commit()
    if result.rowcount == 1:  # type: ignore[attr-defined]
        kek.data_key = data_key
        # `derived`: the existing secrets' key, kept; else a new random one.
        log_event(log, "secret_key_stored", derived=data_key == kek.legacy_secret_hmac_key())
        return
    row = _stored_check(session)
    if row is None or row.secret_key is None:
        raise KekError("the client-secret key could not be stored")
    kek.data_key = _open_secret_key(kek, row.secret_key)


def secret_hmac_key(sessions: sessionmaker[Session], kek: Kek) -> bytes:
    """The client-secret HMAC key: read (and made, the first time) by `verify_kek`, which
    every entry point runs first; read here when that check was deferred (a database
    that was down when the server started)."""
    if kek.data_key is None:
        verify_kek(sessions, kek)
    return kek.secret_hmac_key()


class Rekeyed(NamedTuple):
    signing_keys: int  # re-sealed under the current KEK
    already_current: bool  # nothing was under the previous KEK


def rekey(sessions: sessionmaker[Session], kek: Kek, now: datetime | None = None) -> Rekeyed:
    """`issuer kek rotate`: re-seal every signing key (retired ones too: an old backup
    restored later must not need the old KEK), the client-secret key and the check value
    under the current KEK, opening them with whichever key `kek` holds. One transaction:
    a reader sees everything under one KEK or everything under the other, and the
    processes given both keys open either. Raises `WrongKek` if a key opens nothing."""
    verify_kek(sessions, kek, now)
    with sessions() as session:
        row = _stored_check(session)
        if row is None or row.secret_key is None:  # verify_kek stored both
            raise KekError("the KEK check value is missing")
        moved = 0
        keys = session.execute(
            select(_KEY.kid, _KEY.status, _KEY.private_key_encrypted).order_by(_KEY.created_at)
        ).all()
        for kid, status, blob in keys:
            try:
                plain, index = kek.open(blob, kid)
            except KekError:
                raise _refusal(kek, f"the stored signing key {kid} ({status})") from None
            if index != 0:
                session.execute(
                    update(signing_keys_table)
                    .where(_KEY.kid == kid)
                    .values(private_key_encrypted=kek.encrypt(plain, kid, 0))
                )
                moved += 1
        secret_key = kek.decrypt(row.secret_key, SECRET_KEY_AAD)
        current = kek.opener(row.value) == 0 and _opened_by_current(kek, row.secret_key)
        if current and moved == 0:
            return Rekeyed(signing_keys=0, already_current=True)
        session.execute(
            update(kek_check_table)
            .where(_CHECK.id == CHECK_ROW)
            .values(
                value=kek.check_value(0),
                secret_key=kek.encrypt(secret_key, SECRET_KEY_AAD, 0),
            )
        )
        session.commit()
    kek.seal_with(0)
    log_event(log, "kek_rotated", signing_keys=moved, kek_source=kek.source)
    return Rekeyed(signing_keys=moved, already_current=False)


def _opened_by_current(kek: Kek, blob: bytes) -> bool:
    try:
        return kek.open(blob, SECRET_KEY_AAD)[1] == 0
    except KekError:
        return False
