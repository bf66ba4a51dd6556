"""No log record, error message or repr carries the client secret, its Basic header, a
private key, an assertion or an access token: every logger at DEBUG (the library's,
Authlib's, httpx's, httpcore's, urllib3's), through fetches, retries, refusals, the
invalid_token retry and a failed refresh."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging

import httpx
import pytest
import requests
from helpers.issuer_env import ORDERS
from tollgate_client import HttpxAuth, RequestsAuth, TokenError, TokenSource

pytestmark = pytest.mark.slow

LOGGERS = ["", "tollgate_client", "authlib", "httpx", "httpcore", "urllib3", "requests",
           "joserfc"]


@pytest.fixture
def debug_logs(caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def leaked(caplog, secrets: list[str]) -> list[tuple[str, str]]:
    texts = [caplog.text]
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args), repr(record.__dict__)]
    return [(s[:12], t[:200]) for s in secrets for t in texts if s and s in t]


def test_live_fetches_and_calls_log_no_secret(issuer, api, debug_logs, tmp_path):
    secret = issuer.client_secret
    basic = base64.b64encode(f"{issuer.client_id}:{secret}".encode()).decode()
    source = TokenSource(issuer.url, issuer.client_id, secret, scope="orders:read",
                         audience=ORDERS)
    errors: list[str] = [repr(source)]

    requests.get(f"{api.url}/orders/1", auth=RequestsAuth(source), timeout=5)
    httpx.get(f"{api.url}/orders/2", auth=HttpxAuth(source))
    api.revoked.add(source.token())  # the invalid_token path: drop, refetch, retry

    async def call():
        async with httpx.AsyncClient(auth=HttpxAuth(source)) as http:
            return await http.get(f"{api.url}/orders/3")

    assert asyncio.run(call()).status_code == 200
    errors += [repr(source.get()), repr(RequestsAuth(source)), repr(HttpxAuth(source))]

    client_id, private_key, jwk = issuer.jwt_clients["ES256"]
    jwt_source = TokenSource(issuer.url, client_id, private_key=private_key,
                             key_id=jwk["kid"], scope="orders:read")
    jwt_token = jwt_source.token()
    errors.append(repr(jwt_source))
    private_d = jwt_source.auth._key.as_dict(private=True)["d"]

    wrong = TokenSource(issuer.url, issuer.client_id, secret + "x", scope="orders:read")
    with pytest.raises(TokenError) as refused:
        wrong.token()
    errors.append(str(refused.value))

    assert any(r.name.startswith("httpcore") and r.levelno == logging.DEBUG
               for r in debug_logs.records)  # DEBUG really was on
    tokens = [*api.tokens(), jwt_token]
    assert len(tokens) >= 4
    secrets = [secret, secret + "x", basic, private_d, *tokens]
    assert leaked(debug_logs, secrets) == []
    assert [e for e in errors if any(s in e for s in secrets)] == []


def test_retries_refusals_and_federation_log_no_secret(stub, debug_logs, tmp_path, sleeps):
    from cryptography.hazmat.primitives.asymmetric import ec

    stub.lifetime = 100
    secret = "very-secret-value-123"
    stub.then(429, {"error": "slow_down"}, {"Retry-After": "1"})
    stub.then(503, {"error": "temporarily_unavailable"})
    source = TokenSource(stub.url, "c_1", secret, sleep=sleeps.append, max_attempts=3)
    token = source.token()

    key = ec.generate_private_key(ec.SECP256R1())
    jwt_source = TokenSource(stub.url, "c_2", private_key=key, sleep=sleeps.append)
    jwt_source.token()

    assertion_file = tmp_path / "token"
    assertion_file.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl")
    fed = TokenSource(stub.url, None, assertion_file=assertion_file, sleep=sleeps.append)
    fed.token()

    # A failed refresh that falls back to the cached token logs a warning.
    stub.then(401, {"error": "invalid_client", "error_description": "assertion expired"})
    fed._cached = dataclasses.replace(fed._cached, refresh_at=0.0)  # due for refresh
    assert fed.token() == "tok-3"
    assert "token refresh failed" in debug_logs.text

    stub.then(400, {"error": "invalid_request"})
    with pytest.raises(TokenError):
        TokenSource(stub.url, "c_3", "another-secret-4", sleep=sleeps.append).token()

    assertions = [r["form"].get("client_assertion", "") for r in stub.requests]
    assert assertions.count("") == 4  # the secret requests
    secrets = [secret, "another-secret-4", token, "tok-2", "tok-3",
               assertion_file.read_text(), *[a for a in assertions if a]]
    assert leaked(debug_logs, secrets) == []
    assert "retry 1 of 2" in debug_logs.text  # the retries were logged
