"""DPoP-bound tokens (RFC 9449) from the client library, against the real issuer over
HTTP (in-process uvicorn on loopback) and a resource server that checks each proof with
the project's own verifier (shared.dpop), which the library does not use."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from helpers.issuer_env import ORDERS, make_issuer
from helpers.issuer_server import serve
from tollgate_client import HttpxAuth, RequestsAuth, TokenError, TokenSource
from tollgate_client.binding import access_token_hash

from shared.dpop import verify_proof
from shared.errors import TokenError as ProofError
from shared.jws import parse_compact

pytestmark = pytest.mark.slow


class Recorder:
    """ASGI wrapper keeping the DPoP header of every token request."""

    def __init__(self, app) -> None:
        self.app = app
        self.proofs: list[str | None] = []
        self.statuses: list[int] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/oauth2/token":
            headers = dict(scope["headers"])
            self.proofs.append(headers.get(b"dpop", b"").decode() or None)

            async def record(message):
                if message["type"] == "http.response.start":
                    self.statuses.append(message["status"])
                await send(message)

            return await self.app(scope, receive, record)
        return await self.app(scope, receive, send)

    def reset(self) -> None:
        self.proofs.clear()
        self.statuses.clear()


def _issuer(databases, policy_file, **env):
    prepared = make_issuer(databases.new_url("sqlite"), policy_file, **env)
    state = {}

    def app_for(url: str):
        state["app"] = Recorder(prepared.app_at(url))
        return state["app"]

    dpop_client = prepared.client(["orders:read"], token_binding="dpop", name="dpop client")
    plain_client = prepared.client(["orders:read"], name="plain client")
    return prepared, app_for, state, dpop_client, plain_client


class Issuer:
    def __init__(self, url, recorder, dpop_client, plain_client) -> None:
        self.url = url
        self.recorder = recorder
        self.dpop = (dpop_client.client.client_id, dpop_client.client_secret)
        self.plain = (plain_client.client.client_id, plain_client.client_secret)

    @property
    def token_endpoint(self) -> str:
        return self.url + "/oauth2/token"

    def source(self, who: str = "dpop", **kwargs) -> TokenSource:
        client_id, secret = getattr(self, who)
        kwargs.setdefault("dpop", "dpop_key" not in kwargs)
        return TokenSource(self.url, client_id, secret, scope="orders:read",
                           audience=ORDERS, token_endpoint=self.token_endpoint, **kwargs)


@pytest.fixture(scope="module")
def dpop_issuer(databases, policy_file):
    prepared, app_for, state, dpop_client, plain_client = _issuer(databases, policy_file)
    with serve(app_for) as url:
        yield Issuer(url, state["app"], dpop_client, plain_client)
    prepared.services.engine.dispose()


@pytest.fixture(scope="module")
def nonce_issuer(databases, policy_file):
    prepared, app_for, state, dpop_client, plain_client = _issuer(
        databases, policy_file, ISSUER_DPOP_NONCE="on")
    with serve(app_for) as url:
        yield Issuer(url, state["app"], dpop_client, plain_client)
    prepared.services.engine.dispose()


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def proof_parts(proof: str) -> tuple[dict, dict]:
    parsed = parse_compact(proof)
    return parsed.header, parsed.claims


@pytest.mark.parametrize("kind", ["generated", "p256", "rsa", "ed25519"])
def test_dpop_client_gets_a_dpop_bound_token(dpop_issuer, kind):
    dpop_issuer.recorder.reset()
    keys = {
        "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }
    kwargs = {"dpop_key": keys[kind]()} if kind in keys else {"dpop": True}
    with dpop_issuer.source(**kwargs) as source:
        token = source.get()
        assert token.token_type == "DPoP"
        # RFC 9449 §6.1: the token is bound to the RFC 7638 thumbprint of our key.
        assert claims(token.access_token)["cnf"] == {"jkt": source.dpop.thumbprint}
    assert dpop_issuer.recorder.statuses == [200]
    header, body = proof_parts(dpop_issuer.recorder.proofs[0])
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == {"generated": "ES256", "p256": "ES256", "rsa": "RS256",
                             "ed25519": "EdDSA"}[kind]
    assert set(header["jwk"]) <= {"kty", "crv", "x", "y", "n", "e"}  # public members only
    assert body["htm"] == "POST"
    assert body["htu"] == dpop_issuer.token_endpoint
    assert "ath" not in body and "nonce" not in body


def test_default_source_sends_no_proof_and_gets_bearer(dpop_issuer):
    dpop_issuer.recorder.reset()
    source = dpop_issuer.source("plain", dpop=False)
    token = source.get()
    assert token.token_type == "Bearer"
    assert "cnf" not in claims(token.access_token)
    assert dpop_issuer.recorder.proofs == [None]
    assert source.present("GET", "https://api.example.test/x").headers == {
        "Authorization": f"Bearer {token.access_token}"}


def test_dpop_bound_client_without_a_key_is_refused(dpop_issuer):
    """The client is registered token_binding: dpop (RFC 9449 §5.2); the library's
    default (no key) sends no proof, and the issuer refuses: nothing silently degrades."""
    with pytest.raises(TokenError) as refused:
        dpop_issuer.source(dpop=False).token()
    assert refused.value.status == 400
    assert refused.value.error == "invalid_dpop_proof"


def test_every_token_request_and_api_request_has_its_own_proof(dpop_issuer):
    dpop_issuer.recorder.reset()
    source = dpop_issuer.source()
    first = source.get()
    source.invalidate(first)
    second = source.get()
    assert first.access_token != second.access_token
    token_jtis = [proof_parts(p)[1]["jti"] for p in dpop_issuer.recorder.proofs]
    assert len(token_jtis) == 2 and len(set(token_jtis)) == 2
    url = "https://api.example.test/orders/1?x=1#frag"
    presented = [source.present("GET", url) for _ in range(5)]
    bodies = []
    for item in presented:
        assert item.headers["Authorization"] == f"DPoP {second.access_token}"
        header, body = proof_parts(item.headers["DPoP"])
        assert header["jwk"] == proof_parts(dpop_issuer.recorder.proofs[0])[0]["jwk"]
        bodies.append(body)
    assert len({b["jti"] for b in bodies}) == 5
    assert {b["htm"] for b in bodies} == {"GET"}
    assert {b["htu"] for b in bodies} == {"https://api.example.test/orders/1"}  # RFC 9449 §4.2
    assert {b["ath"] for b in bodies} == {access_token_hash(second.access_token)}
    shown = repr(presented[0])  # header names, never the token or the proof
    assert presented[0].headers["DPoP"] not in shown and second.access_token not in shown


def test_token_endpoint_nonce_retry_once_then_remembered(nonce_issuer):
    nonce_issuer.recorder.reset()
    source = nonce_issuer.source()
    first = source.get()
    assert first.token_type == "DPoP"
    # RFC 9449 §8: the first proof has no nonce, the server answers use_dpop_nonce with
    # a DPoP-Nonce, the one retry carries it.
    assert nonce_issuer.recorder.statuses == [400, 200]
    no_nonce, with_nonce = (proof_parts(p)[1] for p in nonce_issuer.recorder.proofs)
    assert "nonce" not in no_nonce and with_nonce["nonce"]
    assert no_nonce["jti"] != with_nonce["jti"]
    # The next fetch starts with the remembered nonce: one request.
    nonce_issuer.recorder.reset()
    source.invalidate(first)
    source.get()
    assert nonce_issuer.recorder.statuses == [200]
    assert "nonce" in proof_parts(nonce_issuer.recorder.proofs[0])[1]


def test_async_fetch_does_the_nonce_retry_too(nonce_issuer):
    nonce_issuer.recorder.reset()
    source = nonce_issuer.source()
    token = asyncio.run(source.aget())
    assert token.token_type == "DPoP"
    assert nonce_issuer.recorder.statuses == [400, 200]


def test_bearer_answer_to_a_dpop_request_is_refused(stub):
    """A server that ignored the proof answers a bearer token (RFC 9449 §5): the source
    refuses it rather than send an unbound token as if it were bound."""
    source = TokenSource(stub.url, "c", "s", dpop=True, token_endpoint=stub.token_endpoint)
    with pytest.raises(TokenError) as refused:
        source.token()
    assert str(refused.value) == "token request: token_type 'Bearer' is not DPoP"
    assert stub.requests[0]["headers"]["dpop"].count(".") == 2


def test_token_endpoint_nonce_retry_is_once(stub):
    """A server that answers use_dpop_nonce every time gets two requests, not a loop."""
    for n in range(3):
        stub.then(400, {"error": "use_dpop_nonce"}, {"DPoP-Nonce": f"n{n}"})
    source = TokenSource(stub.url, "c", "s", dpop=True, token_endpoint=stub.token_endpoint)
    with pytest.raises(TokenError) as refused:
        source.token()
    assert (refused.value.status, refused.value.error) == (400, "use_dpop_nonce")
    assert len(stub.requests) == 2
    second = proof_parts(stub.requests[1]["headers"]["dpop"])[1]
    assert second["nonce"] == "n0"


# -- a resource server that asks for nonces (RFC 9449 §9) ----------------------------


class NonceApi:
    """GET /orders/{id}: 200 for `Authorization: DPoP` with a proof for this request
    bound to the token's cnf.jkt and carrying the current nonce; 401 `use_dpop_nonce`
    with a new `DPoP-Nonce` when the nonce is missing or old."""

    def __init__(self) -> None:
        self.url = ""
        self.nonce = "api-nonce-1"
        self.answers: list[int] = []
        self.rotate = False
        self.lock = threading.Lock()

    def app(self, url: str) -> FastAPI:
        app = FastAPI()

        @app.get("/orders/{order_id}")
        def orders(order_id: str, request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            status, headers = 200, {}
            try:
                if scheme != "DPoP":
                    raise ProofError("bound_token_as_bearer", "")
                verify_proof(request.headers.get("dpop", ""), method="GET",
                             url=url + request.url.path, now=time.time(),
                             access_token=token,
                             expected_jkt=claims(token)["cnf"]["jkt"], nonce=self.nonce)
            except ProofError as exc:
                status = 401
                error = ("use_dpop_nonce" if exc.code in ("dpop_nonce_required",
                                                            "dpop_bad_nonce")
                         else "invalid_token")
                headers = {"WWW-Authenticate": f'DPoP error="{error}"',
                           "DPoP-Nonce": self.nonce}
                if self.rotate:
                    self.nonce += "x"
            with self.lock:
                self.answers.append(status)
            if status != 200:
                return Response(status_code=status, headers=headers)
            return JSONResponse({"order": order_id})

        return app


@pytest.fixture(scope="module")
def nonce_api():
    api = NonceApi()
    with serve(api.app) as url:
        api.url = url
        yield api


def test_resource_server_nonce_retry_with_requests_and_httpx(dpop_issuer, nonce_api):
    source = dpop_issuer.source()
    nonce_api.answers.clear()
    answer = requests.get(nonce_api.url + "/orders/7?q=1", auth=RequestsAuth(source),
                          timeout=10)
    assert answer.status_code == 200 and answer.json() == {"order": "7"}
    assert nonce_api.answers == [401, 200]  # §9: once without the nonce, then with it
    # The nonce is remembered for that server: the next call is one request.
    nonce_api.answers.clear()
    with httpx.Client(auth=HttpxAuth(source), timeout=10) as http:
        assert http.get(nonce_api.url + "/orders/8").status_code == 200
    assert nonce_api.answers == [200]
    # A new nonce from the server: httpx's async flow retries once, with the same token.
    nonce_api.nonce, nonce_api.answers[:] = "api-nonce-2", []

    async def call() -> int:
        async with httpx.AsyncClient(auth=HttpxAuth(source), timeout=10) as http:
            return (await http.get(nonce_api.url + "/orders/9")).status_code

    assert asyncio.run(call()) == 200
    assert nonce_api.answers == [401, 200]
    assert source.fetches == 1


def test_resource_server_refusing_every_nonce_gets_one_retry(dpop_issuer, nonce_api):
    source = dpop_issuer.source()
    nonce_api.answers.clear()
    nonce_api.rotate = True  # every refusal hands out a nonce that is already old
    try:
        answer = requests.get(nonce_api.url + "/orders/1", auth=RequestsAuth(source),
                              timeout=10)
    finally:
        nonce_api.rotate = False
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'DPoP error="use_dpop_nonce"'
    assert nonce_api.answers == [401, 401]


# -- configuration -----------------------------------------------------------------------


def test_configuration_errors_are_one_line(tmp_path):
    issuer = "https://issuer.example.test"
    key = ec.generate_private_key(ec.SECP256R1())
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    missing = tmp_path / "missing.pem"
    cases = [
        ({"dpop_key": key, "dpop": True}, "give dpop_key or dpop=True, not both"),
        ({"client_cert": (missing, "k")}, f"client_cert: {missing} is not a file"),
        ({"client_cert": "both.pem"}, "client_cert must be (certificate path, key path)"),
        ({"client_cert": (bad, bad)},
         "client_cert: the certificate and key could not be loaded as a PEM pair"),
        ({"dpop_key": key.public_key()},
         "dpop_key: a PEM, a private JWK or an RSA/EC/Ed25519 private key"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError) as refused:
            TokenSource(issuer, "c", "s", **kwargs)
        assert str(refused.value) == message
    with pytest.raises(ValueError) as refused:
        TokenSource(issuer, "c")  # no secret, no key, no certificate
    assert str(refused.value).startswith("give exactly one of")
    source = TokenSource(issuer, "c", "s", dpop_key=key)
    assert repr(source).endswith(f"dpop=DpopKey(alg='ES256', jkt={source.dpop.thumbprint!r}))")
