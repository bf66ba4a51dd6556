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
2. the KEK check value (`issuer/store/models.py` `KekCheck`), a marker sealed under the
   KEK the first time one is verified on a database. It is the only evidence while clients exist but
   no signing key does: a secret hash cannot be checked without the secret.
A database with no check value gets one: verified against its keys if it has any, else
taken on first use (a database made before revision 0006 with clients but no signing
key cannot tell; that is logged).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from issuer.keys.kek import Kek, KekError, WrongKek
from issuer.logs import log_event
from issuer.store.models import PUBLISHED_STATUSES, Client, KekCheck, SigningKey, utcnow

log = logging.getLogger("issuer.kek")

CHECK_ROW = 1


def _refusal(kek: Kek, what: str) -> WrongKek:
    # One line, naming the setting to fix; never the key itself.
    return WrongKek(
        f"{kek.source} does not decrypt {what}: wrong key? Use the key this database was "
        "set up with; nothing was changed"
    )


def check_kek(session: Session, kek: Kek) -> tuple[KekCheck | None, int]:
    """Raise `WrongKek` unless `kek` decrypts the published signing keys and the stored
    check value. Reads only. Returns (the check row or None, published keys checked)."""
    keys = session.execute(
        select(SigningKey.kid, SigningKey.private_key_encrypted)
        .where(SigningKey.status.in_(PUBLISHED_STATUSES))
        .order_by(SigningKey.created_at, SigningKey.kid)
    ).all()
    for kid, blob in keys:
        try:
            kek.decrypt(blob, kid)
        except KekError:
            raise _refusal(kek, f"the stored signing keys (kid {kid})") from None
    row = session.get(KekCheck, CHECK_ROW)
    if row is not None and not kek.opens(row.value):
        raise _refusal(
            kek,
            f"the stored KEK check value (stored {row.created_at:%Y-%m-%d})",
        )
    return row, len(keys)


def verify_kek(sessions: sessionmaker[Session], kek: Kek, now: datetime | None = None) -> None:
    """`check_kek`, then store the check value if the database has none yet (racing
    first starts: one insert wins, the others verify it). Raises `WrongKek`; database
    errors propagate (the caller decides whether they are fatal)."""
    with sessions() as session:
        row, keys = check_kek(session, kek)
        if row is not None:
            return
        unverified = 0
        if keys == 0:
            unverified = (
                session.scalar(
                    select(func.count()).select_from(Client).where(Client.secret_hash.is_not(None))
                )
                or 0
            )
        session.add(KekCheck(id=CHECK_ROW, value=kek.check_value(), created_at=now or utcnow()))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            if check_kek(session, kek)[0] is None:
                raise
            return
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
