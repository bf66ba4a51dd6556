"""Key administration: list, rotate by hand, rotate on a schedule.

A rotation only creates a `next` key: it is published at once and starts signing when
`lifecycle.advance` finds it has been published for the verifiers' cache TTL. There
is deliberately no "rotate now": an immediate switch would sign with a key some
verifiers have not fetched yet (a new key is published before it signs anything:
docs/design.md, "The key lifecycle").

`rotate_if_due(session, schedule, kek, alg, now)` is the scheduled job's whole logic
(CLI `issuer keys rotate --if-due`, and deploy/rotate_keys.py calls it directly): it
advances the lifecycle, then starts a rotation when the active key has signed for the
schedule's rotation period (`ISSUER_KEY_ROTATION_DAYS`). `RotationReport.view` is what
both print or return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from issuer.audit import Actor, record
from issuer.keys.kek import Kek
from issuer.keys.kek_check import check_kek
from issuer.keys.lifecycle import KeySchedule, Transition, advance
from issuer.keys.store import new_signing_key
from issuer.store.models import SigningKey

SCHEDULER = Actor(id="system:key-schedule", source=None)


@dataclass(frozen=True)
class Rotation:
    key: SigningKey  # the pending `next` key
    created: bool  # False: one was already pending, nothing changed


@dataclass(frozen=True)
class RotationReport:
    transitions: list[Transition] = field(default_factory=list)
    rotation: Rotation | None = None  # None: not due
    reason: str = ""

    def view(self, schedule: KeySchedule) -> dict[str, Any]:
        """What happened, as JSON-able data (public key metadata only)."""
        rotation = self.rotation
        return {
            "reason": self.reason,
            "created": bool(rotation and rotation.created),
            "key": key_view(rotation.key, schedule) if rotation else None,
            "transitions": [t._asdict() for t in self.transitions],
        }


def list_keys(session: Session) -> list[SigningKey]:
    return list(session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def key_view(key: SigningKey, schedule: KeySchedule) -> dict[str, Any]:
    """What may be shown about a key: public metadata only, never private material."""
    activates = schedule.activates_at(key) if key.status == "next" else None
    return {
        "kid": key.kid,
        "alg": key.alg,
        "status": key.status,
        "created_at": _iso(key.created_at),
        "activated_at": _iso(key.activated_at),
        "retiring_at": _iso(key.retiring_at),
        "retired_at": _iso(key.retired_at),
        # Foreseen dates: the earliest the job or a token request makes the transition.
        "activates_at": _iso(activates),
        "retires_at": _iso(schedule.retires_at(key)) if key.status == "retiring" else None,
    }


def pending_key(session: Session) -> SigningKey | None:
    return session.scalar(select(SigningKey).where(SigningKey.status == "next"))


def rotate(session: Session, kek: Kek, alg: str, actor: Actor, now: datetime) -> Rotation:
    """Start a rotation: a new `next` key, audited in the same transaction. At most one
    is pending (a unique index): asking again returns the pending one unchanged."""
    check_kek(session, kek)  # a key sealed under a wrong KEK could never be used
    pending = pending_key(session)
    if pending is not None:
        return Rotation(key=pending, created=False)
    key = new_signing_key(kek, alg, "next", now=now)
    session.add(key)
    record(session, actor, "key.rotate", key.kid, {"kid": key.kid, "alg": alg}, now=now)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # another process started one at the same moment: use theirs
        winner = pending_key(session)
        if winner is None:
            raise
        return Rotation(key=winner, created=False)
    return Rotation(key=key, created=True)


def rotate_if_due(
    session: Session,
    schedule: KeySchedule,
    kek: Kek,
    alg: str,
    now: datetime,
    actor: Actor = SCHEDULER,
) -> RotationReport:
    """The scheduled job: make due transitions, then rotate if the active key is old
    (a new key of `alg`, sealed under `kek`)."""
    transitions = advance(session, schedule, now)
    active = session.scalar(select(SigningKey).where(SigningKey.status == "active"))
    if active is None:
        return RotationReport(transitions, None, "no active key (start the issuer first)")
    pending = pending_key(session)
    if pending is not None:
        return RotationReport(transitions, Rotation(pending, False), "a rotation is pending")
    since = active.activated_at or active.created_at
    if since + schedule.rotation_period > now:
        return RotationReport(transitions, None, "not due")
    rotation = rotate(session, kek, alg, actor, now)
    return RotationReport(transitions, rotation, "due")
