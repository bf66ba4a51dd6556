"""Fixtures for the authorizer: keys, a fake issuer (counting fetcher), clocks, the test
policy and the recorded API Gateway events with their token replaced."""

from __future__ import annotations

import copy
import io
import json
import time
from pathlib import Path

import pytest
from helpers.mint import good_claims, make_key, mint

from authorizer.coldstart import build_authorizer
from authorizer.log import DecisionLog
from authorizer.settings import Settings
from shared.errors import KeySetError
from shared.policy import parse_policy

ISSUER = "https://issuer.example.com"
AUDIENCE = "https://api.example.com/orders"
OTHER_AUDIENCE = "https://api.example.com/billing"
VECTORS = Path(__file__).resolve().parent.parent / "vectors"
POWERTOOLS = VECTORS / "aws-powertools-events" / "tests" / "events"
GO_EVENTS = VECTORS / "aws-lambda-go-events" / "events" / "testdata"

# Routes cover the recorded events: TOKEN "GET /", REQUEST "GET /request", the two v2
# events "POST /merchants" and "POST /my/path"; /entries/{id} is the one-segment rule.
POLICY_TOML = """
[apis.orders]
audience = "https://api.example.com/orders"

[apis.orders.scopes]
"orders:read" = "Read orders"
"orders:write" = "Create orders"
"entries:read" = "Read one entry"
"nothing:here" = "A scope no route needs"

[[apis.orders.routes]]
method = "GET"
path = "/"
scopes = ["orders:read"]

[[apis.orders.routes]]
method = "GET"
path = "/request"
scopes = ["orders:read"]

[[apis.orders.routes]]
method = "GET"
path = "/orders/*"
scopes = ["orders:read"]

[[apis.orders.routes]]
method = "POST"
path = "/merchants"
scopes = ["orders:write"]

[[apis.orders.routes]]
method = "POST"
path = "/my/path"
scopes = ["orders:write"]

[[apis.orders.routes]]
method = "GET"
path = "/entries/{id}"
scopes = ["entries:read"]

[[apis.orders.routes]]
method = "GET"
path = "/entries/{id}/lines"
scopes = ["orders:write"]

[apis.billing]
audience = "https://api.example.com/billing"

[apis.billing.scopes]
"billing:read" = "Read invoices"

[[apis.billing.routes]]
method = "GET"
path = "/invoices/*"
scopes = ["billing:read"]
"""


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeIssuer:
    """The JWKS fetcher: serves `doc` (or fails while `down`), counting every call."""

    def __init__(self, *jwks: dict) -> None:
        self.doc = {"keys": list(jwks)}
        self.down = False
        self.calls = 0
        self.uris: list[str] = []

    def __call__(self, uri: str) -> bytes:
        self.calls += 1
        self.uris.append(uri)
        if self.down:
            raise KeySetError("JWKS fetch failed: connection refused")
        return json.dumps(self.doc).encode()


@pytest.fixture(scope="session")
def rsa_key():
    return make_key("RS256", kid="rsa-1")


@pytest.fixture(scope="session")
def policy():
    return parse_policy(POLICY_TOML, "test-policy.toml")


class Harness:
    """An `Authorizer` built as the cold start builds it, with fakes injected."""

    ISSUER = ISSUER
    AUDIENCE = AUDIENCE

    def __init__(self, key, policy, env: dict | None = None, issuer: FakeIssuer | None = None,
                 jwks_file: str | None = None, wall_start: float | None = None) -> None:
        self.private, self.jwk = key
        self.issuer = issuer if issuer is not None else FakeIssuer(self.jwk)
        self.clock = FakeClock()
        self.wall = FakeClock(wall_start if wall_start is not None else time.time())
        self.out = io.StringIO()
        # The revocation list has its own tests (test_revocation*.py); here the fake
        # issuer serves keys only and counts JWKS fetches.
        environ = {"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE,
                   "AUTHORIZER_REVOCATION_URI": "off"}
        if jwks_file:
            environ["AUTHORIZER_JWKS_FILE"] = jwks_file
        environ.update(env or {})
        self.settings = Settings.from_env(environ, cwd="/nonexistent")
        self.authorizer = build_authorizer(
            self.settings, fetcher=self.issuer, clock=self.clock, wall_clock=self.wall,
            log=DecisionLog(self.out.write), policy=policy,
        )

    def handler(self, event, context=None):
        return self.authorizer.lambda_handler(event, context)

    def token(self, scope: str = "orders:read", audience=AUDIENCE, key=None, kid="rsa-1",
              alg="RS256", **claims) -> str:
        body = good_claims(ISSUER, audience, scope=scope, now=self.wall())
        body.update(claims)
        return mint(key or self.private, alg, body, kid=kid)

    def claims(self, scope: str = "orders:read", **overrides) -> dict:
        body = good_claims(ISSUER, AUDIENCE, scope=scope, now=self.wall())
        body.update(overrides)
        return body

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]

    def decisions(self) -> list[dict]:
        return [line for line in self.lines() if line.get("event") == "decision"]

    def last(self) -> dict:
        return self.decisions()[-1]


@pytest.fixture
def harness(rsa_key, policy):
    return Harness(rsa_key, policy)


@pytest.fixture
def make_harness(rsa_key, policy):
    def make(**kwargs):
        kwargs.setdefault("policy", policy)
        return Harness(kwargs.pop("key", rsa_key), **kwargs)

    return make


# -- recorded events ----------------------------------------------------------------

RECORDED = {
    "powertools-token": (POWERTOOLS / "apiGatewayAuthorizerTokenEvent.json", "token"),
    "powertools-request": (POWERTOOLS / "apiGatewayAuthorizerRequestEvent.json", "request"),
    "powertools-v2": (POWERTOOLS / "apiGatewayAuthorizerV2Event.json", "http"),
    "go-token": (GO_EVENTS / "apigw-custom-auth-request.json", "token"),
    "go-request": (GO_EVENTS / "apigw-custom-auth-request-type-request.json", "request"),
    "go-v2": (GO_EVENTS / "apigw-v2-custom-authorizer-v2-request.json", "http"),
}


def load_event(name: str) -> dict:
    path, _ = RECORDED[name]
    return json.loads(path.read_text())


def with_authorization(event: dict, value: str | None) -> dict:
    """The recorded event as API Gateway would send it with this Authorization value."""
    event = copy.deepcopy(event)
    if event.get("type") == "TOKEN":
        event["authorizationToken"] = value
        return event
    headers = {k: v for k, v in event.get("headers", {}).items() if k.lower() != "authorization"}
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict):
        multi = {k: v for k, v in multi.items() if k.lower() != "authorization"}
    if value is not None:
        if event.get("version") == "2.0":
            headers["authorization"] = value  # HTTP APIs lower-case header names
            event["identitySource"] = [value]
        else:
            headers["Authorization"] = value
            if isinstance(multi, dict):
                multi["Authorization"] = [value]
    event["headers"] = headers
    if isinstance(multi, dict):
        event["multiValueHeaders"] = multi
    return event


class RecordedEvent:
    """One recorded event by name; `with_token` gives the copy API Gateway would send."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = RECORDED[name][1]
        self.event = load_event(name)

    @property
    def arn(self) -> str:
        return self.event.get("methodArn") or self.event["routeArn"]

    def with_authorization(self, value: str | None) -> dict:
        return with_authorization(self.event, value)

    def with_token(self, token: str) -> dict:
        return with_authorization(self.event, "Bearer " + token)


_KIND_FIXTURES = {
    "recorded": ("token", "request", "http"),
    "rest_event": ("token", "request"),
    "http_event": ("http",),
}


def pytest_generate_tests(metafunc):
    """`recorded`, `rest_event`, `http_event`: every recorded event of those kinds."""
    for fixture, kinds in _KIND_FIXTURES.items():
        if fixture in metafunc.fixturenames:
            names = [n for n in sorted(RECORDED) if RECORDED[n][1] in kinds]
            metafunc.parametrize(fixture, [RecordedEvent(n) for n in names], ids=names)


@pytest.fixture
def events():
    return RecordedEvent


@pytest.fixture
def fake_issuer():
    """The FakeIssuer class: `fake_issuer(jwk, ...)` serves those keys and counts fetches."""
    return FakeIssuer


@pytest.fixture
def fake_clock():
    return FakeClock


@pytest.fixture
def lambda_env(monkeypatch, tmp_path, rsa_key):
    """The Lambda's environment for in-process cold starts: the test policy and bundled
    keys in files, the JWKS URI switched off (no network)."""
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text(POLICY_TOML)
    jwks_path = tmp_path / "jwks.json"
    jwks_path.write_text(json.dumps({"keys": [rsa_key[1]]}))
    values = {"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE,
              "AUTHORIZER_JWKS_FILE": str(jwks_path), "AUTHORIZER_JWKS_URI": "",
              "POLICY_FILE": str(policy_path)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values
