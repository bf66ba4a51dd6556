"""Processes and a small load client for the load and fault tests.

`Issuer` runs `issuer serve` (real processes, loopback) on a database of the test's own
PostgreSQL cluster; `cli()` runs the `issuer` CLI against the same database.
`hammer()` is a closed-loop HTTP/1.1 keep-alive client (stdlib asyncio): each of N
connections sends token requests back to back and records every outcome with its time,
reconnecting after a dropped connection; a request unanswered within `timeout` counts as
a hang. Kept to the stdlib so the client costs little CPU beside the issuer's workers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from helpers.procs import free_port, start, stop, tail, wait_http

from issuer.keys.kek import new_kek_text
from issuer.settings import DEFAULT_POLICY_FILE

POLICY = DEFAULT_POLICY_FILE


@dataclass
class Issuer:
    database_url: str
    log: Path
    workers: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    kek: str = field(default_factory=new_kek_text)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "ISSUER_URL": self.url,
            "ISSUER_DATABASE_URL": self.database_url,
            "ISSUER_KEY_ENCRYPTION_KEY": self.kek,
            "POLICY_FILE": POLICY,
            **self.extra_env,
        }

    def start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "issuer.cli",
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        self.proc = start(argv, env=self.env, log=self.log)
        wait_http(
            self.url + "/healthz",
            timeout=60,
            proc=self.proc,
            log=self.log,
            ok=lambda status: status == 200,
        )

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def cli(self, *args: str, env: dict[str, str] | None = None) -> object:
        done = subprocess.run(
            [sys.executable, "-m", "issuer.cli", *args],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, **self.env, **(env or {})},
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return json.loads(done.stdout) if "--json" in args else done.stdout

    def client(self, name: str, scope: str) -> tuple[str, str]:
        made = self.cli("clients", "create", "--name", name, "--scope", scope, "--json")
        return made["client_id"], made["client_secret"]

    def tail(self) -> str:
        return tail(self.log)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def token_request(port: int, authorization: str, scope: str = "orders:read") -> bytes:
    body = f"grant_type=client_credentials&scope={scope}".encode()
    head = (
        f"POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: {authorization}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Outcome:
    at: float  # monotonic, when the answer (or failure) came
    status: int  # 0: connection error, -1: no answer within the timeout (a hang)
    headers: dict[str, str]
    body: bytes


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0][9:12])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def _connection(port, request, until, timeout, out: list[Outcome]) -> None:
    writer = None
    while time.monotonic() < until():
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), timeout
                )
            writer.write(request)
            status, headers, body = await asyncio.wait_for(_read_response(reader), timeout)
            out.append(Outcome(time.monotonic(), status, headers, body))
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = None
        except TimeoutError:
            out.append(Outcome(time.monotonic(), -1, {}, b""))
            writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            out.append(Outcome(time.monotonic(), 0, {}, repr(exc).encode()))
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.05)  # the server is going or gone: do not spin
    if writer is not None:
        writer.close()


async def hammer(
    port: int, requests: list[bytes], until, timeout: float = 10.0, out: list | None = None
) -> list[Outcome]:
    """One connection per request template until `until()` (monotonic deadline) passes;
    outcomes are appended to `out` as they come (others may read it meanwhile)."""
    out = [] if out is None else out
    await asyncio.gather(*(_connection(port, r, until, timeout, out) for r in requests))
    return out


def access_token(outcome: Outcome) -> str:
    return json.loads(outcome.body)["access_token"]
