"""Open the issuer's services for one CLI command, and close them after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from ..services import Services, build_services
from ..settings import Settings


class DatabaseUnavailable(LookupError):
    pass


@contextmanager
def services_for(settings: Settings) -> Iterator[Services]:
    services = build_services(settings)
    try:
        yield services
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(
            f"database error ({type(exc).__name__}); is it reachable and migrated? "
            "run `issuer db upgrade`"
        ) from None
    finally:
        services.engine.dispose()
