"""Signing-key lifecycle: next -> active -> retiring -> retired, on a clock.

The waits come from what verifiers may have cached (docs/design.md, "The key lifecycle"):
- a `next` key is published but does not sign until it has been in the JWKS for the
  verifiers' cache TTL, so every verifier that refreshed since knows it before it meets
  a token signed with it (`publish_lead`);
- a `retiring` key no longer signs but stays published until the longest token it can
  have signed has expired, plus that TTL (`retire_after`), so no token it signed is
  refused for an unknown kid while it is still valid.

`advance(session, schedule, now)` makes whatever transitions are due, with conditional
UPDATEs, so processes racing to do the same promotion agree (the loser changes nothing).
Nothing here sleeps or reads the wall clock: `now` is always given.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import ColumnElement, Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from issuer.logs import log_event
from issuer.oauth.token_lifetime import MAX_TOKEN_LIFETIME
from issuer.store.tables import PUBLISHED_STATUSES, signing_keys_table

if TYPE_CHECKING:  # an annotation only: the lifecycle needs no settings module to run
    from issuer.settings import Settings
    from issuer.store.models import SigningKey

log = logging.getLogger("issuer.keys")

_KEY = signing_keys_table.c

# How often a process looks again for transitions it cannot foresee (a `next` key made by
# another process). Only ever delays a promotion or retirement, never hastens one.
RECHECK = timedelta(seconds=60)


class KeySchedule(NamedTuple):
    publish_lead: timedelta  # a next key is published this long before it signs
    retire_after: timedelta  # a retiring key stays published this long after it stopped
    rotation_period: timedelta  # the scheduled job rotates an active key this old

    @classmethod
    def from_settings(cls, settings: Settings) -> KeySchedule:
        ttl = timedelta(seconds=settings.verifier_cache_ttl)
        # MAX_TOKEN_LIFETIME bounds every token (the grant caps client lifetimes at it),
        # whatever a client's lifetime was when the key signed for it.
        return cls(
            publish_lead=ttl,
            retire_after=timedelta(seconds=MAX_TOKEN_LIFETIME) + ttl,
            rotation_period=timedelta(days=settings.key_rotation_days),
        )

    def activates_at(self, key: SigningKey | PublishedKey) -> datetime:
        return key.created_at + self.publish_lead

    def retires_at(self, key: SigningKey | PublishedKey) -> datetime | None:
        return key.retiring_at + self.retire_after if key.retiring_at is not None else None


class Transition(NamedTuple):
    kid: str
    old: str
    new: str


class PublishedKey(NamedTuple):
    """What the lifecycle reads of a published key (a Core query: the first token of a
    cold start runs it and maps no ORM class, issuer/store/tables.py)."""

    kid: str
    status: str
    created_at: datetime
    retiring_at: datetime | None


def published(*columns: ColumnElement[Any]) -> Select[Any]:
    """`columns` of the published keys (next, active, retiring: what verifiers must know,
    and what the KEK must open), oldest first. The one query the lifecycle, the JWKS and
    the KEK check read them with."""
    return (
        select(*columns)
        .where(_KEY.status.in_(PUBLISHED_STATUSES))
        .order_by(_KEY.created_at, _KEY.kid)
    )


def published_keys(session: Session) -> list[PublishedKey]:
    rows = session.execute(published(_KEY.kid, _KEY.status, _KEY.created_at, _KEY.retiring_at))
    return [PublishedKey(*row) for row in rows]


def due_at(keys: list[PublishedKey], schedule: KeySchedule) -> datetime | None:
    """When the next foreseeable transition among `keys` falls due (None: none pending)."""
    times = [schedule.activates_at(k) for k in keys if k.status == "next"]
    times += [t for k in keys if k.status == "retiring" and (t := schedule.retires_at(k))]
    return min(times, default=None)


def advance(session: Session, schedule: KeySchedule, now: datetime) -> list[Transition]:
    """Make the due transitions and commit them; returns what changed."""
    done: list[Transition] = []
    keys = published_keys(session)
    for key in keys:
        horizon = schedule.retires_at(key)
        if key.status == "retiring" and horizon is not None and horizon <= now:
            if _move(session, key.kid, "retiring", "retired", retired_at=now):
                done.append(Transition(key.kid, "retiring", "retired"))
    ready = [k for k in keys if k.status == "next" and schedule.activates_at(k) <= now]
    active = [k for k in keys if k.status == "active"]
    if ready:
        steps = _promote(session, ready[0], active[0] if active else None, now)
        if steps is None:  # another process is promoting: leave it all to them
            session.rollback()
            return []
        done += steps
    try:
        session.commit()
    except IntegrityError:
        # Another process made the same promotion first: theirs stands, ours is void.
        session.rollback()
        return []
    for step in done:
        log_event(log, "signing_key_" + step.new, kid=step.kid, previous_status=step.old)
    return done


def _promote(
    session: Session, pending: PublishedKey, active: PublishedKey | None, now: datetime
) -> list[Transition] | None:
    steps = []
    if active is not None:
        # Demote first: the one-active unique index is checked statement by statement.
        if not _move(session, active.kid, "active", "retiring", retiring_at=now):
            return None
        steps.append(Transition(active.kid, "active", "retiring"))
    if not _move(session, pending.kid, "next", "active", activated_at=now):
        return None
    steps.append(Transition(pending.kid, "next", "active"))
    return steps


def _move(session: Session, kid: str, old: str, new: str, **dates: datetime) -> bool:
    result = session.execute(
        update(signing_keys_table)
        .where(_KEY.kid == kid, _KEY.status == old)
        .values(status=new, **dates)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
