"""`make run` as a user meets it: start the demo, copy the printed commands, run them.

Each printed command carries the status it promises (`# expect NNN`); this test runs
them as printed (with curl through bash when curl exists, else the same request with
urllib) and holds the demo to every promise. Real processes on free loopback ports.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from base64 import b64encode
from pathlib import Path

import pytest
from helpers.procs import REPO, free_port, stop
from helpers.procs import http as request

pytestmark = pytest.mark.slow

WALKTHROUGH_BUDGET = 120.0  # seconds from start to the printed walkthrough
COMMAND = re.compile(r"^\s{5}((?:curl|export TOKEN=).*?)(?:\s+# expect (\d{3}))?$")
EXPORT = re.compile(r"^export TOKEN=\$\((curl .*?) \| python3 -c .*\)$")


class Demo:
    def __init__(self, state: Path, ports: tuple[int, int] | None = None) -> None:
        self.issuer_port, self.gateway_port = ports or (free_port(), free_port())
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "examples.demo"], cwd=REPO, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
            env={**_env(), "TOLLGATE_STATE_DIR": str(state),
                 "TOLLGATE_ISSUER_PORT": str(self.issuer_port),
                 "TOLLGATE_GATEWAY_PORT": str(self.gateway_port)},
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, marker: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.output.append(line)
            if marker in line:
                return self.output
        raise AssertionError(f"no {marker!r} within {timeout}s:\n" + "\n".join(self.output))


def _env() -> dict[str, str]:
    # The demo sets these itself; a developer's own must not leak into it.
    return {k: v for k, v in os.environ.items() if not k.startswith(("ISSUER_", "AUTHORIZER_"))}


def _commands(output: list[str]) -> list[tuple[str, int | None]]:
    found = [(m[1], int(m[2]) if m[2] else None) for m in map(COMMAND.match, output) if m]
    assert found, "no commands in the walkthrough:\n" + "\n".join(output)
    return found


def _status_line(text: str) -> int:
    statuses = re.findall(r"^HTTP/[\d.]+ (\d{3})", text, re.MULTILINE)
    assert statuses, text
    return int(statuses[-1])


def _run_with_curl(command: str, token: str) -> tuple[int | None, str]:
    done = subprocess.run(["bash", "-c", f'{command}\necho; echo "TOKEN=$TOKEN"'],
                          env={**_env(), "TOKEN": token}, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    new_token = re.search(r"^TOKEN=(.*)$", done.stdout, re.MULTILINE)[1]
    is_export = command.startswith("export")
    return (None if is_export else _status_line(done.stdout)), new_token


def _run_with_urllib(command: str, token: str) -> tuple[int | None, str]:
    """The same request as the printed curl command, for machines without curl."""
    if m := EXPORT.match(command):
        status, body = _urllib_curl(shlex.split(m[1]), token)
        assert status == 200, body
        return None, json.loads(body)["access_token"]
    return _urllib_curl(shlex.split(command.replace("$TOKEN", token)), token)[0], token


def _urllib_curl(argv: list[str], token: str) -> tuple[int, bytes]:
    args = iter(argv[1:])
    method, headers, data, url = None, {}, None, None
    for arg in args:
        if arg in ("-i", "-s"):
            continue
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip().replace("$TOKEN", token)
        elif arg == "-d":
            data = next(args).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif arg == "-u":
            headers["Authorization"] = "Basic " + b64encode(next(args).encode()).decode()
        else:
            url = arg
    status, _, body = request(method or ("POST" if data else "GET"), url,
                              headers=headers, data=data)
    return status, body


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_walkthrough_commands_do_what_they_say(tmp_path):
    started = time.monotonic()
    demo = Demo(tmp_path / "state")
    try:
        output = demo.wait_for("Press Ctrl-C", WALKTHROUGH_BUDGET)
        took = time.monotonic() - started
        assert took < WALKTHROUGH_BUDGET
        print(f"time to walkthrough: {took:.1f}s")

        # As printed, through bash and curl; and the urllib replica (what runs where
        # curl is missing) must agree with it, so it is exercised here too.
        runners = [_run_with_urllib]
        if shutil.which("curl"):
            runners.insert(0, _run_with_curl)
        for run in runners:
            token, seen = "", []
            for command, expect in _commands(output):
                status, token = run(command, token)
                seen.append(expect)
                assert status == expect, f"{command!r} gave {status}, expected {expect}"
            assert token.count(".") == 2  # the export step left a JWT in $TOKEN
            assert {200, 401, 403} <= set(seen)

        # What the API received came through the authorizer, with its context.
        status, _, body = request("GET", f"http://127.0.0.1:{demo.gateway_port}/orders",
                                  headers={"Authorization": f"Bearer {token}"})
        assert status == 200
        assert json.loads(body)["authorizer"]["scope"] == "orders:read"

        # Ctrl-C stops everything it started.
        demo.proc.send_signal(signal.SIGINT)
        assert demo.proc.wait(20) == 0
        assert _port_closed(demo.gateway_port) and _port_closed(demo.issuer_port)
    finally:
        stop(demo.proc)


def test_restart_reuses_database_and_keys(tmp_path):
    state = tmp_path / "state"
    first = Demo(state)
    try:
        output = first.wait_for("Press Ctrl-C", WALKTHROUGH_BUDGET)
        m = next(EXPORT.match(c) for c, _ in _commands(output) if EXPORT.match(c))
        _, body = _urllib_curl(shlex.split(m[1]), "")
        token = json.loads(body)["access_token"]
    finally:
        first.proc.send_signal(signal.SIGTERM)
        first.proc.wait(20)
        stop(first.proc)

    # Same ports: the issuer URL is the tokens' `iss`, so it must not change.
    second = Demo(state, (first.issuer_port, first.gateway_port))
    try:
        second.wait_for("Press Ctrl-C", WALKTHROUGH_BUDGET)
        # A token signed before the restart still verifies: same database, same KEK.
        status, _, _ = request("GET", f"http://127.0.0.1:{second.gateway_port}/orders/1",
                               headers={"Authorization": f"Bearer {token}"})
        assert status == 200
    finally:
        stop(second.proc)


def test_port_in_use_fails_clearly(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "examples.demo"], cwd=REPO, capture_output=True, text=True,
            timeout=30, check=False,
            env={**_env(), "TOLLGATE_STATE_DIR": str(tmp_path),
                 "TOLLGATE_ISSUER_PORT": str(port), "TOLLGATE_GATEWAY_PORT": str(free_port())},
        )
    assert done.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in done.stderr
    assert "TOLLGATE_ISSUER_PORT" in done.stderr
    assert "Traceback" not in done.stderr
