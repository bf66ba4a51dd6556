"""`issuer serve` end to end (a subprocess, real uvicorn): a caller on the loopback
interface, where uvicorn's default believed X-Forwarded-For, cannot pick a new throttle
address per request, and its failures never refuse a client's correct secret (issue 12,
items 7 and 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests
from helpers.issuer_server import wait_healthy
from helpers.procs import free_port

pytestmark = pytest.mark.slow

LIMIT = 3


def test_rotating_forwarded_for_from_loopback_does_not_reset_the_brake(tmp_path, policy_file):
    port = free_port()  # uvicorn binds it itself; a tiny window, loopback only
    env = {
        **os.environ,
        "ISSUER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "ISSUER_URL": f"http://127.0.0.1:{port}",
        "POLICY_FILE": str(policy_file),
        "ISSUER_THROTTLE_LIMIT": str(LIMIT),
        "FORWARDED_ALLOW_IPS": "*",  # uvicorn's own knob: must change nothing either
    }
    for name in ("ISSUER_KEY_ENCRYPTION_KEY", "ISSUER_ENV", "ISSUER_TRUSTED_PROXIES"):
        env.pop(name, None)
    cli = [sys.executable, "-m", "issuer.cli"]
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, server)
        created = json.loads(subprocess.run(
            [*cli, "clients", "create", "--name", "e2e", "--scope", "orders:read", "--json"],
            cwd=tmp_path, env=env, capture_output=True, check=True,
        ).stdout)

        def token(client_id, secret, forwarded):
            return requests.post(
                base + "/oauth2/token", data={"grant_type": "client_credentials"},
                auth=(client_id, secret), headers={"X-Forwarded-For": forwarded}, timeout=5,
            ).status_code

        # A new made-up client id and a new "address" per guess: only the real peer
        # (127.0.0.1) is common to them, and it is what the brake counts.
        statuses = [token(f"c_made_up_{n}", "x", f"198.51.100.{n}") for n in range(LIMIT + 2)]
        assert statuses == [401] * LIMIT + [429] * 2
        assert token("c_made_up_9", "x", "9" * 120) == 429  # a long header changes nothing
        # The brake is for failures: the real client behind the same address gets in.
        assert token(created["client_id"], created["client_secret"], "203.0.113.1") == 200
    finally:
        server.terminate()
        output = server.communicate(timeout=15)[0].decode()
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    clients = {e["client"] for e in events if e["event"] == "http_request"}
    assert clients == {"127.0.0.1"}
    assert "Traceback" not in output
