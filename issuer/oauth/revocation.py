"""Revocation records (RFC 7009) and the signed revocation list the authorizer reads.

Two kinds of record:
- one token, by `jti` (`POST /oauth2/revoke`), kept until that token's `exp` plus the
  verifiers' largest leeway (`VERIFIER_MAX_LEEWAY`): a verifier allowed that leeway
  (RFC 7519 §4.1.4) accepts the token until then, so the record must outlive it;
- every token of a client minted before a revocation (`revoke_client`: the client was
  disabled, deleted, its secret rotated with no grace, or it had too many per-token
  records), kept until no such token can be accepted anywhere.
Access tokens are self-contained JWTs checked at API Gateway without calling us, so the
records reach the authorizer as a short-lived JWS (`revocation_list`), signed with the
token signing key and fetched by `authorizer/revocation.py` every few seconds.

Client-wide revocation by generation, not by time. Every revocation takes the next value
of one counter (`next_seq`, the list's `seq`); a client-wide revocation stores it as the
client's `generation`, and every token carries the generation of the client record it
was minted from (claim `gen`, absent while the client has none: read as 0). A token is
revoked when its `gen` is below its client's generation. So:
- `iat` is always the minting moment (never ahead: verifiers at zero leeway, PyJWT
  included, accept a token minted right after a no-grace rotation or a re-enable);
- a token minted from a client record read before the revocation is revoked, whenever
  it was minted: another issuer process serving the client from its cache
  (ISSUER_CLIENT_CACHE_TTL, issuer/clients/cache.py) mints with the old generation.

The list is bounded whatever a client does: past `MAX_JTIS_PER_CLIENT` per-token records
a client's records collapse into one client-wide revocation (all its tokens then, a cost
only the client that revoked so much pays), and past `MAX_LISTED_JTIS` in all the client
with the most records collapses. So one client's part of the list stays under a
sixteenth of the verifiers' size cap (`shared.revocation_list.MAX_LIST_BYTES`), and the
whole list far below it (tests/issuer/test_revocation_list.py measures both).

The list's format (claims, `typ`, client ids published as `client_key` hashes, the
checks verifiers apply) is the contract in `shared/revocation_list.py`; this module
decides what goes in it and signs it.

Every token reads this module (its `gen` claim) and none revokes: the per-token records
and the sequence (`issuer/store/revocation_tables.py`) are imported by the functions
that use them, so a cold start for a token does not declare those tables, and so is
the ORM class of the client-wide records (`issuer/store/models.py`), which a cold start
does not map: writing a record and listing them for the console use it; every other
read, and the prune, use the Core table.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import CursorResult, case, delete, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from issuer.keys.store import Signer
from issuer.oauth.token_lifetime import MAX_TOKEN_LIFETIME
from issuer.settings import MAX_CLIENT_CACHE_TTL
from issuer.store.tables import client_revocations_table

# Re-exported (`as`) for the issuer's modules that mint and check tokens: the token side
# of the revocation contract is defined in shared.
from shared.revocation_list import GENERATION_CLAIM as GENERATION_CLAIM
from shared.revocation_list import TYP, list_claims
from shared.revocation_list import token_generation as token_generation

if TYPE_CHECKING:
    from issuer.store.models import ClientRevocation

_CLIENT_CUTOFF = client_revocations_table.c

# The largest leeway a verifier may apply to `exp` (authorizer/settings.py MAX_LEEWAY;
# tests/issuer/test_revoke.py holds the two equal): records outlive the tokens by this.
VERIFIER_MAX_LEEWAY = 300
# A client-wide record reaches past the change by the largest ISSUER_CLIENT_CACHE_TTL
# when the caller does not say the TTL (`stale_for`).
MAX_STALE_SECONDS = MAX_CLIENT_CACHE_TTL
# Per-token records one client may hold before they collapse into a client-wide
# revocation, and per-token records in all before the largest client's collapse. A
# record is ~48 bytes of the list (22-character jti and exp, base64url): 256 of them
# ~12 KiB, a sixty-fourth of the authorizer's 1 MiB cap; 4096 in all ~200 KiB.
MAX_JTIS_PER_CLIENT = 256
MAX_LISTED_JTIS = 4096
# How long a published list is valid (its `exp`): past it, a verifier refuses to adopt
# the document, so a stale copy replayed from a cache cannot roll revocations back.
LIST_LIFETIME = 300
# Cache-Control max-age of the list: the part of the exposure window that HTTP caches add.
LIST_MAX_AGE = 30
# How long one process serves the list it signed before building it again: an
# unauthenticated GET must not cost a full-table query and a signature each.
LIST_CACHE_SECONDS = 2


def _ts(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _micros(moment: datetime) -> int:
    return _ts(moment) * 1_000_000 + moment.microsecond


def next_seq(session: Session, now: datetime) -> int:
    """The next sequence number, in the caller's transaction (not committed): at least
    one more than the last and at least `now` in microseconds, so a database restored
    from a backup still numbers later changes above what verifiers hold. One UPDATE of
    one row: concurrent revocations queue on its lock, and each gets its own number."""
    from issuer.store.revocation_tables import RevocationState  # module docstring

    floor = _micros(now)
    # An UPDATE's result is a CursorResult (it has the rowcount); Session.execute's
    # annotation says only Result. (UPDATE ... RETURNING would save the SELECT below but
    # needs SQLite 3.35.)
    bumped = cast(
        "CursorResult[Any]",
        session.execute(
            update(RevocationState)
            .where(RevocationState.id == 1)
            .values(
                seq=case((RevocationState.seq >= floor, RevocationState.seq + 1), else_=floor)
            )
            .execution_options(synchronize_session=False)
        ),
    )
    if bumped.rowcount == 0:  # a schema made without the migration's row
        session.add(RevocationState(id=1, seq=floor))
        session.flush()
        return floor
    return session.execute(
        select(RevocationState.seq).where(RevocationState.id == 1)
    ).scalar_one()


def revoke_client(
    session: Session, client_id: str, reason: str, now: datetime, stale_for: int = 0
) -> int:
    """Revoke every token `client_id` holds, and every token an issuer process mints
    from a client record read before this change; returns the new generation.

    Other issuer processes may serve the client from their cache for up to `stale_for`
    (ISSUER_CLIENT_CACHE_TTL) after this change: what they mint carries the old
    generation, so the record is kept until such a token, too, is past its `exp` plus
    the verifiers' leeway. Not committed: the caller commits it with the change that
    caused it (and its audit record), so the two happen together or not at all."""
    from issuer.store.models import ClientRevocation  # module docstring

    generation = next_seq(session, now)
    until = now + timedelta(seconds=stale_for + MAX_TOKEN_LIFETIME + VERIFIER_MAX_LEEWAY)
    row = session.get(ClientRevocation, client_id)
    if row is None:
        session.add(
            ClientRevocation(
                client_id=client_id,
                issued_before=now,
                expires_at=until,
                reason=reason,
                generation=generation,
            )
        )
    else:
        row.issued_before, row.reason, row.generation = now, reason, generation
        row.expires_at = max(row.expires_at, until)
    session.flush()
    return generation


def revoke_token(
    session: Session,
    *,
    jti: str,
    client_id: str,
    exp: float,
    generation: int,
    now: datetime,
    stale_for: int = MAX_STALE_SECONDS,
) -> bool:
    """Record a revoked access token and commit. False if nothing was added: already
    recorded (a repeat, or a concurrent revocation of the same token: RFC 7009 §2.2,
    still a 200), or already revoked with its whole generation.

    Keeps the list bounded: a client past `MAX_JTIS_PER_CLIENT` records, or the client
    with the most when all clients are past `MAX_LISTED_JTIS`, has its records replaced
    by one client-wide revocation (which revokes every token it holds)."""
    from issuer.store.models import ClientRevocation  # module docstring
    from issuer.store.revocation_tables import RevokedToken  # module docstring

    prune(session, now)
    row = session.get(ClientRevocation, client_id)
    if row is not None and generation < row.generation:
        session.commit()
        return False  # revoked already, with every token of its generation
    if session.get(RevokedToken, jti) is not None:
        session.commit()
        return False
    next_seq(session, now)
    session.add(
        RevokedToken(
            jti=jti,
            client_id=client_id,
            expires_at=_at(math.floor(exp) + VERIFIER_MAX_LEEWAY),
            revoked_at=now,
        )
    )
    try:
        session.flush()
        _bound(session, client_id, now, stale_for)
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def _count(session: Session, client_id: str | None = None) -> int:
    from issuer.store.revocation_tables import RevokedToken  # module docstring

    query = select(func.count()).select_from(RevokedToken)
    if client_id is not None:
        query = query.where(RevokedToken.client_id == client_id)
    return session.scalar(query) or 0


def _bound(session: Session, client_id: str, now: datetime, stale_for: int) -> None:
    from issuer.store.revocation_tables import RevokedToken  # module docstring

    if _count(session, client_id) > MAX_JTIS_PER_CLIENT:
        collapse(session, client_id, now, stale_for)
    elif _count(session) > MAX_LISTED_JTIS:
        largest = session.execute(
            select(RevokedToken.client_id)
            .group_by(RevokedToken.client_id)
            .order_by(func.count().desc(), RevokedToken.client_id)
            .limit(1)
        ).scalar_one()
        collapse(session, largest, now, stale_for)


def collapse(session: Session, client_id: str, now: datetime, stale_for: int) -> None:
    """Replace a client's per-token records with a client-wide revocation: its new
    generation is above that of every token it holds, the recorded ones included."""
    from issuer.store.revocation_tables import RevokedToken  # module docstring

    revoke_client(session, client_id, "revocation_overflow", now, stale_for)
    session.execute(
        delete(RevokedToken)
        .where(RevokedToken.client_id == client_id)
        .execution_options(synchronize_session=False)
    )


def is_revoked(
    session: Session, *, jti: str | None, client_id: str, generation: int, now: datetime
) -> bool:
    """The issuer-side check (introspection, the admin guard): the rules the authorizer
    applies to the list, on the records themselves (no cache: a revocation made by any
    process is seen at once)."""
    from issuer.store.revocation_tables import RevokedToken  # module docstring

    if jti is not None and session.get(RevokedToken, jti) is not None:
        return True
    row = session.execute(
        select(_CLIENT_CUTOFF.expires_at, _CLIENT_CUTOFF.generation)
        .where(_CLIENT_CUTOFF.client_id == client_id)
    ).one_or_none()
    return row is not None and row.expires_at > now and generation < row.generation


def client_cutoffs(
    session: Session, now: datetime, limit: int = 200
) -> list[ClientRevocation]:
    """The client-wide revocations still in force, newest first (the admin console)."""
    from issuer.store.models import ClientRevocation  # module docstring

    return list(session.scalars(
        select(ClientRevocation)
        .where(ClientRevocation.expires_at > now)
        .order_by(ClientRevocation.issued_before.desc(), ClientRevocation.client_id)
        .limit(limit)
    ))


def current_generation(session: Session, client_id: str) -> int:
    """The generation tokens minted for the client now carry (0 before any cut-off)."""
    found = session.scalar(
        select(_CLIENT_CUTOFF.generation).where(_CLIENT_CUTOFF.client_id == client_id)
    )
    return found if found is not None else 0


def prune(session: Session, now: datetime) -> None:
    """Drop records no verifier can need any more (not committed)."""
    from issuer.store.revocation_tables import RevokedToken  # module docstring

    session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))
    # On the table, not the mapped class: an ORM bulk DELETE of client revocations makes
    # the client cache drop every client (issuer/clients/cache.py watch_client_changes), and an
    # expired record changes nothing it holds (a token minted with its old generation is
    # not revoked by anything once the record is gone).
    session.execute(delete(client_revocations_table).where(_CLIENT_CUTOFF.expires_at <= now))


class SignedRevocationList(NamedTuple):
    """What this process serves: the compact JWS, and counts for logs and tests."""

    token: str  # the compact JWS
    seq: int
    jtis: int
    clients: int


def revocation_list_claims(session: Session, issuer: str, now: datetime) -> dict[str, Any]:
    """`seq`, `jtis: {jti: exp}`, `clients: {client_key(client_id): generation}`: only
    records still in force. `seq` is read first: a revocation committed while the records
    are read may then be listed under an older `seq`, never missing from a list that
    claims it."""
    from issuer.store.revocation_tables import RevocationState, RevokedToken  # module docstring

    seq = session.scalar(select(RevocationState.seq).where(RevocationState.id == 1)) or 0
    jtis = {
        jti: _ts(expires_at) - VERIFIER_MAX_LEEWAY  # the token's exp
        for jti, expires_at in session.execute(
            select(RevokedToken.jti, RevokedToken.expires_at).where(RevokedToken.expires_at > now)
        )
    }
    clients = {
        client_id: generation
        for client_id, generation in session.execute(
            select(_CLIENT_CUTOFF.client_id, _CLIENT_CUTOFF.generation).where(
                _CLIENT_CUTOFF.expires_at > now
            )
        )
    }
    iat = _ts(now)
    return list_claims(
        issuer=issuer, iat=iat, exp=iat + LIST_LIFETIME, seq=seq, jtis=jtis,
        client_generations=clients,
    )


def revocation_list(
    session: Session, signer: Signer, issuer: str, now: datetime
) -> SignedRevocationList:
    """The list signed with the token signing key: verifiers already hold its public half
    (the JWKS), and `typ` keeps it from ever passing for an access token (RFC 8725 §3.11)."""
    # Imported here: a token's path reads this module but signs no list.
    from shared.jws import encode_compact

    claims = revocation_list_claims(session, issuer, now)
    header = {"typ": TYP, "kid": signer.kid}
    token = encode_compact(header, claims, signer.private_key, signer.alg)
    return SignedRevocationList(
        token=token, seq=claims["seq"], jtis=len(claims["jtis"]), clients=len(claims["clients"])
    )


class SignedListCache:
    """The signed list one process serves, rebuilt at most once per `ttl` seconds of
    `clock` (and at once after this process commits a revocation: `watch_revocations`).
    Concurrent requests that find it due wait for one build instead of each building."""

    def __init__(self, ttl: float, clock: Callable[[], datetime]) -> None:
        self.ttl = timedelta(seconds=ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._built: tuple[datetime, SignedRevocationList] | None = None
        self._generation = 0  # bumped by `invalidate`: a build racing it is not kept

    def get(self, build: Callable[[datetime], SignedRevocationList]) -> SignedRevocationList:
        now = self._clock()
        built = self._built
        if built is not None and built[0] <= now < built[0] + self.ttl:
            return built[1]
        with self._lock:
            built = self._built
            now = self._clock()
            if built is not None and built[0] <= now < built[0] + self.ttl:
                return built[1]  # another request built it meanwhile
            generation = self._generation
            fresh = build(now)
            if generation == self._generation:
                self._built = (now, fresh)
            return fresh

    def invalidate(self) -> None:
        self._generation += 1
        self._built = None


def watch_revocations(sessions: sessionmaker[Session], cache: SignedListCache) -> None:
    """Invalidate `cache` when a session of `sessions` commits a revocation record (by
    jti, client-wide, or a collapse): the process that revoked serves the new list at
    once; other processes within `LIST_CACHE_SECONDS`."""
    key = "tollgate_revocation_touched"
    # By table name: `RevokedToken` is imported by the first revocation, not with this
    # watch (module docstring).
    watched = frozenset({"revoked_tokens", client_revocations_table.name})

    def after_flush(session: Session, _context: Any) -> None:
        for obj in (*session.new, *session.dirty, *session.deleted):
            if obj.__table__.name in watched:
                session.info[key] = True
                return

    def after_commit(session: Session) -> None:
        if session.info.pop(key, False):
            cache.invalidate()

    event.listen(sessions, "after_flush", after_flush)
    event.listen(sessions, "after_commit", after_commit)
