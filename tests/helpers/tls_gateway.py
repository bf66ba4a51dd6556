"""The local stand-in for API Gateway with mutual TLS, on loopback: `issuer serve` behind
`authorizer gateway`, which terminates TLS with client-certificate verification
(`--tls-cert/--tls-key/--client-ca`), passes the verified certificate to the issuer in
ALB's verify-mode header (`--issuer-upstream`, believed from 127.0.0.1 only) and to the
authorizer as API Gateway does, in front of an API that echoes the authorizer context.
The issuer's URL is the gateway's, as a client sees it, so a DPoP proof's `htu` for the
token endpoint is what the client called."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from helpers.client_certs import make_cert
from helpers.procs import REPO, free_port, running, serving, tail, wait_http
from issuer.keys.kek import new_kek_text

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
    def __init__(self, base: str, env: dict[str, str], pki: dict, files: dict,
                 client_name: str) -> None:
        self.base = base  # https://127.0.0.1:PORT, the gateway: issuer and API
        self.env = env  # the issuer's settings, for its CLI
        self.pki = pki
        self.files = files
        self.client_name = client_name

    @property
    def ca(self) -> str:
        return self.files["ca"][0]

    def client(self, *args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "issuer.cli", "clients", "create", "--name",
             self.client_name, "--scope", "orders:read", "--json", *args],
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


@contextmanager
def tls_gateway(tmp: Path, ca_name: str, client_name: str) -> Iterator[Stack]:
    """The running stack, with a CA named `ca_name`, a server certificate for 127.0.0.1
    and two client certificates (`client-1`, `client-2`) in `pki`, their PEM files in
    `files`; `Stack.client` registers clients named `client_name`."""
    ca = make_cert(ca_name, ca=True)
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
    with serving(api):
        with running(issuer_argv, env={**env, **issuer_env}, cwd=tmp,
                     log=issuer_log) as issuer:
            wait_http(upstream + "/healthz", proc=issuer, log=issuer_log,
                      ok=lambda status: status == 200)
            with running(gateway_argv, env={**env, **gateway_env},
                         log=gateway_log) as gateway:
                _wait_tls(base + "/.well-known/oauth-authorization-server", files["ca"][0],
                          gateway, gateway_log)
                yield Stack(base, {**env, **issuer_env}, pki, files, client_name)
