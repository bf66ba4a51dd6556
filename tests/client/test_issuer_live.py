"""The client library against the real issuer over HTTP: client_secret_basic and
private_key_jwt (RS256, ES256, EdDSA), discovery, audience/resource per source, caching,
and the requests/httpx auth hooks talking to an API that checks the tokens."""

from __future__ import annotations

import asyncio

import httpx
import jwt
import pytest
import requests
from helpers.issuer_env import BILLING, ORDERS
from tollgate_client import HttpxAuth, RequestsAuth, TokenError, TokenSource
from tollgate_client.credentials import PrivateKeyJwt

pytestmark = pytest.mark.slow


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def secret_source(issuer, **kwargs) -> TokenSource:
    kwargs.setdefault("scope", "orders:read")
    kwargs.setdefault("audience", ORDERS)
    return TokenSource(issuer.url, issuer.client_id, issuer.client_secret, **kwargs)


def test_secret_client_gets_a_token_once_and_reuses_it(issuer):
    with secret_source(issuer) as source:
        first = source.token()
        assert [source.token() for _ in range(20)] == [first] * 20
    claims = claims_of(first)
    assert claims["iss"] == issuer.url
    assert claims["aud"] == ORDERS
    assert claims["scope"] == "orders:read"
    assert claims["client_id"] == issuer.client_id
    # Discovery once (RFC 8414), one token request, for 21 calls.
    assert issuer.counter.metadata_requests == 1
    assert issuer.counter.token_requests == 1


def test_audience_and_resource_per_source(issuer):
    billing = secret_source(issuer, scope="billing:read", audience=BILLING)
    orders = secret_source(issuer, scope=["orders:read", "orders:write"], audience=None,
                           resource=ORDERS)
    assert claims_of(billing.token())["aud"] == BILLING
    order_claims = claims_of(orders.token())
    assert order_claims["aud"] == ORDERS
    assert order_claims["scope"] == "orders:read orders:write"
    assert issuer.counter.token_requests == 2


def test_token_endpoint_given_skips_discovery(issuer):
    source = secret_source(issuer, token_endpoint=issuer.token_endpoint)
    assert claims_of(source.token())["aud"] == ORDERS
    assert issuer.counter.metadata_requests == 0
    assert issuer.counter.token_requests == 1


def test_wrong_secret_is_a_final_invalid_client(issuer, sleeps):
    source = TokenSource(issuer.url, issuer.client_id, "not-the-secret", scope="orders:read",
                         sleep=sleeps.append)
    with pytest.raises(TokenError) as refused:
        source.token()
    assert refused.value.status == 401
    assert refused.value.error == "invalid_client"
    assert "not-the-secret" not in str(refused.value)
    assert issuer.counter.token_requests == 1  # a 4xx is not retried
    assert sleeps == []


def test_unknown_scope_is_invalid_scope(issuer):
    with pytest.raises(TokenError) as refused:
        secret_source(issuer, scope="orders:delete").token()
    assert (refused.value.status, refused.value.error) == (400, "invalid_scope")


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_private_key_jwt_client(issuer, alg):
    client_id, private_key, jwk = issuer.jwt_clients[alg]
    source = TokenSource(issuer.url, client_id, private_key=private_key, key_id=jwk["kid"],
                         scope="orders:read")
    first = source.token()
    assert claims_of(first)["client_id"] == client_id
    # A second fetch mints a new assertion: the issuer accepts each jti once, so a
    # reused assertion would be invalid_client here.
    assert source.invalidate(first)
    second = source.token()
    assert second != first and claims_of(second)["client_id"] == client_id
    assert issuer.counter.token_requests == 2


def test_private_key_jwt_accepts_pem_and_jwk_forms(issuer):
    from cryptography.hazmat.primitives import serialization
    from joserfc import jwk as jose_jwk

    client_id, private_key, jwk = issuer.jwt_clients["ES256"]
    pem = private_key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    private_jwk = {**jose_jwk.ECKey.import_key(private_key).as_dict(private=True),
                   "kid": jwk["kid"]}
    for key, key_id in ((pem.decode(), jwk["kid"]), (pem, jwk["kid"]), (private_jwk, None)):
        source = TokenSource(issuer.url, client_id, private_key=key, key_id=key_id,
                             scope="orders:read")
        assert claims_of(source.token())["client_id"] == client_id
    assert issuer.counter.token_requests == 3


def test_assertions_are_minted_per_request(issuer):
    client_id, private_key, jwk = issuer.jwt_clients["RS256"]
    auth = PrivateKeyJwt(client_id, private_key, key_id=jwk["kid"])
    assertions = [auth.assertion(issuer.token_endpoint) for _ in range(50)]
    claims = [claims_of(a) for a in assertions]
    headers = [jwt.get_unverified_header(a) for a in assertions]
    assert len({c["jti"] for c in claims}) == 50
    for c, h in zip(claims, headers, strict=True):
        assert c["iss"] == c["sub"] == client_id
        assert c["aud"] == issuer.token_endpoint  # RFC 7523 §3 item 3
        assert c["exp"] - c["iat"] == 60
        assert (h["alg"], h["kid"]) == ("RS256", jwk["kid"])


def test_requests_auth_calls_the_api(issuer, api):
    source = secret_source(issuer)
    with requests.Session() as session:
        session.auth = RequestsAuth(source)
        answers = [session.get(f"{api.url}/orders/{n}", timeout=5) for n in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert {a.json()["client_id"] for a in answers} == {issuer.client_id}
    assert len(set(api.tokens())) == 1
    assert issuer.counter.token_requests == 1


def test_httpx_auth_sync_and_async(issuer, api):
    source = secret_source(issuer)
    with httpx.Client(auth=HttpxAuth(source)) as http:
        assert http.get(f"{api.url}/orders/1").status_code == 200

    async def calls():
        async with httpx.AsyncClient(auth=HttpxAuth(source)) as http:
            return await asyncio.gather(*(http.get(f"{api.url}/orders/{n}") for n in range(10)))

    answers = asyncio.run(calls())
    assert [a.status_code for a in answers] == [200] * 10
    assert len(set(api.tokens())) == 1  # sync and async flows share the cached token
    assert issuer.counter.token_requests == 1


@pytest.mark.parametrize("flavour", ["requests", "httpx", "httpx-async"])
def test_invalid_token_refusal_drops_the_token_and_retries_once(issuer, api, flavour):
    source = secret_source(issuer)
    stale = source.token()
    api.revoked.add(stale)  # the API no longer accepts it (revoked, say)
    body = b'{"quantity": 2}'
    url = f"{api.url}/orders/7"
    if flavour == "requests":
        answer = requests.post(url, data=body, auth=RequestsAuth(source), timeout=5)
        history = len(answer.history)
    elif flavour == "httpx":
        answer = httpx.post(url, content=body, auth=HttpxAuth(source))
        history = len(answer.history)
    else:
        async def call():
            async with httpx.AsyncClient(auth=HttpxAuth(source)) as http:
                return await http.post(url, content=body)

        answer = asyncio.run(call())
        history = len(answer.history)
    assert answer.status_code == 200
    assert history == 1  # the refused answer, then the retry
    tokens = api.tokens()
    assert tokens[0] == stale and tokens[1] != stale and len(tokens) == 2
    assert [b for _, _, b in api.seen] == [body, body]  # the body was sent again
    assert issuer.counter.token_requests == 2


@pytest.mark.parametrize("flavour", ["requests", "httpx"])
def test_a_second_refusal_is_returned_not_retried(issuer, api, flavour):
    source = secret_source(issuer)
    api.refuse_all = True
    url = f"{api.url}/orders/1"
    if flavour == "requests":
        answer = requests.get(url, auth=RequestsAuth(source), timeout=5)
    else:
        answer = httpx.get(url, auth=HttpxAuth(source))
    assert answer.status_code == 401
    assert len(api.tokens()) == 2  # one retry, no loop
    assert issuer.counter.token_requests == 2


@pytest.mark.parametrize("kind, status", [("insufficient_scope", 403), ("bare", 401)])
def test_other_refusals_are_not_retried(issuer, api, kind, status):
    source = secret_source(issuer)
    for answer in (
        requests.get(f"{api.url}/refusals/{kind}", auth=RequestsAuth(source), timeout=5),
        httpx.get(f"{api.url}/refusals/{kind}", auth=HttpxAuth(source)),
    ):
        assert answer.status_code == status
    assert len(api.tokens()) == 2  # one request per call
    assert issuer.counter.token_requests == 1


def test_requests_retry_rewinds_a_file_body_and_leaves_a_stream_alone(issuer, api, tmp_path):
    source = secret_source(issuer)
    api.revoked.add(source.token())
    body = tmp_path / "body.json"
    body.write_bytes(b'{"lines": [1, 2, 3]}')
    with open(body, "rb") as handle:
        answer = requests.post(f"{api.url}/orders/9", data=handle, auth=RequestsAuth(source),
                               timeout=5)
    assert answer.status_code == 200
    assert [b for _, _, b in api.seen] == [body.read_bytes()] * 2  # rewound, sent again

    api.seen.clear()
    api.refuse_all = True  # a one-shot generator body cannot be sent twice: no retry
    answer = requests.post(f"{api.url}/orders/9", data=(c for c in [b"a", b"b"]),
                           auth=RequestsAuth(source), timeout=5)
    assert answer.status_code == 401 and len(api.seen) == 1
