"""The issuer stopped while the local gateway and the real authorizer keep running:
tokens signed with keys the authorizer has cached keep passing; a token with a new
`kid` is refused while the issuer (its JWKS) is unreachable, and accepted once the
issuer is back (after the authorizer's unknown-kid cooldown, set to 1 s here)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from helpers.procs import free_port, http, start, stop, wait_http

from issuer.oauth.access_token import mint_access_token
from issuer.services import build_services
from issuer.settings import load_settings

from .harness import POLICY, Issuer, basic

pytestmark = [pytest.mark.load, pytest.mark.timeout(180)]

ORDERS = "https://api.example.com/orders"


def _call(gateway: str, token: str) -> int:
    return http("GET", gateway + "/orders/1", headers={"Authorization": f"Bearer {token}"})[0]


def _mint_with_new_key(issuer: Issuer, client_id: str) -> tuple[str, str]:
    """While the issuer is down: `issuer keys rotate` on its database, the new key made
    active at once (publication lead 0, for this test only), a token signed with it."""
    now_env = {"ISSUER_VERIFIER_CACHE_TTL": "0", "ISSUER_JWKS_MAX_AGE": "0"}
    kid = issuer.cli("keys", "rotate", "--json", env=now_env)["key"]["kid"]
    services = build_services(load_settings({**issuer.env, **now_env}, env_file=None))
    try:
        with services.sessions() as session:
            signer = services.key_store.signer(session)  # makes the due promotion
        assert signer.kid == kid
        token = mint_access_token(
            signer,
            issuer=issuer.url,
            client_id=client_id,
            audience=ORDERS,
            scope="orders:read",
            lifetime=300,
        )
    finally:
        services.engine.dispose()
    return token.token, kid


def test_issuer_down_cached_keys_serve_new_kid_waits_for_the_issuer(database, tmp_path):
    issuer = Issuer(database, tmp_path / "issuer.log", workers=1)
    issuer.start()
    api = start([sys.executable, "-m", "examples.api", "--port", "0"], stdout=subprocess.PIPE)
    gateway_proc = None
    try:
        api_url = api.stdout.readline().decode().strip().rsplit(" ", 1)[-1]
        port = free_port()
        gateway = f"http://127.0.0.1:{port}"
        gateway_proc = start(
            [
                sys.executable,
                "-m",
                "authorizer.gateway",
                "--upstream",
                api_url,
                "--port",
                str(port),
                "--cache-ttl",
                "0",
            ],
            env={
                "AUTHORIZER_ISSUER": issuer.url,
                "AUTHORIZER_AUDIENCE": ORDERS,
                "POLICY_FILE": POLICY,
                "AUTHORIZER_JWKS_COOLDOWN": "1",
            },
            log=tmp_path / "gateway.log",
        )
        wait_http(
            gateway + "/orders/1",
            proc=gateway_proc,
            log=tmp_path / "gateway.log",
            ok=lambda status: status == 401,
        )
        client_id, secret = issuer.client("down", "orders:read")
        status, _, body = http(
            "POST",
            issuer.url + "/oauth2/token",
            data=b"grant_type=client_credentials",
            headers={
                "Authorization": basic(client_id, secret),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert status == 200
        known = json.loads(body)["access_token"]
        assert _call(gateway, known) == 200  # the authorizer fetched the JWKS

        issuer.stop()
        new_token, new_kid = _mint_with_new_key(issuer, client_id)
        for _ in range(3):  # across more than one cooldown
            assert _call(gateway, known) == 200  # cached keys keep serving
            assert _call(gateway, new_token) == 401  # unknown kid, JWKS unreachable
            time.sleep(0.6)

        issuer.start()
        back = time.monotonic()
        while _call(gateway, new_token) != 200:
            assert time.monotonic() - back < 10, "the new kid was never accepted"
            time.sleep(0.2)
        accepted_after = time.monotonic() - back
        print(
            f"\nissuer down: known kid kept passing; new kid {new_kid[:8]}... refused while "
            f"down, accepted {accepted_after:.2f} s after the issuer was back"
        )
        assert _call(gateway, known) == 200
    finally:
        if gateway_proc is not None:
            stop(gateway_proc)
        stop(api)
        issuer.stop()
