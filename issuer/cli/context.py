"""Open the issuer's services for one CLI command, and close them after. The KEK is
verified first (`issuer/keys/kek_check.py`): a command never runs, reads or writes under a
key-encryption key that is not the database's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from issuer.keys.kek_check import verify_kek
from issuer.services import Services, build_services
from issuer.settings import Settings


class DatabaseUnavailable(LookupError):
    pass


@contextmanager
def services_for(settings: Settings) -> Iterator[Services]:
    services = build_services(settings)
    try:
        verify_kek(services.sessions, services.kek, services.clock())
        yield services
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(
            f"database error ({type(exc).__name__}); is it reachable and migrated? "
            "run `issuer db upgrade`"
        ) from None
    finally:
        services.engine.dispose()
