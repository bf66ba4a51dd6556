"""Per-client activity every process shares: tokens issued and failed client
authentications naming the client, per hour (`ClientActivity`), for the admin console.

The token path pays an in-memory increment (a lock and a dict entry, well under a
microsecond), never a database write: each process adds its counts to the table in one
transaction at most every `FLUSH_SECONDS` of its clock, on a short-lived thread started
by the request that finds the last flush that old, so no request waits on it and no
thread lives between flushes. What other processes counted shows up within that delay
(plus, on Lambda, until the instance runs again). Bounded everywhere: at most
`MAX_PENDING` (client, hour) entries wait in memory (ids that name no client are counted
in memory but never written, so made-up ids cannot grow the table), rows are one per
client and hour, pruned after `KEEP`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import delete, literal, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from issuer.logs import error_fields, log_event
from issuer.store.tables import UtcDateTime, client_activity_table, clients_table

FLUSH_SECONDS = 5
MAX_PENDING = 10_000
KEEP = timedelta(days=7)
HOUR = 3600
ISSUED, FAILED = 0, 1
_ACTIVITY = client_activity_table.c

log = logging.getLogger("issuer.activity")


def hour_of(now: datetime) -> datetime:
    return datetime.fromtimestamp(int(now.timestamp()) // HOUR * HOUR, UTC)


class ActivityCounter:
    """`issued(client_id)` and `failed(client_id)` on the request path; `flush()` writes
    what this process counted (also called by the console before it reads, so the
    process an admin is looking through is never behind)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], list[int]] = {}
        self._last_flush = clock().timestamp()
        self._flushing = False
        self._pruned_hour = 0
        self.dropped = 0  # counts lost to the MAX_PENDING bound (or a failed write)

    def issued(self, client_id: str) -> None:
        self._add(client_id, ISSUED)

    def failed(self, client_id: str) -> None:
        self._add(client_id, FAILED)

    def _add(self, client_id: str, kind: int) -> None:
        now = self._clock().timestamp()
        key = (client_id, int(now) // HOUR)
        start = False
        with self._lock:
            counts = self._pending.get(key)
            if counts is None:
                if len(self._pending) >= MAX_PENDING:
                    self.dropped += 1
                    return
                counts = self._pending[key] = [0, 0]
            counts[kind] += 1
            if not self._flushing and now - self._last_flush >= self._flush_seconds:
                self._flushing = start = True
        if start:
            threading.Thread(target=self.flush, name="activity-flush", daemon=True).start()

    def flush(self) -> int:
        """Write the pending counts (one transaction); returns how many entries."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = self._clock().timestamp()
            self._flushing = True
        try:
            if pending:
                self._write(pending)
            return len(pending)
        except SQLAlchemyError as exc:
            # Counts are a convenience for people, never worth a failed request: dropped.
            self.dropped += sum(sum(c) for c in pending.values())
            log_event(log, "activity_flush_failed", logging.WARNING, **error_fields(exc))
            return 0
        finally:
            with self._lock:
                self._flushing = False

    def _write(self, pending: dict[tuple[str, int], list[int]]) -> None:
        with self._sessions() as session:
            # The dialect's own INSERT ... ON CONFLICT, imported here: a PostgreSQL engine
            # has loaded its dialect already, and importing the PostgreSQL one at module
            # import would cost a SQLite issuer's cold start ~17 ms (every PG driver module).
            if session.get_bind().dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                insert: Any = pg_insert
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                insert = sqlite_insert
            for (client_id, hour), (issued, failed) in sorted(pending.items()):
                at = datetime.fromtimestamp(hour * HOUR, UTC)
                # INSERT ... SELECT from clients: an id that names no client adds nothing.
                rows = select(
                    clients_table.c.client_id,
                    literal(at, UtcDateTime()),
                    literal(issued),
                    literal(failed),
                ).where(clients_table.c.client_id == client_id)
                columns = ["client_id", "hour", "issued", "failed"]
                stmt = insert(client_activity_table).from_select(columns, rows)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["client_id", "hour"],
                    set_={
                        "issued": _ACTIVITY.issued + stmt.excluded.issued,
                        "failed": _ACTIVITY.failed + stmt.excluded.failed,
                    },
                )
                session.execute(stmt)
            newest = max(hour for _, hour in pending)
            if newest != self._pruned_hour:  # once an hour per process
                cutoff = datetime.fromtimestamp(newest * HOUR, UTC) - KEEP
                session.execute(delete(client_activity_table).where(_ACTIVITY.hour < cutoff))
                self._pruned_hour = newest
            session.commit()


class Activity(NamedTuple):
    """A client's counts: per hour (newest first, hours with none left out) and totals
    over the last day and the last `KEEP`."""

    hours: list[tuple[datetime, int, int]]
    day_issued: int
    day_failed: int
    week_issued: int
    week_failed: int


def activity_of(session: Session, client_id: str, now: datetime) -> Activity:
    since = hour_of(now) - KEEP
    rows = session.execute(
        select(_ACTIVITY.hour, _ACTIVITY.issued, _ACTIVITY.failed)
        .where(_ACTIVITY.client_id == client_id, _ACTIVITY.hour >= since)
        .order_by(_ACTIVITY.hour.desc())
    ).all()
    day = hour_of(now) - timedelta(hours=23)
    hours = [(h, i, f) for h, i, f in rows]
    return Activity(
        hours=hours[:48],
        day_issued=sum(i for h, i, _ in hours if h >= day),
        day_failed=sum(f for h, _, f in hours if h >= day),
        week_issued=sum(i for _, i, _ in hours),
        week_failed=sum(f for _, _, f in hours),
    )
