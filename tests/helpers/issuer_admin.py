"""Admin-test helpers: an injectable clock, an issuer that uses it, admin tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from helpers.issuer_env import TestIssuer, make_issuer
from issuer.audit import audit_count
from issuer.store.models import Client

ADMIN = "issuer:admin"


@dataclass
class FakeClock:
    """Services' clock: time moves only when a test says so (no sleeps)."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def clocked_issuer(
    database_url: str, policy_file: Path, **env: str
) -> tuple[TestIssuer, FakeClock]:
    clock = FakeClock()
    return make_issuer(database_url, policy_file, clock=clock, **env), clock


@contextmanager
def clocked_http(database_url: str, policy_file: Path, *, admin: bool = False) -> Iterator:
    """(issuer, clock, http) on a clocked issuer's app; with `admin`, (issuer, clock,
    http, admin client) and `http` sends that admin's bearer token on every request.
    The issuer's engine is disposed afterwards."""
    issuer, clock = clocked_issuer(database_url, policy_file)
    try:
        with TestClient(issuer.app()) as http:
            if not admin:
                yield issuer, clock, http
                return
            new = issuer.client([ADMIN], name="admin")
            http.headers.update(bearer(token_for(http, new.client.client_id, new.client_secret)))
            yield issuer, clock, http, new
    finally:
        issuer.services.engine.dispose()


def token_for(http, client_id: str, secret: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    response = http.post("/oauth2/token", data=data, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def db_state(issuer: TestIssuer) -> tuple:
    """Everything an admin request may change: clients (all columns), audit count."""
    with issuer.services.sessions() as session:
        rows = session.scalars(select(Client).order_by(Client.client_id)).all()
        clients = tuple(
            tuple(getattr(row, col.key) for col in Client.__table__.columns) for row in rows
        )
        count = session.scalar(select(func.count()).select_from(Client))
        return clients, count, audit_count(session)
