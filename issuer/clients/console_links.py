"""One-time sign-in links to the admin console (`issuer console link`).

A link carries a random code (256 bits); the database keeps only its SHA-256
(`ConsoleSignInLink`), the admin client it signs in as, and its expiry (`LINK_SECONDS` by
default, at most `MAX_LINK_SECONDS`). `redeem` claims a code with one conditional UPDATE
(unused, unexpired): whichever request or process runs it first gets the client id, every
other gets None, so a link opens one session at most, once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from issuer.audit import Actor, record
from issuer.clients.registry import ClientError, get_client
from issuer.store.console_tables import ConsoleSignInLink
from shared.scope import ADMIN_SCOPE

LINK_SECONDS = 300
MAX_LINK_SECONDS = 3600
CODE_BYTES = 32
MAX_CODE_LENGTH = 100  # longer input is not a code of ours: refused before hashing


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def create_link(
    session: Session, client_id: str, actor: Actor, now: datetime, seconds: int = LINK_SECONDS
) -> str:
    """A new code for `client_id` (an enabled client with `issuer:admin`), committed with
    its audit record; `ClientError` otherwise."""
    if not 1 <= seconds <= MAX_LINK_SECONDS:
        raise ClientError(f"a sign-in link lives 1 to {MAX_LINK_SECONDS} seconds")
    client = get_client(session, client_id)
    if client is None:
        raise ClientError(f"no client {client_id!r}")
    if not client.enabled or ADMIN_SCOPE not in client.scopes:
        raise ClientError(f"client {client_id!r} is not an enabled client with {ADMIN_SCOPE}")
    code = secrets.token_urlsafe(CODE_BYTES)
    expires = now + timedelta(seconds=seconds)
    session.execute(delete(ConsoleSignInLink).where(ConsoleSignInLink.expires_at < now))
    session.add(ConsoleSignInLink(code_hash=_hash(code), client_id=client_id,
                                  created_by=actor.id[:200], created_at=now, expires_at=expires))
    record(session, actor, "console.link", client_id, {"expires_at": expires.isoformat()},
           now=now)
    session.commit()
    return code


def redeem(session: Session, code: str, now: datetime) -> str | None:
    """The client id the code signs in as, once; None for a code that is unknown, used
    or expired (one answer for all three: nothing to learn by guessing)."""
    if not code or len(code) > MAX_CODE_LENGTH:
        return None
    digest = _hash(code)
    claimed = session.execute(
        update(ConsoleSignInLink)
        .where(
            ConsoleSignInLink.code_hash == digest,
            ConsoleSignInLink.used_at.is_(None),
            ConsoleSignInLink.expires_at > now,
        )
        .values(used_at=now)
    )
    session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.scalar(
        select(ConsoleSignInLink.client_id).where(ConsoleSignInLink.code_hash == digest)
    )
