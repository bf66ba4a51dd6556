"""A whole operator session against `issuer serve` as a real process (SQLite): migrate
with the CLI, start, create an admin client with the CLI, get a token, call the admin
API, send a bad request and an unknown path, stop. Every line the server and the CLI
write on stderr and stdout (but the CLI's `--json` answer, a document of its own) is one
JSON object with an RFC 3339 UTC `timestamp`, `level`, `logger` and `event`; each
request's lines carry its request id; no secret or token appears (issuer/logs.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
import requests
from helpers.issuer_server import wait_healthy
from helpers.procs import free_port

from issuer.keys.kek import new_kek_text

pytestmark = pytest.mark.slow

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
LEVELS = {"debug", "info", "warning", "error", "critical"}


def _json_lines(text: str, where: str, human_notices: bool = False) -> list[dict]:
    """Every line of `text` as a checked JSON object. `human_notices`: an interactive
    command's own one-line messages to its user (`issuer: ...`, issuer/cli/context.py)
    are let through; the server writes none here (the database exists before it starts)."""
    lines = []
    for raw in text.splitlines():
        if human_notices and raw.startswith("issuer: "):
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            pytest.fail(f"{where}: not a JSON line: {raw!r}")
        assert isinstance(line, dict), raw
        assert RFC3339_UTC.match(line["timestamp"]), raw
        assert line["level"] in LEVELS, raw
        assert isinstance(line["logger"], str) and line["logger"], raw
        assert isinstance(line["event"], str) and line["event"], raw
        lines.append(line)
    return lines


@pytest.mark.parametrize("workers", [1, 2])
def test_every_line_of_a_session_is_json(tmp_path, policy_file, workers):
    port = free_port()  # uvicorn binds it itself; a tiny window, loopback only
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ISSUER_DATABASE_URL": f"sqlite:///{tmp_path}/session.db",
        "ISSUER_URL": base,
        "ISSUER_KEY_ENCRYPTION_KEY": new_kek_text(),
        "POLICY_FILE": str(policy_file),
        "PYTHONWARNINGS": "default",  # a warning would be a line too
    }
    env.pop("ISSUER_ENV", None)
    cli = [sys.executable, "-m", "issuer.cli"]
    cli_stderr: list[str] = []

    def run_cli(*args: str) -> str:
        done = subprocess.run([*cli, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        cli_stderr.append(done.stderr)
        return done.stdout

    if workers > 1:
        run_cli("db", "upgrade")
    # else serve makes the database itself: its notice about the new file is a JSON line
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--workers", str(workers)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_healthy(base, server)
        admin = json.loads(run_cli("clients", "create", "--name", "ops", "--scope",
                                   "issuer:admin", "--json"))
        token_response = requests.post(
            base + "/oauth2/token", data={"grant_type": "client_credentials"},
            auth=(admin["client_id"], admin["client_secret"]),
            headers={"X-Request-Id": "session-token"}, timeout=5,
        )
        assert token_response.status_code == 200, token_response.text
        assert token_response.headers["x-request-id"] == "session-token"
        token = token_response.json()["access_token"]
        listed = requests.get(base + "/admin/clients?limit=5",
                              headers={"Authorization": f"Bearer {token}",
                                       "X-Request-Id": "session-admin"}, timeout=5)
        assert listed.status_code == 200, listed.text
        bad = requests.post(base + "/oauth2/token", data={"grant_type": "password"},
                            auth=(admin["client_id"], admin["client_secret"]), timeout=5)
        assert bad.status_code == 400
        missing = requests.get(base + "/no-such-page?secret=q-s3cret", timeout=5)
        assert missing.status_code == 404
    finally:
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=30)
    # uvicorn shuts down cleanly on SIGTERM: one worker then re-raises the signal (exit
    # -15); the supervisor of several exits 0.
    assert server.returncode == (-signal.SIGTERM if workers == 1 else 0), stderr

    lines = _json_lines(stdout, "serve stdout") + _json_lines(stderr, "serve stderr")
    for text in cli_stderr:
        lines += _json_lines(text, "cli stderr", human_notices=True)
    everything = stdout + stderr + "".join(cli_stderr)
    assert admin["client_secret"] not in everything
    assert token not in everything
    assert "q-s3cret" not in everything

    events = {(line["logger"], line["event"]) for line in lines}
    if workers == 1:
        assert ("issuer.cli", "notice") in events
    # Alembic's, the server's and the issuer's own lines are all there, as JSON.
    assert ("alembic.runtime.migration", "log") in events
    assert ("uvicorn.error", "log") in events
    messages = {line.get("message") for line in lines}
    assert any(m and m.startswith("Uvicorn running on") for m in messages)
    assert any(m and m.startswith("Finished server process") for m in messages)
    by_request = {}
    for line in lines:
        if "request_id" in line:
            by_request.setdefault(line["request_id"], []).append(line["event"])
    assert "token_issued" in by_request["session-token"]
    assert by_request["session-admin"] == ["http_request"]
    statuses = {(line["path"], line["status"]) for line in lines
                if line["event"] == "http_request"}
    assert {("/oauth2/token", 400), ("/no-such-page", 404), ("/admin/clients", 200)} <= statuses
    # Lines outside a request carry no request id.
    assert all("request_id" not in line for line in lines if line["logger"] == "uvicorn.error")
