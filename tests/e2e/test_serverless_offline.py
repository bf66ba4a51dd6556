"""serverless.yml end to end under serverless-offline (stage `offline`), no AWS at all.

The real issuer (uvicorn, SQLite) mints tokens; deploy/bundle_jwks.py writes the JWKS
file the authorizer function reads, as at deploy time; serverless-offline runs the
authorizer, the example protected function and the issuer Lambda (Mangum) from
serverless.yml. Then 200 / 403 / 401 through the REST API (TOKEN authorizer) and the
HTTP API (request authorizer, IAM responses: `AUTHORIZER_RESPONSE=iam`, docs/caching.md),
exactly as API Gateway documents them: REST, a raised "Unauthorized" is 401; HTTP API, a
refused token is a Deny policy, 403; both, a valid token on a route its scopes do not
grant is a policy that does not allow it, 403, and no Authorization header is 401
without calling the authorizer. The offline stage runs the
production handler `authorizer.handler.handler` itself (serverless-offline's Python
runner is patched to return an exception as Lambda does: deploy/patch_serverless_offline.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.procs import REPO, free_port, start, stop, tail, wait_http
from helpers.procs import http as request

pytestmark = [pytest.mark.serverless, pytest.mark.slow]

AUDIENCE = "https://api.example.com/orders"
STAGE = "offline"


@dataclass
class Stack:
    issuer: str
    offline: str
    tmp: Path
    reader: dict
    writer: dict
    issuer_env: dict

    def token(self, client: dict, token_url: str | None = None) -> str:
        status, _, body = request(
            "POST", token_url or f"{self.issuer}/oauth2/token",
            data=f"grant_type=client_credentials&client_id={client['client_id']}"
                 f"&client_secret={client['client_secret']}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 200, body
        return json.loads(body)["access_token"]


def _issuer_cli(env: dict, *args: str) -> str:
    issuer = str(Path(sys.executable).with_name("issuer"))
    done = subprocess.run([issuer, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def stack(offline_env, tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("offline")
    issuer_port, http_port, lambda_port = free_port(), free_port(), free_port()
    issuer_url = f"http://127.0.0.1:{issuer_port}"
    issuer_env = offline_env(
        ISSUER_URL=issuer_url, ISSUER_DATABASE_URL=f"sqlite:///{tmp / 'issuer.db'}",
        ISSUER_KEK_FILE=str(tmp / "kek"),
        POLICY_FILE=str(REPO / "shared" / "example_policy.toml"),
    )
    procs = []
    try:
        log = tmp / "issuer.log"
        procs.append(start([str(Path(sys.executable).with_name("issuer")), "serve",
                            "--port", str(issuer_port)], env=issuer_env, log=log))
        wait_http(f"{issuer_url}/healthz", proc=procs[-1], log=log, timeout=60,
                  ok=lambda s: s == 200)
        reader = json.loads(_issuer_cli(issuer_env, "clients", "create", "--name", "reader",
                                        "--scope", "orders:read", "--json"))
        writer = json.loads(_issuer_cli(issuer_env, "clients", "create", "--name", "writer",
                                        "--scope", "orders:read orders:write", "--json"))
        # What happens before `serverless deploy`: the keys bundled with the authorizer.
        jwks = tmp / "jwks.json"
        done = subprocess.run([sys.executable, "-m", "deploy.bundle_jwks", "--from-url",
                               issuer_url, "--out", str(jwks)], cwd=REPO, env=issuer_env,
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr

        log = tmp / "offline.log"
        env = {**issuer_env, "TOLLGATE_ISSUER_URL": issuer_url,
               "AUTHORIZER_JWKS_FILE": str(jwks), "AUTHORIZER_AUDIENCE": AUDIENCE,
               # The revocation list refetched every second (default 30 s).
               "AUTHORIZER_REVOCATION_TTL": "1"}
        procs.append(start(
            [str(REPO / "node_modules/.bin/osls"), "offline", "start", "--stage", STAGE,
             "--host", "127.0.0.1", "--httpPort", str(http_port),
             "--lambdaPort", str(lambda_port)],
            env=env, log=log,
        ))
        offline = f"http://127.0.0.1:{http_port}"
        # Up when the REST route answers 401 to a request without a token.
        wait_http(f"{offline}/{STAGE}/orders", proc=procs[-1], log=log, timeout=120,
                  ok=lambda s: s == 401)
        yield Stack(issuer_url, offline, tmp, reader, writer, issuer_env)
    finally:
        for proc in reversed(procs):
            stop(proc)
        print(tail(tmp / "offline.log", 60))


def _call(stack: Stack, method: str, path: str, token: str | None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    status, _, body = request(method, stack.offline + path, headers=headers,
                              data=b"{}" if method == "POST" else None, timeout=30)
    return status, json.loads(body or b"null")


# (method, path, who, status): REST routes live under /<stage>, HTTP API routes at /.
CASES = [
    ("GET", "/orders", "reader", 200),
    ("GET", "/orders/42", "reader", 200),
    ("POST", "/orders", "reader", 403),     # orders:write missing
    ("POST", "/orders", "writer", 200),
    ("GET", "/orders", None, 401),          # no token: the authorizer is not called
]
REST_ONLY = [("GET", "/orders", "forged", 401)]  # a refused token: raise "Unauthorized"


@pytest.mark.parametrize(("method", "path", "who", "expected"), CASES + REST_ONLY,
                         ids=lambda v: str(v))
def test_rest_api_token_authorizer(stack, method, path, who, expected):
    token = _token_for(stack, who)
    status, body = _call(stack, method, f"/{STAGE}{path}", token)
    assert status == expected, body
    if expected == 200:
        assert body["authorizer"]["client_id"] == getattr(stack, who)["client_id"]
        assert body["path"] == path


@pytest.mark.parametrize(("method", "path", "who", "expected"), CASES, ids=lambda v: str(v))
def test_http_api_request_authorizer(stack, method, path, who, expected):
    status, body = _call(stack, method, path, _token_for(stack, who))
    assert status == expected, body
    if expected == 200:
        assert body["authorizer"]["client_id"] == getattr(stack, who)["client_id"]
        assert body["authorizer"]["aud"] == AUDIENCE


def test_http_api_refused_token_is_403(stack):
    # The handler answers a Deny policy for the whole API (never a raise, whose status
    # is not documented for HTTP APIs), which API Gateway answers 403.
    assert _call(stack, "GET", "/orders", "not.a.token")[0] == 403
    assert _call(stack, "GET", "/orders", _token_for(stack, "forged"))[0] == 403


def test_rest_refused_token_is_401_and_the_handler_keeps_serving(stack):
    # A raise ends no runner: the next valid token is served at once.
    assert _call(stack, "GET", f"/{STAGE}/orders", "not.a.token")[0] == 401
    assert _call(stack, "GET", f"/{STAGE}/orders", _token_for(stack, "reader"))[0] == 200


def _revoke(stack: Stack, client: dict, token: str) -> None:
    status, _, body = request(
        "POST", f"{stack.issuer}/oauth2/revoke",
        data=f"token={token}&client_id={client['client_id']}"
             f"&client_secret={client['client_secret']}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, body


def test_revoked_token_is_refused_through_both_apis(stack):
    # A token never presented before (no authorizer or token cache holds it), revoked at
    # the issuer: the authorizer's next revocation-list fetch refuses it.
    token = stack.token(stack.reader)
    _revoke(stack, stack.reader, token)
    deadline = time.monotonic() + 20
    statuses = None
    while time.monotonic() < deadline:
        statuses = (_call(stack, "GET", f"/{STAGE}/orders", token)[0],
                    _call(stack, "GET", "/orders", token)[0])
        if statuses == (401, 403):
            break
        time.sleep(1)
    assert statuses == (401, 403)
    # The client's other tokens still work.
    assert _call(stack, "GET", "/orders", stack.token(stack.reader))[0] == 200


def test_issuer_lambda_serves_the_same_keys_and_mints_usable_tokens(stack):
    status, _, body = request("GET", f"{stack.offline}/.well-known/jwks.json", timeout=60)
    assert status == 200
    bundled = json.loads((stack.tmp / "jwks.json").read_text())
    assert {k["kid"] for k in json.loads(body)["keys"]} == {k["kid"] for k in bundled["keys"]}
    # A token from the issuer running as a Lambda (Mangum) works through the authorizer.
    token = stack.token(stack.reader, f"{stack.offline}/oauth2/token")
    assert _call(stack, "GET", f"/{STAGE}/orders/7", token)[0] == 200
    status, _, body = request("GET", f"{stack.offline}/healthz", timeout=30)
    assert status == 200, body


def _emf_lines(stack: Stack) -> list[dict]:
    """The embedded-metric documents serverless-offline's functions wrote to stdout, as
    CloudWatch Logs would find them (one JSON object per line, `_aws` at the root)."""
    out = []
    for line in (stack.tmp / "offline.log").read_text(errors="replace").splitlines():
        start = line.find("{")
        if start < 0 or '"_aws"' not in line:
            continue
        try:
            doc = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            out.append(doc)
    return out


def _dimension_values(docs: list[dict], metric: str) -> set[tuple[tuple[str, str], ...]]:
    values = set()
    for doc in docs:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == f"Tollgate/{STAGE}"
            if any(m["Name"] == metric for m in directive["Metrics"]):
                assert doc[metric] == 1
                for dims in directive["Dimensions"]:
                    values.add(tuple((d, doc[d]) for d in dims))
    return values


def test_both_halves_write_embedded_metrics_offline_as_on_aws(stack):
    # The issuer Lambda (Mangum) mints a token: tokens_issued under its client. The
    # authorizer decides: decisions by reason and by (client, decision); a forged token
    # counts under (unknown), never under the client id it claims.
    token = stack.token(stack.writer, f"{stack.offline}/oauth2/token")
    assert _call(stack, "GET", f"/{STAGE}/orders", token)[0] == 200
    assert _call(stack, "GET", "/orders", _token_for(stack, "forged"))[0] == 403
    writer = stack.writer["client_id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        docs = _emf_lines(stack)
        issued = _dimension_values(docs, "tokens_issued")
        decided = _dimension_values(docs, "decisions")
        if (("client", writer),) in issued and (("client", "(unknown)"),
                                                ("decision", "unauthorized")) in decided:
            break
        time.sleep(0.5)
    assert (("client", writer),) in issued
    assert (("client", writer), ("decision", "allow")) in decided
    assert (("reason", "granted"),) in decided
    assert (("client", "(unknown)"), ("decision", "unauthorized")) in decided
    clients = {dict(d)["client"] for d in decided if "client" in dict(d)}
    known = {stack.reader["client_id"], stack.writer["client_id"]}
    assert clients <= known | {"(unknown)"}


_tokens: dict[str, str] = {}


def _token_for(stack: Stack, who: str | None) -> str | None:
    if who is None:
        return None
    if who == "forged":
        return "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
    if who not in _tokens:
        _tokens[who] = stack.token(getattr(stack, who))
    return _tokens[who]
