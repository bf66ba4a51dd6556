"""Tokens from the real issuer (its FastAPI app in-process), verified by the authorizer
with keys fetched from the issuer's own JWKS endpoint, on the recorded events."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_env import ISSUER_URL, ORDERS, make_issuer, write_policy

from authorizer.coldstart import build_authorizer
from authorizer.log import DecisionLog
from authorizer.responses import policy_allows
from authorizer.settings import Settings
from shared.policy import load_policy


@pytest.fixture(scope="module")
def issuer_http(tmp_path_factory):
    directory = tmp_path_factory.mktemp("issuer")
    policy_file = write_policy(directory)
    issuer = make_issuer(f"sqlite:///{directory / 'issuer.db'}", policy_file)
    with TestClient(issuer.app()) as http:
        yield issuer, http, policy_file
    issuer.services.engine.dispose()


def token_for(issuer_http, scopes: list[str], scope: str | None = None, **form) -> str:
    issuer, http, _ = issuer_http
    client = issuer.client(scopes, name="authorizer-test")
    body = {"grant_type": "client_credentials", "client_id": client.client.client_id,
            "client_secret": client.client_secret, **form}
    if scope:
        body["scope"] = scope
    answer = http.post("/oauth2/token", data=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


@pytest.fixture
def real(issuer_http):
    _, http, policy_file = issuer_http
    fetched = []

    def fetcher(uri: str) -> bytes:
        # The authorizer's fetch, answered by the issuer's app instead of the network.
        fetched.append(uri)
        answer = http.get(uri.removeprefix(ISSUER_URL))
        assert answer.status_code == 200
        return answer.content

    settings = Settings.from_env({"AUTHORIZER_ISSUER": ISSUER_URL, "AUTHORIZER_AUDIENCE": ORDERS},
                                 cwd="/nonexistent")
    authorizer = build_authorizer(settings, fetcher=fetcher, log=DecisionLog(lambda line: None),
                                  policy=load_policy(policy_file))
    authorizer.fetched = fetched
    return authorizer


def test_issuer_token_on_rest_events(real, issuer_http, rest_event):
    token = token_for(issuer_http, ["orders:read"], audience=ORDERS)
    response = real.lambda_handler(rest_event.with_token(token))
    prefix = rest_event.arn.split("/", 2)
    prefix = f"{prefix[0]}/{prefix[1]}/"
    assert policy_allows(response, prefix + "GET/orders/1")
    assert not policy_allows(response, prefix + "GET/orders/1/lines")
    assert not policy_allows(response, prefix + "POST/orders/1")
    assert response["context"]["aud"] == ORDERS
    assert response["principalId"] == response["context"]["client_id"]
    # Keys to verify the token, then the issuer's signed revocation list (verified with them).
    assert real.fetched == [ISSUER_URL + "/.well-known/jwks.json",
                            ISSUER_URL + "/.well-known/revocations.jwt"]


@pytest.mark.parametrize(("path", "authorized"), [("/orders/7", True), ("/invoices", False)])
def test_issuer_token_on_http_events(real, issuer_http, http_event, path, authorized):
    token = token_for(issuer_http, ["orders:read"], audience=ORDERS)
    event = http_event.with_token(token)
    event["requestContext"]["http"].update(method="GET", path=path)
    event["requestContext"]["stage"] = "$default"
    # The route API Gateway would have selected for that path (the authorizer refuses a
    # path outside its route key: ambiguous_path).
    event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    assert real.lambda_handler(event)["isAuthorized"] is authorized


def test_issuer_token_for_another_api_is_unauthorized(real, issuer_http, events):
    token = token_for(issuer_http, ["billing:read"], scope="billing:read")
    with pytest.raises(Exception, match=r"\AUnauthorized\Z"):
        real.lambda_handler(events("go-token").with_token(token))
    assert real.evaluate(events("go-token").with_token(token)).reason == "wrong_audience"


def test_issuer_token_tampered_is_unauthorized(real, issuer_http, events):
    token = token_for(issuer_http, ["orders:read"], audience=ORDERS)
    head, body, sig = token.split(".")
    # A well-formed payload granting more, under the original signature.
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["scope"] = "orders:read orders:write"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    outcome = real.evaluate(events("go-request").with_token(f"{head}.{forged_body}.{sig}"))
    assert outcome.decision == "unauthorized"
    assert outcome.reason == "bad_signature"
