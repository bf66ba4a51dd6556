"""The local API Gateway stand-in over real HTTP on loopback, with a scripted authorizer.

The authorizer here is a stub on purpose: these tests pin the gateway's own behaviour
(API Gateway's 401/403 mapping, IAM evaluation, the result cache, proxying). The real
handler behind the gateway is exercised by test_demo.py.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers.procs import free_port, running, wait_http
from helpers.procs import http as request

from authorizer import gateway as gw
from examples.api import make_server

ARN = gw.ARN_PREFIX


def _policy(effect_resources: list[tuple[str, str]], **context) -> dict:
    return {
        "principalId": "client-1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": e, "Action": "execute-api:Invoke", "Resource": [f"{ARN}/{r}"]}
                for e, r in effect_resources
            ],
        },
        "context": {"client_id": "client-1", "scope": "orders:read", "exp": 1999999999,
                    "admin": False, **context},
    }


# A read-only token: GET /orders and GET /orders/{id}, but not deeper (IAM's * spans /).
READ = _policy([("Allow", "GET/orders"), ("Allow", "GET/orders/*"), ("Deny", "GET/orders/*/*")])
NOTHING = _policy([("Deny", "*")])
WRITE = _policy([("Allow", "POST/orders")])


class StubAuthorizer:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def __call__(self, event: dict, context) -> dict:
        self.events.append(event)
        token = event.get("authorizationToken") or event["headers"].get("authorization", "")
        match token.removeprefix("Bearer "):
            case "read":
                return READ
            case "nothing":
                return NOTHING
            case "write":
                return WRITE
            case "broken":
                raise ValueError("a bug in the authorizer")
            case "garbage":
                return {"principalId": "x"}  # no policyDocument
            case _:
                raise Exception("Unauthorized")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def _serving(server) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with _serving(make_server()) as url:
        yield url


@pytest.fixture
def stub() -> StubAuthorizer:
    return StubAuthorizer()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_gateway(upstream, stub, clock):
    @contextmanager
    def factory(ttl: float = 300, kind: str = "request", target: str | None = None):
        gateway = gw.Gateway(stub, gw.AuthorizerCache(ttl, clock=clock), kind)
        with _serving(gw.serve(gateway, target or upstream, "127.0.0.1", 0)) as url:
            yield url
    return factory


def _call(url: str, token: str | None = None, method: str = "GET", **kw):
    headers = dict(kw.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    status, _, body = request(method, url, headers=headers, **kw)
    return status, json.loads(body) if body else None


def test_no_token_is_401_without_calling_the_authorizer(make_gateway, stub):
    with make_gateway() as url:
        assert _call(f"{url}/orders") == (401, {"message": "Unauthorized"})
    assert stub.events == []


def test_refused_token_is_401(make_gateway, stub):
    with make_gateway() as url:
        assert _call(f"{url}/orders", "forged") == (401, {"message": "Unauthorized"})
    assert len(stub.events) == 1


@pytest.mark.parametrize(("token", "method", "path"), [
    ("nothing", "GET", "/orders"),             # explicit Deny on everything
    ("read", "POST", "/orders"),               # outside the Allow set
    ("read", "GET", "/orders/1/lines"),        # Allow GET/orders/* but explicit Deny deeper
    ("read", "GET", "/inventory"),
], ids=["deny-all", "method-not-allowed", "deny-carve-out", "other-path"])
def test_forbidden_is_403(make_gateway, token, method, path):
    with make_gateway() as url:
        status, body = _call(url + path, token, method, data=b"{}" if method == "POST" else None)
    assert (status, body) == (403, {"message": "User is not authorized to access this resource"})


def test_allowed_request_is_proxied_with_the_authorizer_context(make_gateway, stub):
    with make_gateway() as url:
        status, body = _call(
            f"{url}/orders/42?expand=lines&x=1&x=2", "read",
            headers={"X-Authorizer-Client-Id": "forged-by-client", "X-Other": "kept"},
        )
    assert status == 200
    assert body["method"] == "GET"
    assert body["path"] == "/orders/42"
    assert body["query"] == {"expand": ["lines"], "x": ["1", "2"]}
    assert body["authorizer"] == {
        "principal_id": "client-1", "client_id": "client-1", "scope": "orders:read",
        "exp": "1999999999", "admin": "false",
    }
    event = stub.events[0]
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == f"{ARN}/GET/orders/42"
    assert event["queryStringParameters"] == {"expand": "lines", "x": "2"}
    assert event["multiValueQueryStringParameters"] == {"expand": ["lines"], "x": ["1", "2"]}
    assert event["headers"]["x-other"] == "kept"


def test_body_and_method_reach_upstream(make_gateway):
    with make_gateway() as url:
        status, body = _call(f"{url}/orders", "write", "POST", data=b'{"item": "book"}',
                             headers={"Content-Type": "application/json"})
    assert status == 200
    assert (body["method"], body["body"]) == ("POST", '{"item": "book"}')


def test_token_event_kind(make_gateway, stub):
    with make_gateway(kind="token") as url:
        assert _call(f"{url}/orders", "read")[0] == 200
    assert stub.events == [{"type": "TOKEN", "authorizationToken": "Bearer read",
                            "methodArn": f"{ARN}/GET/orders"}]


def test_cached_policy_is_reused_and_evaluated_per_route(make_gateway, stub):
    with make_gateway() as url:
        assert _call(f"{url}/orders", "read")[0] == 200
        assert _call(f"{url}/orders", "read")[0] == 200
        assert len(stub.events) == 1  # served from the cache
        # Same token, other routes: the cached policy decides, not the first answer.
        assert _call(f"{url}/orders/7", "read")[0] == 200
        assert _call(f"{url}/orders", "read", "POST", data=b"{}")[0] == 403
        assert _call(f"{url}/orders/7/lines", "read")[0] == 403
        assert len(stub.events) == 1


def test_cache_expires_after_ttl(make_gateway, stub, clock):
    with make_gateway(ttl=300) as url:
        assert _call(f"{url}/orders", "read")[0] == 200
        clock.now += 299
        assert _call(f"{url}/orders", "read")[0] == 200
        assert len(stub.events) == 1
        clock.now += 1
        assert _call(f"{url}/orders", "read")[0] == 200
        assert len(stub.events) == 2


def test_ttl_zero_disables_the_cache(make_gateway, stub):
    with make_gateway(ttl=0) as url:
        for _ in range(3):
            assert _call(f"{url}/orders", "read")[0] == 200
    assert len(stub.events) == 3


def test_refusals_are_not_cached(make_gateway, stub):
    with make_gateway() as url:
        assert _call(f"{url}/orders", "forged")[0] == 401
        assert _call(f"{url}/orders", "forged")[0] == 401
    assert len(stub.events) == 2


@pytest.mark.parametrize("token", ["broken", "garbage"])
def test_authorizer_failure_is_500_without_detail(make_gateway, token):
    with make_gateway() as url:
        status, _, raw = request("GET", f"{url}/orders",
                                 headers={"Authorization": f"Bearer {token}"})
    assert (status, json.loads(raw)) == (500, {"message": None})
    assert b"Traceback" not in raw and b"ValueError" not in raw


def test_upstream_down_is_502(make_gateway):
    with make_gateway(target=f"http://127.0.0.1:{free_port()}") as url:
        assert _call(f"{url}/orders", "read") == (502, {"message": "Bad Gateway"})


def test_oversized_body_is_413_before_the_authorizer(make_gateway, stub):
    with make_gateway() as url:
        conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
        try:
            conn.putrequest("POST", "/orders")
            conn.putheader("Authorization", "Bearer read")
            conn.putheader("Content-Length", str(gw.MAX_BODY + 1))
            conn.endheaders()
            resp = conn.getresponse()
            assert (resp.status, json.loads(resp.read())) == (
                413, {"message": "Request Entity Too Large"})
        finally:
            conn.close()
    assert stub.events == []


@pytest.mark.parametrize(("glob", "resource", "expected"), [
    ("a/*", "a/b/c", True),           # IAM's * spans slashes
    ("a/?", "a/b", True),
    ("a/?", "a/bc", False),
    ("a/b", "a/b/", False),
    ("a.[b]", "a.[b]", True),         # no character classes in IAM
    ("a.b", "axb", False),
])
def test_glob_match_has_iam_semantics(glob, resource, expected):
    assert gw.glob_match(glob, resource) is expected


def test_main_fails_clearly_when_the_port_is_taken(monkeypatch, capsys):
    import socket
    import sys
    import types

    fake = types.ModuleType("authorizer.handler")
    fake.handler = lambda e, c: NOTHING
    monkeypatch.setitem(sys.modules, "authorizer.handler", fake)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc = gw.main(["--upstream", "http://127.0.0.1:1", "--port", str(port)])
    assert rc == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


HANDLER_ENV = {
    "AUTHORIZER_ISSUER": "http://127.0.0.1:9",
    "AUTHORIZER_AUDIENCE": "https://api.example.com/orders",
    "POLICY_FILE": str(Path(__file__).resolve().parents[2] / "shared" / "example_policy.toml"),
}


def test_the_lambda_handler_never_imports_the_gateway():
    code = ("import sys, authorizer.handler; "
            "print(sorted(m for m in sys.modules if 'gateway' in m))")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **HANDLER_ENV},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_authorizer_cli_runs_the_gateway_with_the_real_handler(upstream):
    port = free_port()
    argv = [str(Path(sys.executable).with_name("authorizer")), "gateway",
            "--upstream", upstream, "--port", str(port)]
    with running(argv, env=HANDLER_ENV) as proc:
        wait_http(f"http://127.0.0.1:{port}/orders", proc=proc, ok=lambda s: s == 401)
        # The real handler refuses a token that is not a JWT: 401 from the authorizer.
        assert _call(f"http://127.0.0.1:{port}/orders", "not.a.jwt") == (
            401, {"message": "Unauthorized"})
