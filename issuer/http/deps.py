"""FastAPI dependencies: `ServicesDep`, `SessionDep` keep route signatures short."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from issuer.services import Services


async def get_services(request: Request) -> Services:
    # async: no I/O here, and a plain def would cost a thread-pool hop per request.
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    with services.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
