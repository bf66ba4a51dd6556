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
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.tls_gateway import Stack, tls_gateway

from shared.jwk import thumbprint
from shared.jws import parse_compact

pytestmark = pytest.mark.slow

NODE_DIR = Path(__file__).parent / "node"
CURL = shutil.which("curl")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    with tls_gateway(tmp_path_factory.mktemp("interop"), "Interop Test CA", "interop") as running:
        yield running


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
