"""The client library's sender-constrained tokens through the local stand-in for API
Gateway: `issuer serve` behind `authorizer gateway`, which terminates TLS with client
certificate verification (`--tls-cert/--tls-key/--client-ca`), passes the verified
certificate to the issuer in ALB's verify-mode header (`--issuer-upstream`) and to the
authorizer as API Gateway does, and forwards `DPoP` headers. The certificates are made
here with cryptography (tests/helpers/client_certs.py).

- DPoP (RFC 9449): TokenSource(dpop=True) gets a DPoP-bound token and calls GET
  /orders/1 with RequestsAuth and HttpxAuth (200); the same token without a proof, as a
  bearer token, or with the proof it was sent with (a replay) is refused: 403, the HTTP
  API authorizer's Deny.
- mTLS (RFC 8705): TokenSource(client_cert=...) gets a certificate-bound token and calls
  the API with `cert=` the same certificate (200); from another certificate of the same
  CA: 403. tls_client_auth: the certificate alone authenticates the client.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
import requests
from helpers.client_certs import make_cert
from helpers.procs import REPO, free_port, running, tail, wait_http
from tollgate_client import (
    HttpxAuth,
    RequestsAuth,
    TokenError,
    TokenSource,
    httpx_client,
    requests_session,
)

from issuer.keys.kek import new_kek_text

pytestmark = pytest.mark.slow

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
    def __init__(self, base, env, pki, files) -> None:
        self.base = base
        self.env = env
        self.pki = pki
        self.files = files

    @property
    def ca(self) -> str:
        return self.files["ca"][0]

    def client(self, *args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "issuer.cli", "clients", "create", "--name", "library",
             "--scope", "orders:read", "--json", *args],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def _wait_tls(url, ca, proc, log, timeout=30.0) -> None:
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
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client-gateway")
    ca = make_cert("Client Library Test CA", ca=True)
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
        "ISSUER_URL": base,  # what clients call: the htu of token-endpoint proofs
        "ISSUER_DATABASE_URL": f"sqlite:///{tmp}/issuer.db",
        "ISSUER_KEY_ENCRYPTION_KEY": new_kek_text(),
        "POLICY_FILE": str(tmp / "policy.toml"),
        "ISSUER_TRUSTED_PROXIES": "127.0.0.1",
        "ISSUER_CLIENT_CERT_HEADER": "X-Amzn-Mtls-Clientcert-Leaf",
        "ISSUER_ENV": "development",
    }
    issuer_log, gateway_log = tmp / "issuer.log", tmp / "gateway.log"
    upstream = f"http://127.0.0.1:{issuer_port}"
    issuer_argv = [sys.executable, "-m", "issuer.cli", "serve", "--port", str(issuer_port)]
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


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_dpop_token_through_the_gateway(stack):
    registered = stack.client("--token-binding", "dpop")
    source = TokenSource(stack.base, registered["client_id"], registered["client_secret"],
                         scope="orders:read", audience=ORDERS, dpop=True, verify=stack.ca)
    url = stack.base + "/orders/1"
    answer = requests.get(url, auth=RequestsAuth(source), verify=stack.ca, timeout=20)
    assert answer.status_code == 200, answer.text
    assert answer.json()["context"]["x-authorizer-cnf-kind"] == "jkt"
    assert answer.json()["context"]["x-authorizer-cnf-thumbprint"] == source.dpop.thumbprint
    token = source.get()
    assert token.token_type == "DPoP"
    assert claims(token.access_token)["cnf"] == {"jkt": source.dpop.thumbprint}

    trust = ssl.create_default_context(cafile=stack.ca)
    with httpx.Client(auth=HttpxAuth(source), verify=trust, timeout=20) as http:
        assert http.get(stack.base + "/orders/2").status_code == 200

    # A thief holding the token: no proof, the Bearer scheme, or a proof copied from
    # the wire (replay, RFC 9449 §11.1): the HTTP API authorizer's Deny, 403.
    def call(headers: dict[str, str]) -> int:
        return requests.get(url, headers=headers, verify=stack.ca, timeout=20).status_code

    assert call({"Authorization": f"DPoP {token.access_token}"}) == 403
    assert call({"Authorization": f"Bearer {token.access_token}"}) == 403
    seen = source.present("GET", url).headers
    assert call(dict(seen)) == 200
    assert call(dict(seen)) == 403
    assert source.fetches == 1


def test_certificate_bound_token_through_the_gateway(stack):
    registered = stack.client("--token-binding", "mtls")
    client_1, client_2 = stack.files["client-1"], stack.files["client-2"]
    source = TokenSource(stack.base, registered["client_id"], registered["client_secret"],
                         scope="orders:read", audience=ORDERS, client_cert=client_1,
                         verify=stack.ca)
    token = source.get()
    assert token.token_type == "Bearer"
    # RFC 8705 §3.1: bound to the SHA-256 thumbprint of the certificate presented.
    assert claims(token.access_token)["cnf"] == {"x5t#S256": stack.pki["client-1"].thumbprint}

    url = stack.base + "/orders/1"
    auth = RequestsAuth(source)
    answer = requests.get(url, auth=auth, cert=client_1, verify=stack.ca, timeout=20)
    assert answer.status_code == 200, answer.text
    assert answer.json()["context"]["x-authorizer-cnf-kind"] == "x5t#S256"
    # The same token from another certificate of the same CA: refused.
    assert requests.get(url, auth=auth, cert=client_2, verify=stack.ca,
                        timeout=20).status_code == 403
    # The helpers present the source's certificate.
    with requests_session(source) as session:
        assert session.get(url, verify=stack.ca, timeout=20).status_code == 200
    with httpx_client(source, verify=ssl.create_default_context(cafile=stack.ca),
                      timeout=20) as http:
        assert http.get(url).status_code == 200
    assert source.fetches == 1


def test_mtls_bound_client_without_a_certificate_is_refused(stack):
    registered = stack.client("--token-binding", "mtls")
    source = TokenSource(stack.base, registered["client_id"], registered["client_secret"],
                         scope="orders:read", audience=ORDERS, verify=stack.ca)
    with pytest.raises(TokenError) as refused:
        source.token()
    assert (refused.value.status, refused.value.error) == (400, "invalid_request")


def test_tls_client_auth_by_the_certificate_alone(stack):
    """RFC 8705 §2.1: no secret; `client_id` in the form and the verified certificate."""
    registered = stack.client("--auth-method", "tls_client_auth", "--token-binding", "mtls",
                              "--tls-client-auth-subject-dn", stack.pki["client-1"].subject)
    assert "client_secret" not in registered
    source = TokenSource(stack.base, registered["client_id"], scope="orders:read",
                         audience=ORDERS, client_cert=stack.files["client-1"],
                         verify=stack.ca)
    token = source.token()
    assert claims(token)["sub"] == registered["client_id"]
    with requests_session(source) as session:
        assert session.get(stack.base + "/orders/1", verify=stack.ca,
                           timeout=20).status_code == 200
    # The other certificate does not authenticate this client.
    other = TokenSource(stack.base, registered["client_id"], scope="orders:read",
                        audience=ORDERS, client_cert=stack.files["client-2"], verify=stack.ca)
    with pytest.raises(TokenError) as refused:
        other.token()
    assert (refused.value.status, refused.value.error) == (401, "invalid_client")
