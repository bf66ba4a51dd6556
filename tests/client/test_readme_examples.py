"""The README's machine-client examples run as written: Python (this library), Node
(openid-client, installed from tests/client/node/package-lock.json with `npm ci`) and
curl, against the issuer served over TLS by uvicorn (a test CA the runtimes are told to
trust through their usual variables: SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, CURL_CA_BUNDLE)
and an API that verifies the tokens with the issuer's published keys. Each example makes
three API calls and the issuer must see one token request. The Go example is not run:
no Go toolchain here."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from helpers.client_certs import make_cert
from helpers.issuer_env import make_issuer
from helpers.issuer_server import serve

from issuer.settings import DEFAULT_POLICY_FILE

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"
ORDERS = "https://api.example.com/orders"  # the example policy's orders API


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Machine clients")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def example(language: str, containing: str = "") -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", readme_section(), flags=re.S)
    matching = [b for b in blocks if containing in b]
    assert len(matching) == 1, f"one README {language} example containing {containing!r}"
    return matching[0]


# -- TLS ---------------------------------------------------------------------------------


def write_test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a CA and a server certificate for 127.0.0.1."""
    ca = make_cert("tollgate test CA", ca=True)
    server = make_cert("127.0.0.1", issuer=ca, server=True)
    cert, key = server.write(directory, "server")
    return Path(ca.write(directory, "ca")[0]), Path(cert), Path(key)


@pytest.fixture(scope="module")
def tls_issuer(databases, tmp_path_factory, counting_app):
    """(issuer URL, counter, CA file, client maker) for the issuer over https."""
    ca, cert, key = write_test_ca(tmp_path_factory.mktemp("tls"))
    prepared = make_issuer(databases.new_url("sqlite"), Path(DEFAULT_POLICY_FILE))
    state = {}

    def app_for(url: str):
        state["counter"] = counting_app(prepared.app_at(url))
        return state["counter"]

    def new_client() -> tuple[str, str]:
        new = prepared.client(["orders:read"], name="readme example")
        return new.client.client_id, new.client_secret

    with serve(app_for, cert, key) as url:
        yield url, state["counter"], ca, new_client
    prepared.services.engine.dispose()


@pytest.fixture(scope="module")
def verifying_api(tls_issuer):
    """GET /orders/{id}: 200 with the caller's client_id for a token the issuer signed
    for the orders API, else 401 invalid_token."""
    issuer_url, _, ca, _ = tls_issuer
    keys = jwt.PyJWKSet.from_dict(
        httpx.get(issuer_url + "/.well-known/jwks.json",
                  verify=ssl.create_default_context(cafile=str(ca))).json()
    )
    app = FastAPI()

    @app.get("/orders/{order}")
    def orders(order: int, request: Request) -> Response:
        _, _, token = request.headers.get("authorization", "").partition("Bearer ")
        try:
            key = keys[jwt.get_unverified_header(token)["kid"]]
            claims = jwt.decode(token, key.key, algorithms=["RS256", "PS256", "ES256", "EdDSA"],
                                audience=ORDERS, issuer=issuer_url)
        except (jwt.PyJWTError, KeyError):
            return Response(status_code=401,
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return JSONResponse({"order": order, "client_id": claims["client_id"]})

    with serve(lambda url: app) as url:
        yield url


def run_example(argv: list[str], tls_issuer, api_url: str, cwd: Path, **env: str):
    issuer_url, counter, _, new_client = tls_issuer
    client_id, secret = new_client()
    counter.reset()
    environ = {
        **os.environ,
        "TOLLGATE_ISSUER": issuer_url,
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": secret,
        "API_URL": api_url,
        **env,
    }
    done = subprocess.run(argv, capture_output=True, text=True, env=environ, cwd=cwd,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, client_id, counter


def test_python_example(tls_issuer, verifying_api, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(example("python", "TokenSource"))
    out, client_id, counter = run_example([sys.executable, str(script)], tls_issuer,
                                          verifying_api, tmp_path,
                                          SSL_CERT_FILE=str(tls_issuer[2]))
    lines = out.splitlines()
    assert lines == [str({"order": n, "client_id": client_id}) for n in (1, 2, 3)]
    assert counter.token_requests == 1


@pytest.fixture(scope="module")
def node_modules():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm not installed: the Node example cannot run")
    installed = NODE_DIR / "node_modules" / "openid-client" / "package.json"
    if not installed.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    assert json.loads(installed.read_text())["version"] == "6.9.0"
    return NODE_DIR


def test_node_example(tls_issuer, verifying_api, node_modules):
    # In the package's folder so that `import "openid-client"` finds its node_modules.
    script = node_modules / f".readme-example-{os.getpid()}.mjs"
    script.write_text(example("js", "openid-client"))
    try:
        out, client_id, counter = run_example(
            ["node", script.name], tls_issuer, verifying_api, node_modules,
            NODE_EXTRA_CA_CERTS=str(tls_issuer[2]),
        )
    finally:
        script.unlink()
    assert json.loads(out) == [{"order": n, "client_id": client_id} for n in (1, 2, 3)]
    assert counter.token_requests == 1  # concurrent callers shared one request


def test_curl_example(tls_issuer, verifying_api, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    out, client_id, counter = run_example(
        ["bash", "-euo", "pipefail", "-c", example("sh", "curl")], tls_issuer, verifying_api,
        tmp_path, CURL_CA_BUNDLE=str(tls_issuer[2]),
    )
    assert [json.loads(line) for line in out.splitlines()] == [
        {"order": n, "client_id": client_id} for n in (1, 2, 3)
    ]
    assert counter.token_requests == 1


def test_go_example_is_there_but_not_run():
    """Only that the README keeps a Go example with the settings the others use."""
    go = example("go", "clientcredentials")
    for needle in ('"golang.org/x/oauth2/clientcredentials"', "AuthStyleInHeader",
                   '"audience": {"https://api.example.com/orders"}', '"orders:read"'):
        assert needle in go
