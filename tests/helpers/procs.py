"""Real processes on loopback for tests: free ports, readiness polling, group cleanup.

Every process is started in its own session (process group) so that stopping it also
stops whatever it spawned (uvicorn workers, node children of serverless-offline).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A port free right now (the OS picks it); callers start their server at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(
    argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | str = REPO,
    log: Path | None = None, stdout: int | None = None,
) -> subprocess.Popen:
    """Start argv in a new process group; output to `log` (a file) unless stdout is given."""
    out = stdout if stdout is not None else (
        open(log, "ab") if log else subprocess.DEVNULL
    )
    return subprocess.Popen(
        argv, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the whole group, then SIGKILL it if it is still there after `timeout`."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; children in its group may linger (node workers): kill them.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


@contextlib.contextmanager
def running(argv: list[str], **kwargs) -> Iterator[subprocess.Popen]:
    proc = start(argv, **kwargs)
    try:
        yield proc
    finally:
        stop(proc)


@contextlib.contextmanager
def serving(server) -> Iterator[tuple[str, int]]:
    """Run a bound `socketserver` server (an `http.server` one) on a thread; yields its
    (host, port), and shuts it down and closes its socket on the way out."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def wait_http(
    url: str, *, timeout: float = 30.0, proc: subprocess.Popen | None = None,
    log: Path | None = None, ok=lambda status: status < 500,
) -> None:
    """Poll url until it answers with a status `ok` accepts; fail early if proc died."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited {proc.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if ok(resp.status):
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            if ok(exc.code):
                return
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s ({last}):\n{tail(log)}")


def tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not Path(log).exists():
        return ""
    return "\n".join(Path(log).read_text(errors="replace").splitlines()[-lines:])


def http(
    method: str, url: str, *, headers: dict[str, str] | None = None,
    data: bytes | None = None, timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request; HTTP errors are answers too (status, headers, body)."""
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
