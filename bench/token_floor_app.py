"""The floor of the issuer's Lambda init: the least a token service on this stack does
before its first request, to read the init's ratio against (bench/startup_bench.py).

One declarative table (a client: id, secret hash, scopes, audiences), an engine on the
bench's database and one ORM query through it (a first query configures the mapper and
compiles its SQL, as the issuer's KEK check does), PyJWT to sign with, one FastAPI route,
Mangum. No settings, no policy, no signing key, no error handling, no middleware: every
one of those the issuer adds on top. `import fastapi, sqlalchemy.orm, jwt, mangum`, the
baseline, is this file without its table, its query and its app.

Imported as a module (`python -c "import bench.token_floor_app"`) with
ISSUER_DATABASE_URL set, as the issuer's init is."""

from __future__ import annotations

import os

import jwt  # noqa: F401  # a token is signed: the baseline imports it too
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from mangum import Mangum
from sqlalchemy import JSON, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Client(Base):
    __tablename__ = "clients"  # the issuer's own table, read as it is

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    audiences: Mapped[list[str]] = mapped_column(JSON)


engine = create_engine(os.environ["ISSUER_DATABASE_URL"])
with Session(engine) as session:
    session.scalars(select(Client).limit(1)).first()

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/oauth2/token")
async def token(request: Request) -> JSONResponse:
    return JSONResponse({})


handler = Mangum(app, lifespan="off")
