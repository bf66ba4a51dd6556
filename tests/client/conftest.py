"""Fixtures for the client library's tests: the real issuer served by uvicorn on
loopback (its token endpoint's requests counted at the ASGI layer), a scripted stub
token endpoint for the retry and refresh rules, and a resource server that checks the
tokens it is sent against the issuer's published keys."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from helpers.issuer_db import DatabaseFactory
from helpers.issuer_env import ORDERS, make_issuer, write_policy
from helpers.issuer_server import serve
from helpers.mint import make_key

JWT_ALGS = ("RS256", "ES256", "EdDSA")


class CountingApp:
    """ASGI wrapper counting requests per (method, path): what the issuer saw."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.hits: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            with self._lock:
                self.hits[(scope["method"], scope["path"])] += 1
        await self.app(scope, receive, send)

    @property
    def token_requests(self) -> int:
        return self.hits[("POST", "/oauth2/token")]

    @property
    def metadata_requests(self) -> int:
        return self.hits[("GET", "/.well-known/oauth-authorization-server")]

    def reset(self) -> None:
        with self._lock:
            self.hits.clear()


@pytest.fixture(scope="session")
def counting_app():
    """The CountingApp class, for test modules that serve an issuer of their own."""
    return CountingApp


@dataclass
class LiveIssuer:
    url: str
    counter: CountingApp
    client_id: str  # a client_secret_basic client: orders:read/write, billing:read
    client_secret: str
    jwt_clients: dict[str, tuple[str, Any, dict]]  # alg -> (client_id, private key, jwk)

    @property
    def token_endpoint(self) -> str:
        return self.url + "/oauth2/token"


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    factory = DatabaseFactory(tmp_path_factory.mktemp("client-db"))
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def policy_file(tmp_path_factory):
    return write_policy(tmp_path_factory.mktemp("client-policy"))


@pytest.fixture(scope="module")
def live(databases, policy_file):
    """The issuer over real HTTP, its `iss` its own loopback URL."""
    prepared = make_issuer(databases.new_url("sqlite"), policy_file)
    state: dict[str, Any] = {}

    def app_for(url: str):
        state["counter"] = CountingApp(prepared.app_at(url))
        return state["counter"]

    secret_client = prepared.client(
        ["orders:read", "orders:write", "billing:read"], name="library secret client"
    )
    jwt_clients = {}
    for alg in JWT_ALGS:
        private, jwk = make_key(alg, kid=f"client-{alg.lower()}")
        new = prepared.client(
            ["orders:read"], auth_method="private_key_jwt", jwks={"keys": [jwk]},
            name=f"library {alg} client",
        )
        jwt_clients[alg] = (new.client.client_id, private, jwk)
    with serve(app_for) as base_url:
        yield LiveIssuer(
            url=base_url,
            counter=state["counter"],
            client_id=secret_client.client.client_id,
            client_secret=secret_client.client_secret,
            jwt_clients=jwt_clients,
        )
    prepared.services.engine.dispose()


@pytest.fixture
def issuer(live) -> LiveIssuer:
    """The live issuer with its request counts zeroed for this test."""
    live.counter.reset()
    return live


# -- a resource server -------------------------------------------------------------------


@dataclass
class ResourceServer:
    """GET/POST /orders/{id}: 200 for a token the issuer signed for the orders API, 401
    `invalid_token` (RFC 6750 §3.1) for anything else or a token in `revoked`."""

    issuer_url: str
    url: str = ""
    revoked: set[str] = field(default_factory=set)
    refuse_all: bool = False
    seen: list[tuple[str, str, bytes]] = field(default_factory=list)  # (method, token, body)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()
        keys = jwt.PyJWKClient(self.issuer_url + "/.well-known/jwks.json")

        def refuse() -> Response:
            return Response(
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="orders", error="invalid_token"'},
            )

        @app.api_route("/orders/{order_id}", methods=["GET", "POST"])
        def orders(order_id: str, request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            body = request.scope.get("tollgate_body", b"")
            with self.lock:
                self.seen.append((request.method, token, body))
            if scheme != "Bearer" or self.refuse_all or token in self.revoked:
                return refuse()
            try:
                claims = jwt.decode(
                    token,
                    keys.get_signing_key_from_jwt(token).key,
                    algorithms=["RS256", "ES256", "EdDSA"],
                    audience=ORDERS,
                    issuer=self.issuer_url,
                )
            except jwt.PyJWTError:
                return refuse()
            return JSONResponse({"order": order_id, "client_id": claims["client_id"],
                                 "body": body.decode()})

        @app.get("/refusals/{kind}")
        def refusals(kind: str, request: Request) -> Response:
            # Refusals that do not mean "this token is no good": no retry for these.
            _, _, token = request.headers.get("authorization", "").partition(" ")
            with self.lock:
                self.seen.append((request.method, token, b""))
            if kind == "insufficient_scope":  # RFC 6750 §3.1: a new token would not help
                challenge = 'Bearer error="insufficient_scope", scope="orders:admin"'
                return Response(status_code=403, headers={"WWW-Authenticate": challenge})
            return Response(status_code=401)  # API Gateway's bare 401: no challenge

        async def with_body(scope, receive, send):
            # Read the body first so the sync endpoint can record it.
            if scope["type"] == "http":
                chunks = []
                while True:
                    message = await receive()
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body"):
                        break
                scope["tollgate_body"] = b"".join(chunks)

                async def replay():
                    return {"type": "http.request", "body": scope["tollgate_body"]}

                return await app(scope, replay, send)
            return await app(scope, receive, send)

        return with_body

    def tokens(self) -> list[str]:
        with self.lock:
            return [token for _, token, _ in self.seen]


@pytest.fixture(scope="module")
def resource_server(live):
    server = ResourceServer(live.url)
    with serve(lambda url: server.app()) as url:
        server.url = url
        yield server


@pytest.fixture
def api(resource_server) -> ResourceServer:
    with resource_server.lock:
        resource_server.seen.clear()
        resource_server.revoked.clear()
        resource_server.refuse_all = False
    return resource_server


# -- a scripted token endpoint -----------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StubIssuer:
    """RFC 8414 metadata and a token endpoint (`/token`) answering from `script` in
    order, then with a new bearer token (`tok-N`, `expires_in` = `lifetime`) each time.
    Every token request is recorded with its arrival time and form."""

    url: str = ""
    lifetime: int = 100
    script: list[Answer] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    metadata_issuer: str | None = None
    token_path: str = "/token"
    delay: float = 0.0  # seconds the token endpoint takes (to hold a fetch in flight)
    issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def then(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """Script the next answer of the token endpoint."""
        with self.lock:
            self.script.append(Answer(status, body, headers or {}))

    def reset(self) -> None:
        with self.lock:
            self.script.clear()
            self.requests.clear()
            self.issued = 0
            self.lifetime = 100
            self.metadata_issuer = None
            self.delay = 0.0

    @property
    def token_endpoint(self) -> str:
        return self.url + self.token_path

    def app(self, url: str) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/oauth-authorization-server")
        def metadata() -> JSONResponse:
            issuer = self.metadata_issuer if self.metadata_issuer is not None else url
            return JSONResponse({"issuer": issuer, "token_endpoint": url + self.token_path})

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = dict(await request.form())
            with self.lock:
                self.requests.append(
                    {"at": time.monotonic(), "form": form, "headers": dict(request.headers)}
                )
                answer = self.script.pop(0) if self.script else None
                if answer is None:
                    self.issued += 1
                    answer = Answer(200, {"access_token": f"tok-{self.issued}",
                                          "token_type": "Bearer", "expires_in": self.lifetime})
                delay = self.delay
            if delay:
                import asyncio

                await asyncio.sleep(delay)
            body = answer.body
            content = body if isinstance(body, str | bytes) else json.dumps(body)
            return Response(content, status_code=answer.status, headers=answer.headers,
                            media_type="application/json")

        return app


@pytest.fixture(scope="module")
def stub_server():
    stub = StubIssuer()
    with serve(stub.app) as url:
        stub.url = url
        yield stub


@pytest.fixture
def stub(stub_server) -> StubIssuer:
    stub_server.reset()
    return stub_server


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> list[float]:
    """Pass `sleep=sleeps.append` to a TokenSource: records the retry delays, waits none."""
    return []

