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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers.procs import free_port, running, serving, wait_http
from helpers.procs import http as request

from authorizer import gateway as gw
from examples.api import make_server
from shared.iam import glob_match

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
    with serving(server) as (host, port):
        yield f"http://{host}:{port}"


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
    assert glob_match(glob, resource) is expected


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


# -- paths that decode to another route (issue 12, item 9) ----------------------------

def _raw(url: str, method: str, path: str, token: str | None = None) -> tuple[int, dict]:
    """One request with the path sent byte for byte (urllib would tidy some of them)."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, json.loads(body) if body else {}
    finally:
        conn.close()


# Each decodes or normalises to a path other than the one-segment route it looks like.
AMBIGUOUS_PATHS = [
    "/entries/1%2Faudit", "/entries/1%2faudit", "/entries/1%5Caudit", "/entries/1\\audit",
    "/entries/%2E%2E", "/entries/%2e%2e", "/entries/..", "/entries/.", "/entries/1%252Faudit",
    "/entries/1%3Faudit", "/entries//1",
]


@pytest.mark.parametrize("kind", ["request", "token", "http"])
@pytest.mark.parametrize("path", AMBIGUOUS_PATHS)
def test_ambiguous_path_is_400_before_the_authorizer(make_gateway, stub, kind, path):
    with make_gateway(kind=kind) as url:
        assert _raw(url, "GET", path, "read") == (400, {"message": "Bad Request"})
    assert stub.events == []


def test_plain_percent_encoding_is_forwarded_and_decoded_upstream(make_gateway, stub):
    with make_gateway() as url:
        status, body = _raw(url, "GET", "/orders/a%20b", "read")
    assert status == 200
    assert (body["path"], body["raw_path"]) == ("/orders/a b", "/orders/a%20b")
    assert stub.events[0]["methodArn"] == f"{ARN}/GET/orders/a%20b"


def test_leading_slashes_are_decided_and_forwarded_as_one_path(make_gateway, stub):
    # http.server reduces a leading "//" to "/" (CPython gh-87389); the gateway decides on
    # that path and forwards that same path (urlsplit would have read "//orders" as an
    # authority and decided on "/1").
    with make_gateway() as url:
        status, body = _raw(url, "GET", "//orders/1", "read")
    assert (status, body["raw_path"]) == (200, "/orders/1")
    assert stub.events[0]["methodArn"] == f"{ARN}/GET/orders/1"


def test_split_target_keeps_a_double_slash_in_the_path():
    assert gw.split_target("//orders/1?x=1") == ("//orders/1", "x=1")
    assert gw.split_target("") == ("/", "")


# -- the real handler behind the gateway ------------------------------------------------

REAL_ISSUER = "https://issuer.example.com"
REAL_AUDIENCE = "https://api.example.com/orders"
REAL_POLICY = """
[apis.orders]
audience = "https://api.example.com/orders"

[apis.orders.scopes]
"orders:read" = "Read orders"
"orders:admin" = "Delete orders, read their lines"
"entries:read" = "Read one entry"
"entries:audit" = "Read an entry's audit trail"

[[apis.orders.routes]]
method = "GET"
path = "/orders/{id}"
scopes = ["orders:read"]

[[apis.orders.routes]]
method = "GET"
path = "/orders/{id}/lines"
scopes = ["orders:admin"]

[[apis.orders.routes]]
method = "DELETE"
path = "/orders/{id}"
scopes = ["orders:admin"]

[[apis.orders.routes]]
method = "GET"
path = "/entries/{id}"
scopes = ["entries:read"]

[[apis.orders.routes]]
method = "GET"
path = "/entries/{id}/audit"
scopes = ["entries:audit"]
"""


@pytest.fixture(scope="module")
def signing_key():
    from helpers.mint import make_key

    return make_key("RS256", kid="gw-1")


def _token(signing_key, scope: str) -> str:
    from helpers.mint import good_claims, mint

    return mint(signing_key[0], "RS256", good_claims(REAL_ISSUER, REAL_AUDIENCE, scope=scope),
                kid="gw-1")


class Counting:
    """The real Lambda handler, built as its cold start builds it, counting invocations."""

    def __init__(self, signing_key, response: str) -> None:
        import io

        from authorizer.coldstart import build_authorizer
        from authorizer.log import DecisionLog
        from authorizer.settings import Settings
        from shared.policy import parse_policy

        settings = Settings.from_env(
            {"AUTHORIZER_ISSUER": REAL_ISSUER, "AUTHORIZER_AUDIENCE": REAL_AUDIENCE,
             "AUTHORIZER_REVOCATION_URI": "off", "AUTHORIZER_RESPONSE": response},
            cwd="/nonexistent")
        jwks = json.dumps({"keys": [signing_key[1]]}).encode()
        self.log = io.StringIO()
        self.authorizer = build_authorizer(settings, fetcher=lambda uri: jwks,
                                           log=DecisionLog(self.log.write),
                                           policy=parse_policy(REAL_POLICY, "gateway-test"))
        self.events: list[dict] = []

    def __call__(self, event: dict, context) -> dict:
        self.events.append(event)
        return self.authorizer.lambda_handler(event, context)

    def reasons(self) -> list[str]:
        lines = [json.loads(line) for line in self.log.getvalue().splitlines()]
        return [line["reason"] for line in lines if line.get("event") == "decision"]


@pytest.fixture
def real_gateway(upstream, clock):
    @contextmanager
    def factory(authorize, ttl: float = 300, **options):
        gateway = gw.Gateway(authorize, gw.AuthorizerCache(ttl, clock=clock), **options)
        with _serving(gw.serve(gateway, upstream, "127.0.0.1", 0)) as url:
            yield url
    return factory


@pytest.mark.parametrize("kind", ["request", "token"])
def test_rest_ambiguous_path_refused_by_the_authorizer_then_by_its_cached_policy(
        real_gateway, signing_key, kind):
    # As API Gateway does (no 400 of its own): the path reaches the authorizer.
    real = Counting(signing_key, "iam")
    token = _token(signing_key, "entries:read")
    with real_gateway(real, event_kind=kind, strict_paths=False) as url:
        # Cache cold: the authorizer refuses the path itself (401, nothing cached).
        assert _raw(url, "GET", "/entries/1%2Faudit", token)[0] == 401
        assert real.reasons() == ["ambiguous_path"]
        # A plain request fills the cache with the token's policy...
        assert _raw(url, "GET", "/entries/1", token)[0] == 200
        calls = len(real.events)
        # ...which API Gateway evaluates against every later method ARN on its own: it
        # denies every encoded form and "//", and the deeper route the scope does not
        # grant. (Raw "\\" and dot-segments are refused by the authorizer only: see
        # authorizer/responses.py.)
        raw_forms = {"/entries/1\\audit", "/entries/..", "/entries/."}
        for path in [*(p for p in AMBIGUOUS_PATHS if p not in raw_forms), "/entries/1/audit"]:
            assert _raw(url, "GET", path, token)[0] == 403, path
        assert len(real.events) == calls


def test_http_ambiguous_path_refused_by_the_authorizer(real_gateway, signing_key):
    real = Counting(signing_key, "simple")
    token = _token(signing_key, "entries:read")
    with real_gateway(real, ttl=0, event_kind="http", strict_paths=False,
                      routes=("GET /entries/{id}", "GET /entries/{id}/audit")) as url:
        # Refused by an "Unauthorized" raise (401), simple responses or not.
        assert _raw(url, "GET", "/entries/1%2Faudit", token)[0] == 401
        assert _raw(url, "GET", "/entries/1", token)[0] == 200
    # The event carried the decoded path under the route key chosen on the raw one.
    event = real.events[0]
    assert (event["routeKey"], event["rawPath"]) == ("GET /entries/{id}", "/entries/1/audit")
    assert real.reasons() == ["ambiguous_path", "granted"]


# -- HTTP API authorizer cache: simple responses under ANY and greedy routes (item 10) --

def _http(real_gateway, real, routes, ttl=300, **options):
    return real_gateway(real, ttl=ttl, event_kind="http", routes=routes,
                        simple=real.authorizer._simple, **options)


def test_simple_response_under_any_is_replayed_from_get_to_delete(real_gateway, signing_key,
                                                                   upstream):
    # The hazard, reproduced: API Gateway keys the cache by (Authorization, route key) and
    # the route key of `ANY /orders/{id}` is that template for every method and id.
    real = Counting(signing_key, "simple")
    token = _token(signing_key, "orders:read")  # may GET an order, not DELETE it
    with _http(real_gateway, real, ("ANY /orders/{id}",)) as url:
        assert _raw(url, "GET", "/orders/1", token)[0] == 200
        status, body = _raw(url, "DELETE", "/orders/2", token)
    assert (status, body["method"], body["path"]) == (200, "DELETE", "/orders/2")
    assert len(real.events) == 1  # the GET's "yes", replayed
    assert real.events[0]["identitySource"] == ["Bearer " + token, "ANY /orders/{id}"]


def test_iam_response_under_any_is_decided_per_method_from_the_cache(real_gateway,
                                                                     signing_key):
    real = Counting(signing_key, "iam")
    token = _token(signing_key, "orders:read")
    with _http(real_gateway, real, ("ANY /orders/{id}",)) as url:
        assert _raw(url, "GET", "/orders/1", token)[0] == 200
        assert _raw(url, "DELETE", "/orders/2", token) == (403, {"message": "Forbidden"})
        assert _raw(url, "GET", "/orders/2", token)[0] == 200
    assert len(real.events) == 1  # still cached: the policy is evaluated per route ARN


def test_simple_response_with_ttl_zero_under_any_is_decided_per_request(real_gateway,
                                                                        signing_key):
    real = Counting(signing_key, "simple")
    token = _token(signing_key, "orders:read")
    with _http(real_gateway, real, ("ANY /orders/{id}",), ttl=0) as url:
        assert _raw(url, "GET", "/orders/1", token)[0] == 200
        assert _raw(url, "DELETE", "/orders/2", token) == (403, {"message": "Forbidden"})
    assert len(real.events) == 2


def test_simple_response_on_one_method_routes_is_kept_per_route(real_gateway, signing_key):
    real = Counting(signing_key, "simple")
    token = _token(signing_key, "orders:read")
    with _http(real_gateway, real, ("GET /orders/{id}", "DELETE /orders/{id}")) as url:
        assert _raw(url, "GET", "/orders/1", token)[0] == 200
        assert _raw(url, "DELETE", "/orders/1", token)[0] == 403
        assert _raw(url, "GET", "/orders/2", token)[0] == 200
    assert len(real.events) == 2


def test_simple_response_under_a_greedy_route_is_replayed_onto_deeper_paths(real_gateway,
                                                                            signing_key):
    token = _token(signing_key, "orders:read")  # not /orders/{id}/lines (orders:admin)
    real = Counting(signing_key, "simple")
    with _http(real_gateway, real, ("ANY /{proxy+}",)) as url:
        assert _raw(url, "GET", "/orders/1", token)[0] == 200
        assert _raw(url, "GET", "/orders/1/lines", token)[0] == 200  # the hazard
    assert [e["routeKey"] for e in real.events] == ["ANY /{proxy+}"]
    real = Counting(signing_key, "iam")
    with _http(real_gateway, real, ("ANY /{proxy+}",)) as url:
        assert _raw(url, "GET", "/orders/1", token)[0] == 200
        assert _raw(url, "GET", "/orders/1/lines", token)[0] == 403  # the fix
    assert len(real.events) == 1


def test_simple_response_under_a_path_variable_is_replayed_onto_an_encoded_slash(
        real_gateway, signing_key):
    # Even a one-method route is not safe with a cached simple response when the policy
    # has a deeper route: the route is selected on the path as sent, so
    # /entries/1%2Faudit is `GET /entries/{id}` and gets that key's cached "yes", while
    # the service decodes it to /entries/1/audit. (Without --allow-ambiguous-paths the
    # stand-in answers 400 first; API Gateway has no such check.)
    token = _token(signing_key, "entries:read")
    routes = ("GET /entries/{id}", "GET /entries/{id}/audit")
    real = Counting(signing_key, "simple")
    with _http(real_gateway, real, routes, strict_paths=False) as url:
        assert _raw(url, "GET", "/entries/1", token)[0] == 200
        status, body = _raw(url, "GET", "/entries/1%2Faudit", token)
    assert (status, body["path"]) == (200, "/entries/1/audit")  # the hazard
    real = Counting(signing_key, "iam")
    with _http(real_gateway, real, routes, strict_paths=False) as url:
        assert _raw(url, "GET", "/entries/1", token)[0] == 200
        assert _raw(url, "GET", "/entries/1%2Faudit", token)[0] == 403  # the fix
    assert len(real.events) == 1


def test_without_the_route_key_one_cached_answer_serves_every_route(real_gateway,
                                                                    signing_key):
    # "By default, API Gateway uses the cached authorizer response for all routes of an
    # API that use the authorizer" (http-api-lambda-authorizer.html).
    real = Counting(signing_key, "simple")
    token = _token(signing_key, "orders:read")
    with _http(real_gateway, real, ("GET /orders/{id}", "DELETE /orders/{id}"),
               identity_sources=("$request.header.Authorization",)) as url:
        assert _raw(url, "GET", "/orders/1", token)[0] == 200
        assert _raw(url, "DELETE", "/orders/1", token)[0] == 200  # replayed
    assert len(real.events) == 1


def test_http_api_route_miss_is_404_and_missing_identity_is_401(real_gateway, signing_key):
    real = Counting(signing_key, "simple")
    with _http(real_gateway, real, ("GET /orders/{id}",)) as url:
        assert _raw(url, "GET", "/other", _token(signing_key, "orders:read")) == (
            404, {"message": "Not Found"})
        assert _raw(url, "GET", "/orders/1") == (401, {"message": "Unauthorized"})
    assert real.events == []


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("GET", "/pets/dog/1", "GET /pets/dog/1"),
    ("GET", "/pets/dog/2", "GET /pets/dog/{id}"),
    ("GET", "/pets/cat/1", "GET /pets/{proxy+}"),
    ("POST", "/pets/dog/1", "ANY /{proxy+}"),
    ("DELETE", "/pets/dog/1", "DELETE /pets/{kind}/{id}"),
    ("GET", "/", "$default"),
    ("GET", "/pets/dog%2F1", "GET /pets/{proxy+}"),  # matched as sent: one segment
])
def test_route_selection_prefers_the_most_specific_route(method, path, expected):
    keys = ["$default", "ANY /{proxy+}", "GET /pets/{proxy+}", "GET /pets/dog/{id}",
            "GET /pets/dog/1", "DELETE /pets/{kind}/{id}"]
    routes = tuple(sorted((gw.HttpRoute.parse(k) for k in keys), key=gw.HttpRoute.rank))
    assert gw.select_route(routes, method, path) == expected


@pytest.mark.parametrize("key", ["GET", "get /x", "GET x", "GET /{proxy+}/x", "GET /a//b"])
def test_bad_route_keys_are_refused(key):
    with pytest.raises(ValueError, match="route"):
        gw.HttpRoute.parse(key)


def test_gateway_cli_takes_the_http_api_options():
    args = gw.parse_args(["--upstream", "http://127.0.0.1:1", "--event", "http",
                          "--response", "iam", "--route", "ANY /orders/{id}",
                          "--route", "$default", "--allow-ambiguous-paths"])
    assert (args.event, args.response, args.routes, args.allow_ambiguous_paths) == (
        "http", "iam", ["ANY /orders/{id}", "$default"], True)
    assert args.identity_sources is None  # the default: Authorization and $context.routeKey
