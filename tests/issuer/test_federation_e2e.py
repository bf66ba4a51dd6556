"""Workload identity federation end to end (docs/federation.md): `issuer serve` in a
subprocess, the trusted issuer and the federated client registered with the CLI as the
Kubernetes recipe says (keys at a local JWKS server), and `tollgate_client` with
`assertion_file` reading a kubelet-style projected token file: a token, its `act`, the
file rotated with a new token signed by the cluster's next key, and one `token_issued` line per
request naming the external identity. No secret exists anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import jwt
import pytest
import requests
from helpers.external_issuer import ExternalIssuer, JwksServer
from helpers.procs import free_port, running, wait_http
from tollgate_client import TokenSource

pytestmark = pytest.mark.slow

ISS = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
SUBJECT = "system:serviceaccount:payments:payments-api"


def test_assertion_file_against_issuer_serve(tmp_path, policy_file):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ISSUER_DATABASE_URL": f"sqlite:///{tmp_path}/fed.db",
           "ISSUER_URL": base, "POLICY_FILE": str(policy_file),
           "ISSUER_CLIENT_CACHE_TTL": "0"}
    env.pop("ISSUER_KEY_ENCRYPTION_KEY", None)
    env.pop("ISSUER_ENV", None)
    cli = [sys.executable, "-m", "issuer.cli"]

    def issuer_cli(*argv: str) -> dict:
        done = subprocess.run([*cli, *argv, "--json"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    # The cluster publishes its next key before it signs with it (keys[-1] signs).
    upcoming = ExternalIssuer(ISS)
    ext = ExternalIssuer(ISS)
    ext.keys = [*upcoming.keys, *ext.keys]
    log = tmp_path / "serve.log"
    with JwksServer(ext) as jwks, running([*cli, "serve", "--port", str(port)], env=env,
                                          cwd=tmp_path, log=log) as server:
        wait_http(base + "/healthz", proc=server)
        issuer_cli("trusted-issuers", "add", ISS, "--jwks-uri", jwks.uri,
                   "--algorithm", "RS256", "--max-token-age", "3600", "--allow-reuse")
        client = issuer_cli("clients", "create", "--name", "payments-api", "--scope",
                            "orders:read", "--auth-method", "federated",
                            "--federated-identity", ISS, SUBJECT)
        assert "client_secret" not in client

        token_file = tmp_path / "token"
        audience = base + "/oauth2/token"
        token_file.write_text(ext.token(SUBJECT, audience, time.time(), lifetime=3600))
        with TokenSource(base, None, assertion_file=token_file, scope="orders:read") as source:
            first = source.token()
            claims = jwt.decode(first, options={"verify_signature": False})
            assert claims["client_id"] == claims["sub"] == client["client_id"]
            assert claims["act"] == {"iss": ISS, "sub": SUBJECT}
            assert source.token() == first  # cached: no second token request

            # The cluster rotates to its published next key; the kubelet writes a new token.
            ext.keys.reverse()
            token_file.write_text(ext.token(SUBJECT, audience, time.time(), lifetime=3600))
            source.invalidate(first)
            second = source.token()
            assert second != first
            assert jwt.decode(second, options={"verify_signature": False})["act"]["sub"] == SUBJECT
        # One fetch: the rotated key was in the document already (the unknown-kid
        # refetch after the cooldown is tests/issuer/test_federation.py's).
        assert jwks.fetches == 1

        # A token for another workload of the same cluster is refused.
        token_file.write_text(ext.token("system:serviceaccount:payments:default", audience,
                                        time.time()))
        refused = requests.post(audience, data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": token_file.read_text()}, timeout=5)
        assert refused.status_code == 401
    output = log.read_text()
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    issued = [e for e in events if e.get("event") == "token_issued"]
    assert [(e["client_id"], e["auth_method"], e["federated_iss"], e["federated_sub"])
            for e in issued] == [(client["client_id"], "federated", ISS, SUBJECT)] * 2
    failed = [e for e in events if e.get("event") == "client_authentication_failed"]
    assert [e["reason"] for e in failed] == ["unknown_subject"]
    assert "Traceback" not in output
