"""`authorizer gateway` with TLS and client-certificate verification on 127.0.0.1, the
real authorizer behind it, `curl --cert` in front: certificate-bound tokens (RFC 8705 §3)
allowed with their certificate only, DPoP-bound tokens (RFC 9449) with a proof for the
URL the client called, and the issuer fronted with the certificate in the header a
trusted proxy sets (`X-Amzn-Mtls-Clientcert`). Certificates are made here with
`cryptography`: a CA (the truststore), a server certificate for 127.0.0.1, two client
certificates under the CA, and one under no trusted CA."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from helpers.client_certs import make_cert
from helpers.mint import good_claims, make_key, mint
from helpers.procs import REPO, running, serving
from helpers.tls_gateway import ORDERS as AUDIENCE
from helpers.tls_gateway import POLICY

from authorizer import gateway as gw
from authorizer.coldstart import build_authorizer
from authorizer.log import DecisionLog
from authorizer.responses import http_api_refusal
from authorizer.settings import Settings
from shared.dpop import jwk_thumbprint, make_proof
from shared.jwa import generate_private_key
from shared.mtls import cert_thumbprint
from shared.policy import parse_policy

CURL = shutil.which("curl")
ISSUER = "https://issuer.example.com"


class Pki:
    def __init__(self, directory: Path) -> None:
        ca = make_cert("test CA", ca=True)
        self.ca = ca.write(directory, "ca")[0]
        self.server = make_cert("127.0.0.1", issuer=ca, server=True).write(directory, "server")
        self.certs = {name: make_cert(name, issuer=ca) for name in ("client-1", "client-2")}
        self.certs["rogue"] = make_cert("rogue")  # self-signed: not under the truststore
        self.clients = {name: cert.write(directory, name) for name, cert in self.certs.items()}

    def thumbprint(self, name: str) -> str:
        return cert_thumbprint(self.certs[name].pem)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


class Echo(BaseHTTPRequestHandler):
    """An upstream that answers with the headers it received (names lower-cased)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}  # names case-insensitive
        data = json.dumps({"path": self.path, "headers": headers}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    with serving(server) as (host, port):
        yield f"http://{host}:{port}"


@pytest.fixture(scope="module")
def issuer_key():
    return make_key("RS256", kid="k1")


def _handler(issuer_key, response: str = "iam"):
    """authorizer.handler.handler, built from settings here instead of at import."""
    settings = Settings.from_env({"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE,
                                  "AUTHORIZER_REVOCATION_URI": "off",
                                  "AUTHORIZER_RESPONSE": response}, cwd="/nonexistent")
    jwks = json.dumps({"keys": [issuer_key[1]]}).encode()
    authorizer = build_authorizer(settings, fetcher=lambda uri: jwks,
                                  policy=parse_policy(POLICY, "test"),
                                  log=DecisionLog(lambda line: None))

    def handler(event, context):
        answer = authorizer.authorize(event)
        if answer is not None:
            return answer
        refusal = http_api_refusal(event, response)
        if refusal is None:
            raise Exception("Unauthorized")
        return refusal

    return handler


class Served:
    """The gateway's base URL, and the status it answers a refusal with: 401 on REST
    (the authorizer raises "Unauthorized"), 403 on an HTTP API (a Deny policy)."""

    def __init__(self, url: str, kind: str) -> None:
        self.url = url
        self.refused = 401 if kind == "request" else 403


@pytest.fixture(params=["request", "http"])
def gateway(request, pki, echo, issuer_key) -> Iterator[Served]:
    """https://127.0.0.1:PORT: mutual TLS (optional client certificate), the real
    authorizer with no result cache (TTL 0: docs/caching.md, "Bound tokens"), the
    issuer fronted (the echo server stands in for it)."""
    kind = request.param
    gateway = gw.Gateway(_handler(issuer_key, "iam"), gw.AuthorizerCache(0), kind,
                         simple=False, routes=("GET /orders/{id}",))
    tls = gw.tls_context(*pki.server, pki.ca)
    with serving(gw.serve(gateway, echo, "127.0.0.1", 0, tls, echo)) as (host, port):
        yield Served(f"https://{host}:{port}", kind)


def token(issuer_key, **claims) -> str:
    body = good_claims(ISSUER, AUDIENCE, scope="orders:read")
    body.update(claims)
    return mint(issuer_key[0], "RS256", body, kid="k1")


def curl(pki: Pki, url: str, cert: str | None, *headers: str) -> tuple[int, str]:
    """(HTTP status, body), or (0, curl's error) when the handshake fails."""
    argv = [CURL, "-sS", "--max-time", "20", "--cacert", pki.ca, "-o", "-",
            "-w", "\n%{http_code}"]
    if cert is not None:
        argv += ["--cert", pki.clients[cert][0], "--key", pki.clients[cert][1]]
    for header in headers:
        argv += ["-H", header]
    result = subprocess.run([*argv, url], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


@needs_curl
def test_certificate_bound_token_through_the_gateway(gateway, pki, issuer_key):
    tok = token(issuer_key, cnf={"x5t#S256": pki.thumbprint("client-1")})
    url = gateway.url + "/orders/1"
    status, body = curl(pki, url, "client-1", f"Authorization: Bearer {tok}")
    assert status == 200, body
    seen = json.loads(body)["headers"]
    assert seen["x-authorizer-cnf-kind"] == "x5t#S256"
    assert seen["x-authorizer-cnf-thumbprint"] == pki.thumbprint("client-1")
    # another certificate under the same CA, and no certificate: refused by the authorizer
    refused = gateway.refused
    assert curl(pki, url, "client-2", f"Authorization: Bearer {tok}")[0] == refused
    assert curl(pki, url, None, f"Authorization: Bearer {tok}")[0] == refused
    # and once more with the right one: still allowed (nothing cached in between)
    assert curl(pki, url, "client-1", f"Authorization: Bearer {tok}")[0] == 200


@needs_curl
def test_certificate_under_no_trusted_ca_fails_the_handshake(gateway, pki, issuer_key,
                                                             capfd):
    tok = token(issuer_key, cnf={"x5t#S256": pki.thumbprint("rogue")})
    status, error = curl(pki, gateway.url + "/orders/1", "rogue",
                         f"Authorization: Bearer {tok}")
    # No HTTP answer at all (curl's error depends on the TLS version: with 1.3 the client
    # learns of the refusal after its side of the handshake), one line in the gateway.
    assert status == 0, error
    assert "TLS handshake refused: CERTIFICATE_VERIFY_FAILED" in capfd.readouterr().err


@needs_curl
def test_bearer_token_without_a_certificate_still_works(gateway, pki, issuer_key):
    status, body = curl(pki, gateway.url + "/orders/1", None,
                        f"Authorization: Bearer {token(issuer_key)}")
    assert status == 200, body
    assert "x-authorizer-cnf-kind" not in json.loads(body)["headers"]


def _https(url: str, pki: Pki, cert: str | None, headers: dict[str, str]) -> tuple[int, dict]:
    context = ssl.create_default_context(cafile=pki.ca)
    if cert is not None:
        context.load_cert_chain(*pki.clients[cert])
    host, _, rest = url.removeprefix("https://").partition("/")
    conn = http.client.HTTPSConnection(host, context=context, timeout=20)
    try:
        conn.request("GET", "/" + rest, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    return resp.status, (json.loads(body) if body.startswith(b"{") else {})


def test_dpop_bound_token_through_the_gateway(gateway, pki, issuer_key):
    key = generate_private_key("ES256")
    tok = token(issuer_key, cnf={"jkt": jwk_thumbprint(key, "ES256")})
    url = gateway.url + "/orders/7"

    def proof():
        return make_proof(key, "ES256", method="GET", url=url, iat=time.time(),
                          access_token=tok)

    first = proof()
    status, body = _https(url, pki, None, {"Authorization": f"DPoP {tok}", "DPoP": first})
    assert status == 200
    assert body["headers"]["dpop"] == first  # forwarded to the API as sent
    assert body["headers"]["x-authorizer-cnf-kind"] == "jkt"
    refused = gateway.refused
    # the same proof again (a replay), no proof, the token as a bearer token: refused
    assert _https(url, pki, None, {"Authorization": f"DPoP {tok}", "DPoP": first})[0] == refused
    assert _https(url, pki, None, {"Authorization": f"DPoP {tok}"})[0] == refused
    assert _https(url, pki, None, {"Authorization": f"Bearer {tok}", "DPoP": proof()})[0] == (
        refused)
    # a proof for another path of the same API
    other = make_proof(key, "ES256", method="GET", url=gateway.url + "/orders/8", iat=time.time(),
                       access_token=tok)
    assert _https(url, pki, None, {"Authorization": f"DPoP {tok}", "DPoP": other})[0] == refused
    assert _https(url, pki, None, {"Authorization": f"DPoP {tok}", "DPoP": proof()})[0] == 200


def test_issuer_fronted_with_the_certificate_header(gateway, pki):
    status, body = _https(gateway.url + "/.well-known/jwks.json", pki, "client-1",
                          {"X-Amzn-Mtls-Clientcert": "forged"})
    assert status == 200
    sent = body["headers"]["x-amzn-mtls-clientcert"]
    assert sent != "forged"
    assert "%0A" in sent and "-----BEGIN%20CERTIFICATE-----" in sent
    assert cert_thumbprint(sent) == pki.thumbprint("client-1")
    assert cert_thumbprint(unquote(sent)) == pki.thumbprint("client-1")
    assert body["headers"]["x-amzn-mtls-clientcert-leaf"] == sent  # ALB verify mode's name
    # no certificate: a client's own header never reaches the issuer
    status, body = _https(gateway.url + "/oauth2/token", pki, None,
                          {"X-Amzn-Mtls-Clientcert": "forged",
                           "X-Amzn-Mtls-Clientcert-Leaf": "forged",
                           "X-Forwarded-Client-Cert": "Hash=forged"})
    assert status == 200
    assert "x-amzn-mtls-clientcert" not in body["headers"]
    assert "x-amzn-mtls-clientcert-leaf" not in body["headers"]
    assert "x-forwarded-client-cert" not in body["headers"]


def test_forged_certificate_header_never_reaches_the_api(gateway, pki, issuer_key):
    status, body = _https(gateway.url + "/orders/1", pki, None,
                          {"Authorization": f"Bearer {token(issuer_key)}",
                           "X-Amzn-Mtls-Clientcert": "forged"})
    assert status == 200 and "x-amzn-mtls-clientcert" not in body["headers"]


def test_the_cache_keyed_by_token_alone_lets_a_thief_through(pki, echo, issuer_key):
    """Why bound tokens need TTL 0 or per-certificate identity sources: with the REST
    identity source (the Authorization header) and a 300 s cache, a request without the
    certificate is answered from the cache. The per-certificate identity source closes it."""
    tok = token(issuer_key, cnf={"x5t#S256": pki.thumbprint("client-1")})
    headers = {"Authorization": f"Bearer {tok}"}
    tls = gw.tls_context(*pki.server, pki.ca)
    cached = gw.Gateway(_handler(issuer_key), gw.AuthorizerCache(300), "request")
    with serving(gw.serve(cached, echo, "127.0.0.1", 0, tls)) as (host, port):
        url = f"https://{host}:{port}/orders/1"
        assert _https(url, pki, "client-1", headers)[0] == 200
        assert _https(url, pki, None, headers)[0] == 200  # the hazard, reproduced
    per_cert = gw.Gateway(_handler(issuer_key), gw.AuthorizerCache(300), "http", simple=False,
                          routes=("GET /orders/{id}",),
                          identity_sources=("$request.header.Authorization",
                                            gw.CERT_IDENTITY_SOURCE))
    with serving(gw.serve(per_cert, echo, "127.0.0.1", 0, tls)) as (host, port):
        url = f"https://{host}:{port}/orders/1"
        assert _https(url, pki, "client-1", headers)[0] == 200
        assert _https(url, pki, "client-2", headers)[0] == 403  # another cache key: asked
        assert _https(url, pki, None, headers)[0] == 401  # identity source missing


def test_event_shapes_carry_the_certificate_as_api_gateway_does(pki, echo):
    seen: list[dict] = []

    def record(event, context):
        seen.append(event)
        raise Exception("Unauthorized")

    tls = gw.tls_context(*pki.server, pki.ca)
    for kind in ("request", "http", "token"):
        gateway = gw.Gateway(record, gw.AuthorizerCache(0), kind)
        with serving(gw.serve(gateway, echo, "127.0.0.1", 0, tls)) as (host, port):
            _https(f"https://{host}:{port}/orders/1", pki, "client-1",
                   {"Authorization": "Bearer x", "DPoP": "proof"})
    rest, http_v2, token_event = seen
    cert = rest["requestContext"]["identity"]["clientCert"]
    assert cert_thumbprint(cert["clientCertPem"]) == pki.thumbprint("client-1")
    assert cert["subjectDN"] == "CN=client-1,O=Example Corp,C=US"
    assert cert["issuerDN"] == "CN=test CA,O=Example Corp,C=US"
    assert set(cert["validity"]) == {"notBefore", "notAfter"}
    assert re.fullmatch(r"[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4} GMT",
                        cert["validity"]["notAfter"])
    assert rest["headers"]["dpop"] == "proof"
    assert rest["requestContext"]["domainName"].startswith("127.0.0.1:")
    assert http_v2["requestContext"]["authentication"]["clientCert"] == cert
    assert http_v2["headers"]["dpop"] == "proof"
    assert set(token_event) == {"type", "authorizationToken", "methodArn"}


def test_require_client_cert_refuses_the_handshake(pki, echo):
    gateway = gw.Gateway(lambda e, c: {}, gw.AuthorizerCache(0), "request")
    tls = gw.tls_context(*pki.server, pki.ca, require_client_cert=True)
    with serving(gw.serve(gateway, echo, "127.0.0.1", 0, tls)) as (host, port):
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            _https(f"https://{host}:{port}/orders/1", pki, None, {})


def test_cli_serves_tls_with_the_real_handler(pki, echo, issuer_key, tmp_path):
    """`python -m authorizer.cli gateway --tls-cert ... --client-ca ...`: the flags, the
    handler imported from its settings, one certificate-bound call."""
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [issuer_key[1]]}))
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHORIZER_")}
    env.update({"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE,
                "AUTHORIZER_JWKS_FILE": str(jwks), "AUTHORIZER_JWKS_URI": "off",
                "AUTHORIZER_REVOCATION_URI": "off", "POLICY_FILE": str(policy),
                "PYTHONPATH": str(REPO)})
    argv = [sys.executable, "-m", "authorizer.cli", "gateway", "--upstream", echo,
            "--port", "0", "--cache-ttl", "0", "--tls-cert", pki.server[0],
            "--tls-key", pki.server[1], "--client-ca", pki.ca]
    with running(argv, env=env, stdout=subprocess.PIPE) as proc:
        line = proc.stdout.readline().decode()
        match = re.search(r"listening on (https://127\.0\.0\.1:\d+)", line)
        assert match, line
        tok = token(issuer_key, cnf={"x5t#S256": pki.thumbprint("client-1")})
        url = match.group(1) + "/orders/1"
        assert _https(url, pki, "client-1", {"Authorization": f"Bearer {tok}"})[0] == 200
        assert _https(url, pki, "client-2", {"Authorization": f"Bearer {tok}"})[0] == 401


@pytest.mark.parametrize(("extra", "message"), [
    (["--tls-cert", "x.pem"], "--tls-cert and --tls-key go together"),
    (["--client-ca", "ca.pem"], "--client-ca needs --tls-cert"),
    (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "cannot listen"),
])
def test_cli_tls_usage_errors_are_one_line(extra, message):
    result = subprocess.run(
        [sys.executable, "-m", "authorizer.cli", "gateway", "--upstream", "http://127.0.0.1:9",
         "--port", "0", *extra], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
