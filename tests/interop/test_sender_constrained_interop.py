"""Sender-constrained tokens end to end, with clients this project did not write.

Real processes on loopback: `issuer serve`, and `authorizer gateway` in front of it and of
an API, terminating TLS with client-certificate verification (the local stand-in for an
API Gateway custom domain with mutual TLS) and passing the certificate to the issuer in
the header ALB's verify mode uses (`X-Amzn-Mtls-Clientcert-Leaf`), which the issuer
believes from 127.0.0.1 only (ISSUER_TRUSTED_PROXIES, ISSUER_CLIENT_CERT_HEADER). The
issuer's URL is the gateway's, as a client sees it, so a DPoP proof's `htu` for the
token endpoint is what the client called.

- DPoP (RFC 9449): openid-client 6 (Node; DPoP through oauth4webapi), installed with
  `npm ci` from tests/interop/node/package-lock.json, discovers the issuer, gets a
  DPoP-bound token and calls GET /orders/1 through the gateway with a fresh proof; the
  same token without a proof, under the Bearer scheme, or with the proof it saw on the
  wire (a replay) is refused. Python's Authlib (1.9.10, the locked version) implements
  no DPoP client, so no Python client of another project is run here.
- mTLS (RFC 8705): curl --cert gets a certificate-bound token (client_secret_basic, and
  tls_client_auth by the certificate alone) and calls the API with it; the same token
  with another certificate of the same CA, or none, is refused.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers.client_certs import make_cert
from helpers.procs import REPO, free_port, running, tail, wait_http

from issuer.keys.kek import new_kek_text
from shared.jwk import thumbprint
from shared.jws import parse_compact

pytestmark = pytest.mark.slow

NODE_DIR = Path(__file__).parent / "node"
ORDERS = "https://api.example.test/orders"
POLICY = f"""
[apis.orders]
audience = "{ORDERS}"

[apis.orders.scopes]
"orders:read" = "Read orders"

[[apis.orders.routes]]
method = "GET"
path = "/orders/{{id}}"
scopes = ["orders:read"]
"""
CURL = shutil.which("curl")


class Api(BaseHTTPRequestHandler):
    """The protected API: answers with the authorizer context the gateway passed."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        context = {k.lower(): v for k, v in self.headers.items()
                   if k.lower().startswith("x-authorizer-")}
        data = json.dumps({"path": self.path, "context": context}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


class Stack:
    def __init__(self, base: str, env: dict[str, str], pki: dict, files: dict) -> None:
        self.base = base  # https://127.0.0.1:PORT, the gateway: issuer and API
        self.env = env  # the issuer's settings, for its CLI
        self.pki = pki
        self.files = files

    def client(self, *args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "issuer.cli", "clients", "create", "--name", "interop",
             "--scope", "orders:read", "--json", *args],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def _wait_tls(url: str, ca: str, proc, log: Path, timeout: float = 30.0) -> None:
    context = ssl.create_default_context(cafile=ca)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, tail(log)
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} not ready:\n{tail(log)}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("interop")
    ca = make_cert("Interop Test CA", ca=True)
    pki = {
        "ca": ca,
        "server": make_cert("127.0.0.1", issuer=ca, server=True),
        "client-1": make_cert("client-1", issuer=ca),
        "client-2": make_cert("client-2", issuer=ca),
    }
    files = {name: cert.write(tmp, name) for name, cert in pki.items()}
    (tmp / "policy.toml").write_text(POLICY)

    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    api.daemon_threads = True
    threading.Thread(target=api.serve_forever, args=(0.05,), daemon=True).start()

    issuer_port, gateway_port = free_port(), free_port()
    base = f"https://127.0.0.1:{gateway_port}"
    issuer_env = {
        "ISSUER_URL": base,
        "ISSUER_DATABASE_URL": f"sqlite:///{tmp}/issuer.db",
        "ISSUER_KEY_ENCRYPTION_KEY": new_kek_text(),
        "POLICY_FILE": str(tmp / "policy.toml"),
        "ISSUER_TRUSTED_PROXIES": "127.0.0.1",
        "ISSUER_CLIENT_CERT_HEADER": "X-Amzn-Mtls-Clientcert-Leaf",
        "ISSUER_ENV": "development",
    }
    issuer_log, gateway_log = tmp / "issuer.log", tmp / "gateway.log"
    issuer_argv = [sys.executable, "-m", "issuer.cli", "serve", "--port", str(issuer_port)]
    upstream = f"http://127.0.0.1:{issuer_port}"
    gateway_argv = [
        sys.executable, "-m", "authorizer.cli", "gateway",
        "--upstream", f"http://127.0.0.1:{api.server_address[1]}",
        "--issuer-upstream", upstream, "--port", str(gateway_port),
        "--tls-cert", files["server"][0], "--tls-key", files["server"][1],
        "--client-ca", files["ca"][0],
        "--event", "http", "--route", "GET /orders/{id}", "--cache-ttl", "0",
    ]
    gateway_env = {
        "AUTHORIZER_ISSUER": base,
        "AUTHORIZER_AUDIENCE": ORDERS,
        "AUTHORIZER_JWKS_URI": upstream + "/.well-known/jwks.json",
        "AUTHORIZER_REVOCATION_URI": upstream + "/.well-known/revocations.jwt",
        "AUTHORIZER_PUBLIC_URL": base,  # the htu of proofs for the API
        "POLICY_FILE": str(tmp / "policy.toml"),
    }
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ISSUER_", "AUTHORIZER_"))}
    with running(issuer_argv, env={**env, **issuer_env}, cwd=tmp, log=issuer_log) as issuer:
        wait_http(upstream + "/healthz", proc=issuer, log=issuer_log,
                  ok=lambda status: status == 200)
        with running(gateway_argv, env={**env, **gateway_env}, log=gateway_log) as gateway:
            _wait_tls(base + "/.well-known/oauth-authorization-server", files["ca"][0],
                      gateway, gateway_log)
            yield Stack(base, {**env, **issuer_env}, pki, files)
    api.shutdown()
    api.server_close()


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm not installed: the openid-client interop cannot run")
    if not (NODE_DIR / "node_modules" / "openid-client" / "package.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       capture_output=True, timeout=300)
    return NODE_DIR


def test_openid_client_gets_a_dpop_token_and_calls_the_api(stack, node_modules):
    registered = stack.client("--token-binding", "dpop")
    env = {
        **stack.env,
        "ISSUER": stack.base,
        "API_URL": stack.base,
        "CLIENT_ID": registered["client_id"],
        "CLIENT_SECRET": registered["client_secret"],
        "NODE_EXTRA_CA_CERTS": stack.files["ca"][0],
    }
    done = subprocess.run(["node", "dpop_client.mjs"], cwd=node_modules, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])

    # The issuer answered DPoP (RFC 9449 §5), bound to the key openid-client proved.
    assert result["token_type"].lower() == "dpop"
    proof_header = result["token_request_proof"]
    head = proof_header.split(".")[0]
    jwk = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["jwk"]
    assert parse_compact(result["token"]).claims["cnf"] == {"jkt": thumbprint(jwk)}
    # The API was reached with a proof, through the authorizer's binding check.
    assert result["api_authorization_scheme"] == "DPoP"
    assert result["api_status"] == 200, result
    assert result["api_body"]["context"]["x-authorizer-cnf-kind"] == "jkt"
    # A thief holding the token: refused without a proof, as a bearer token, and with
    # the proof it copied from the wire (HTTP API: 403 from the authorizer's Deny).
    assert result["no_proof_status"] == 403
    assert result["bearer_status"] == 403
    assert result["replay_status"] == 403


def _curl(stack: Stack, method: str, path: str, cert: str | None, *args: str):
    argv = [CURL, "-sS", "--max-time", "20", "--cacert", stack.files["ca"][0], "-X", method,
            "-o", "-", "-w", "\n%{http_code}", *args]
    if cert is not None:
        argv += ["--cert", stack.files[cert][0], "--key", stack.files[cert][1]]
    done = subprocess.run([*argv, stack.base + path], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_certificate_bound_token_with_curl(stack):
    registered = stack.client("--token-binding", "mtls")
    basic = f"{registered['client_id']}:{registered['client_secret']}"
    form = ("-d", "grant_type=client_credentials")
    # Without a certificate: refused (RFC 8705 §3.4: the issuer's choice; an error).
    status, body = _curl(stack, "POST", "/oauth2/token", None, "-u", basic, *form)
    assert status == 400 and json.loads(body)["error"] == "invalid_request", body
    status, body = _curl(stack, "POST", "/oauth2/token", "client-1", "-u", basic, *form)
    assert status == 200, body
    answer = json.loads(body)
    assert answer["token_type"] == "Bearer"
    token = answer["access_token"]
    expected = stack.pki["client-1"].thumbprint
    assert parse_compact(token).claims["cnf"] == {"x5t#S256": expected}

    bearer = ("-H", f"Authorization: Bearer {token}")
    status, body = _curl(stack, "GET", "/orders/1", "client-1", *bearer)
    assert status == 200, body
    context = json.loads(body)["context"]
    assert context["x-authorizer-cnf-kind"] == "x5t#S256"
    assert context["x-authorizer-cnf-thumbprint"] == expected
    # The same token from another certificate of the same CA, or with none: refused.
    assert _curl(stack, "GET", "/orders/1", "client-2", *bearer)[0] == 403
    assert _curl(stack, "GET", "/orders/1", None, *bearer)[0] == 403


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_tls_client_auth_with_curl(stack):
    """RFC 8705 §2.1: no secret; the certificate the gateway verified is the credential."""
    subject = stack.pki["client-1"].subject
    registered = stack.client("--auth-method", "tls_client_auth", "--token-binding", "mtls",
                              "--tls-client-auth-subject-dn", subject)
    assert "client_secret" not in registered
    form = ("-d", "grant_type=client_credentials", "-d", f"client_id={registered['client_id']}")
    status, body = _curl(stack, "POST", "/oauth2/token", "client-1", *form)
    assert status == 200, body
    token = json.loads(body)["access_token"]
    assert parse_compact(token).claims["sub"] == registered["client_id"]
    status, body = _curl(stack, "POST", "/oauth2/token", "client-2", *form)
    assert status == 401 and json.loads(body)["error"] == "invalid_client", body
    assert _curl(stack, "GET", "/orders/1", "client-1",
                 "-H", f"Authorization: Bearer {token}")[0] == 200
