"""Run an ASGI app under real uvicorn on a loopback port, in a thread, for tests that
talk real HTTP (stock OAuth client libraries). The socket is bound first, so the URL
is known before the app is built and no other process can take the port."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import uvicorn


def bind_loopback() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve(
    app_for_url: Callable[[str], object], cert: Path | None = None, key: Path | None = None
) -> Iterator[str]:
    """`app_for_url(base_url)` builds the app; yields the base URL while it serves: over
    https with `cert` and `key` (PEM files), else http."""
    sock = bind_loopback()
    scheme = "http" if cert is None else "https"
    base_url = f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"
    tls = {} if cert is None else {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    config = uvicorn.Config(app_for_url(base_url), log_level="warning", lifespan="on", **tls)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_healthy(base_url: str, server: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll `issuer serve`'s /healthz until it answers 200; fail with the server's output
    if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(base_url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert server.poll() is None, server.communicate()
        assert time.monotonic() < deadline, "issuer serve did not come up"
        time.sleep(0.2)
