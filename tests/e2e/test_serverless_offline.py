"""serverless.yml end to end under serverless-offline (stage `offline`), no AWS at all.

The real issuer (uvicorn, SQLite) mints tokens; deploy/bundle_jwks.py writes the JWKS
file the authorizer function reads, as at deploy time; serverless-offline runs the
authorizer, the example protected function and the issuer Lambda (Mangum) from
serverless.yml. Then 200 / 403 / 401 through the REST API (TOKEN authorizer) and the
HTTP API (request authorizer, simple responses).
"""

from __future__ import annotations

import json
import subprocess
import sys
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
               "AUTHORIZER_JWKS_FILE": str(jwks), "AUTHORIZER_AUDIENCE": AUDIENCE}
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


def test_http_api_refused_token_is_not_let_through(stack):
    # On AWS a simple-response authorizer that raises is never a 2xx; serverless-offline
    # maps the offline wrapper's {"isAuthorized": false} to 403.
    status, _ = _call(stack, "GET", "/orders", "not.a.token")
    assert status in (401, 403)


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


_tokens: dict[str, str] = {}


def _token_for(stack: Stack, who: str | None) -> str | None:
    if who is None:
        return None
    if who == "forged":
        return "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
    if who not in _tokens:
        _tokens[who] = stack.token(getattr(stack, who))
    return _tokens[who]
