"""`DatabaseFailureStore`: the throttle's failure log in the issuer's database, shared by
every worker and Lambda instance (`issuer.store.throttle_tables.AuthFailure`). The store
is made at start, its table imported by the first failure: a request that authenticates
never meets the throttle, so a cold start for a token does not declare it.

Each call is its own short transaction on its own session: a failure must be counted
even though the request that failed is answered with an error, and the throttle never
holds a connection across the authentication work."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker


class DatabaseFailureStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, keys: Sequence[str], at: float) -> None:
        if not keys:
            return
        from issuer.store.throttle_tables import AuthFailure  # module docstring

        with self._sessions.begin() as session:
            session.execute(insert(AuthFailure), [{"key": key, "at": at} for key in keys])

    def nth_newest(self, key: str, since: float, n: int) -> float | None:
        from issuer.store.throttle_tables import AuthFailure  # module docstring

        # One row back, whatever the count: the index (key, at) is walked newest first.
        query = (
            select(AuthFailure.at)
            .where(AuthFailure.key == key, AuthFailure.at > since)
            .order_by(AuthFailure.at.desc())
            .offset(n - 1)
            .limit(1)
        )
        with self._sessions() as session:
            return session.scalar(query)

    def prune(self, before: float) -> None:
        from issuer.store.throttle_tables import AuthFailure  # module docstring

        with self._sessions.begin() as session:
            session.execute(delete(AuthFailure).where(AuthFailure.at <= before))
