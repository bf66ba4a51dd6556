"""Revocation records (RFC 7009) and the signed revocation list the authorizer reads.

Two kinds of record:
- one token, by `jti` (`POST /oauth2/revoke`), kept until that token's `exp`;
- every token of a client issued at or before a moment (`revoke_client`: the client was
  disabled, deleted, or its secret rotated with no grace), kept until that moment plus
  the longest token lifetime, when no such token can still be valid.
Access tokens are self-contained JWTs checked at API Gateway without calling us, so the
records reach the authorizer as a short-lived JWS (`revocation_list`), signed with the
token signing key and fetched by `authorizer/revocation.py` every few seconds.

`iat` has one-second resolution, so "issued at or before T" covers the whole second T.
A token minted in that same second after the revocation (a client fetching a token right
after a no-grace rotation) gets `iat = T + 1` (`earliest_iat`): never caught by a
revocation that preceded it, at the price of an `iat` up to one second ahead. The
cut-off itself lies ISSUER_CLIENT_CACHE_TTL past the change (`revoke_client`), so a client
re-enabled at once gets tokens dated up to that TTL + 1 s ahead: inside the authorizer's
leeway (default 30 s), and never a token a stale issuer process minted that survives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.jws import encode_compact

from .keys import Signer
from .models_revocation import ClientRevocation, RevokedToken
from .settings import MAX_TOKEN_LIFETIME

REVOCATION_LIST_TYP = "revocation-list+jwt"
# How long a published list is valid (its `exp`): past it, a verifier refuses to adopt
# the document, so a stale copy replayed from a cache cannot roll revocations back.
LIST_LIFETIME = 300
# Cache-Control max-age of the list: the part of the exposure window that HTTP caches add.
LIST_MAX_AGE = 30


def _ts(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def revoke_token(session: Session, *, jti: str, client_id: str, exp: float, now: datetime) -> bool:
    """Record a revoked access token and commit. False if it was already recorded (a
    repeat, or a concurrent revocation of the same token: RFC 7009 §2.2, still a 200)."""
    prune(session, now)
    if session.get(RevokedToken, jti) is not None:
        session.commit()
        return False
    session.add(RevokedToken(jti=jti, client_id=client_id, expires_at=_at(exp), revoked_at=now))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def revoke_client(
    session: Session, client_id: str, reason: str, now: datetime, stale_for: int = 0
) -> None:
    """Revoke every token `client_id` holds: those issued at or before `now` plus
    `stale_for` seconds. Other issuer processes may serve the client from their cache
    for up to ISSUER_CLIENT_CACHE_TTL after this change (issuer/client_cache.py); the
    cut-off reaches past that window so the tokens they mint meanwhile are revoked too.
    Not committed: the caller commits it with the change that caused it (and its audit
    record), so the two happen together or not at all."""
    cutoff = _at(_ts(now) + stale_for)
    until = cutoff + timedelta(seconds=MAX_TOKEN_LIFETIME)
    row = session.get(ClientRevocation, client_id)
    if row is None:
        session.add(
            ClientRevocation(
                client_id=client_id, issued_before=cutoff, expires_at=until, reason=reason
            )
        )
    elif row.issued_before < cutoff:
        row.issued_before, row.expires_at, row.reason = cutoff, until, reason
    session.flush()


def client_cutoff(session: Session, client_id: str, now: datetime) -> int | None:
    """The client's revocation moment (epoch seconds) if one is still in force."""
    row = session.get(ClientRevocation, client_id)
    if row is None or row.expires_at <= now:
        return None
    return _ts(row.issued_before)


def earliest_iat(session: Session, client_id: str, now: datetime) -> int:
    """The `iat` for a token minted now: after the client's revocation moment (see the
    module docstring), else now."""
    return iat_after(client_cutoff(session, client_id, now), now)


def iat_after(cutoff: int | None, now: datetime) -> int:
    """`earliest_iat` for a revocation moment already known (the token endpoint has it
    from the cached client record, `client_cache.ClientRecord.revocation_cutoff`)."""
    iat = _ts(now)
    return cutoff + 1 if cutoff is not None and cutoff >= iat else iat


def is_revoked(
    session: Session, *, jti: str | None, client_id: str, iat: float | None, now: datetime
) -> bool:
    """The issuer-side check (introspection): the same rules the authorizer applies to
    the list. A token without `iat` cannot be shown to postdate a client revocation."""
    if jti is not None and session.get(RevokedToken, jti) is not None:
        return True
    cutoff = client_cutoff(session, client_id, now)
    return cutoff is not None and (iat is None or iat <= cutoff)


def prune(session: Session, now: datetime) -> None:
    """Drop records no token can need any more (not committed)."""
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))
    session.execute(delete(ClientRevocation).where(ClientRevocation.expires_at <= now))


@dataclass(frozen=True)
class RevocationList:
    token: str  # the compact JWS
    jtis: int
    clients: int


def revocation_list_claims(session: Session, issuer: str, now: datetime) -> dict[str, Any]:
    """`jtis: {jti: exp}`, `clients: {client_id: issued_before}`: only records still in
    force, so the list is as long as the revocations of one token lifetime."""
    jtis = {
        jti: _ts(exp)
        for jti, exp in session.execute(
            select(RevokedToken.jti, RevokedToken.expires_at).where(RevokedToken.expires_at > now)
        )
    }
    clients = {
        client_id: _ts(issued_before)
        for client_id, issued_before in session.execute(
            select(ClientRevocation.client_id, ClientRevocation.issued_before).where(
                ClientRevocation.expires_at > now
            )
        )
    }
    iat = _ts(now)
    return {"iss": issuer, "iat": iat, "exp": iat + LIST_LIFETIME, "jtis": jtis, "clients": clients}


def revocation_list(session: Session, signer: Signer, issuer: str, now: datetime) -> RevocationList:
    """The list signed with the token signing key: verifiers already hold its public half
    (the JWKS), and `typ` keeps it from ever passing for an access token (RFC 8725 §3.11)."""
    claims = revocation_list_claims(session, issuer, now)
    header = {"typ": REVOCATION_LIST_TYP, "kid": signer.kid}
    token = encode_compact(header, claims, signer.private_key, signer.alg)
    return RevocationList(token=token, jtis=len(claims["jtis"]), clients=len(claims["clients"]))
