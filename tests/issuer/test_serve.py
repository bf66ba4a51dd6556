"""`issuer serve` end to end in a subprocess: migrates an empty database, makes the first
key, serves; a client made by the CLI gets a token from it."""

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


# One worker runs the app in the serving process; several run it in spawned workers built
# by `app_factory`, which must set up the issuer's logging on its own.
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_from_empty_database(tmp_path, policy_file, workers):
    port = free_port()  # uvicorn binds it itself; a tiny window, loopback only
    env = {
        **os.environ,
        "ISSUER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "ISSUER_URL": f"http://127.0.0.1:{port}",
        "POLICY_FILE": str(policy_file),
    }
    env.pop("ISSUER_KEY_ENCRYPTION_KEY", None)
    env.pop("ISSUER_ENV", None)
    cli = [sys.executable, "-m", "issuer.cli"]
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--workers", str(workers)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, server)
        created = json.loads(
            subprocess.run(
                [*cli, "clients", "create", "--name", "e2e", "--scope", "orders:read", "--json"],
                cwd=tmp_path, env=env, capture_output=True, check=True,
            ).stdout
        )
        response = requests.post(
            base + "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(created["client_id"], created["client_secret"]),
            timeout=5,
        )
        assert response.status_code == 200, response.text
        jwks = requests.get(base + "/.well-known/jwks.json", timeout=5).json()
        assert len(jwks["keys"]) == 1
    finally:
        server.terminate()
        output = server.communicate(timeout=15)[0].decode()
    assert created["client_secret"] not in output
    assert response.json()["access_token"] not in output
    assert "Traceback" not in output
    # The access log is the app's JSON (issuer/http/access_log.py), not uvicorn's prose line,
    # and a token request writes one line: its token_issued event.
    assert "HTTP/1.1\" 200" not in output
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    issued = [e for e in events if e["event"] == "token_issued"]
    assert [e["client_id"] for e in issued] == [created["client_id"]]
    requests_logged = [e for e in events if e["event"] == "http_request"]
    assert {(e["method"], e["path"], e["status"]) for e in requests_logged} == {
        ("GET", "/healthz", 200), ("GET", "/.well-known/jwks.json", 200)
    }
