"""Stock OAuth client libraries fetch tokens over real HTTP (uvicorn on loopback), with
each client authentication method; the tokens verify against the published JWKS with
libraries other than the signer (jwcrypto, PyJWT's PyJWKClient)."""

from __future__ import annotations

import json
import logging
import time

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from helpers.issuer_env import ORDERS, make_issuer
from helpers.issuer_server import serve
from jwcrypto import jwk as jwc_jwk
from jwcrypto import jwt as jwc_jwt
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session as RequestsOAuthlibSession

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(databases, policy_file):
    """(base_url, client) for an issuer served by uvicorn whose `iss` is its own URL."""
    prepared = make_issuer(databases.new_url("sqlite"), policy_file)
    new = prepared.client(["orders:read", "orders:write"], name="library client")
    with serve(prepared.app_at) as base_url:
        yield base_url, new


@pytest.fixture(autouse=True)
def _plain_http_on_loopback(monkeypatch):
    # oauthlib refuses http:// token URLs unless told this is a test on loopback.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def fetch_with_authlib(base_url, client_id, secret, method):
    with AuthlibSession(
        client_id, secret, scope="orders:read", token_endpoint_auth_method=method
    ) as session:
        return session.fetch_token(base_url + "/oauth2/token", grant_type="client_credentials")


def fetch_with_requests_oauthlib(base_url, client_id, secret, method):
    session = RequestsOAuthlibSession(
        client=BackendApplicationClient(client_id=client_id, scope=["orders:read"])
    )
    extra = {"include_client_id": True} if method == "client_secret_post" else {}
    return session.fetch_token(
        base_url + "/oauth2/token", client_id=client_id, client_secret=secret, **extra
    )


def verify_with_jwcrypto(token: str, base_url: str) -> dict:
    jwks = requests.get(base_url + "/.well-known/jwks.json", timeout=5).text
    keyset = jwc_jwk.JWKSet.from_json(jwks)
    checked = jwc_jwt.JWT(
        jwt=token,
        key=keyset,
        algs=["RS256", "PS256", "ES256", "EdDSA"],
        check_claims={"iss": base_url, "aud": ORDERS, "exp": None},
    )
    return json.loads(checked.claims)


def verify_with_pyjwt(token: str, base_url: str) -> dict:
    signing_key = jwt.PyJWKClient(base_url + "/.well-known/jwks.json").get_signing_key_from_jwt(
        token
    )
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256"],
        audience=ORDERS,
        issuer=base_url,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
@pytest.mark.parametrize(
    "fetch",
    [fetch_with_authlib, fetch_with_requests_oauthlib],
    ids=["authlib", "requests-oauthlib"],
)
@pytest.mark.parametrize(
    "verify", [verify_with_jwcrypto, verify_with_pyjwt], ids=["jwcrypto", "pyjwt"]
)
def test_library_fetches_a_token_that_verifies(live, fetch, method, verify, caplog):
    base_url, new = live
    with caplog.at_level(logging.INFO, logger="issuer.tokens"):
        token = fetch(base_url, new.client.client_id, new.client_secret, method)
    issued = [json.loads(r.getMessage()) for r in caplog.records if r.name == "issuer.tokens"]
    assert [line["auth_method"] for line in issued] == [method]  # the library used `method`
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] in ("orders:read", ["orders:read"])
    access_token = token["access_token"]
    assert jwt.get_unverified_header(access_token)["typ"] == "at+jwt"
    claims = verify(access_token, base_url)
    assert claims["iss"] == base_url
    assert claims["aud"] == ORDERS
    assert claims["scope"] == "orders:read"
    assert claims["client_id"] == claims["sub"] == new.client.client_id
    assert time.time() < claims["exp"] <= time.time() + 3600 + 5


def test_wrong_secret_over_http_is_401_with_challenge(live):
    base_url, new = live
    response = requests.post(
        base_url + "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(new.client.client_id, "wrong"),
        timeout=5,
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert response.json()["error"] == "invalid_client"
