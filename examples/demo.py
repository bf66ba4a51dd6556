"""`make run`: the issuer, an example API and the local gateway in front of it, on loopback.

    python -m examples.demo

Starts, each in its own process group so that Ctrl-C (SIGINT) or SIGTERM stops
everything it started and nothing else:
  1. the issuer on SQLite (127.0.0.1:8000; database and KEK under .tollgate/, reused
     across runs, so tokens and keys survive a restart);
  2. the example API (examples/api.py) on a free loopback port;
  3. the gateway (authorizer/gateway.py, the real Lambda handler) on 127.0.0.1:8080;
then registers a demo client and prints the walkthrough (examples/walkthrough.py).

Environment (tests use these to run beside a developer's `make run`):
  TOLLGATE_STATE_DIR (default .tollgate), TOLLGATE_ISSUER_PORT (8000),
  TOLLGATE_GATEWAY_PORT (8080), POLICY_FILE (default shared/example_policy.toml).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from examples.walkthrough import render
from shared.policy import load_policy

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 60.0


class DemoError(Exception):
    """Something the person running `make run` must fix; the message says what."""


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise DemoError(f"{name} must be a TCP port number, got {raw!r}")
    return int(raw)


def _check_free(port: int, what: str, variable: str) -> None:
    with socket.socket() as s:
        # As the servers do (allow_reuse_address): connections of a previous run still
        # in TIME_WAIT must not count as "in use".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            raise DemoError(
                f"{HOST}:{port} is already in use, so the {what} cannot start there "
                f"(another `make run`?). Stop that, or choose another port: {variable}=..."
            ) from None


def _issuer_command() -> list[str]:
    script = Path(sys.executable).with_name("issuer")
    found = str(script) if script.exists() else shutil.which("issuer")
    if not found:
        raise DemoError("the `issuer` command is not installed: run `make install`")
    return [found]


class Processes:
    """The children, each a process-group leader; stop() ends the groups, newest first."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], log: Path,
              stdout: int | None = None) -> subprocess.Popen:
        with open(log, "ab") as log_file:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                stdout=stdout if stdout is not None else log_file, stderr=log_file,
                start_new_session=True,
            )
        self.children.append((name, proc))
        return proc

    def dead(self) -> tuple[str, int] | None:
        for name, proc in self.children:
            if proc.poll() is not None:
                return name, proc.returncode
        return None

    def stop(self) -> None:
        for _, proc in reversed(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, proc in reversed(self.children):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers left in the group
            if proc.stdout:
                proc.stdout.close()


def _wait_http(url: str, ok: int, procs: Processes, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if (gone := procs.dead()) is not None:
            raise DemoError(f"the {gone[0]} exited with status {gone[1]}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback URL
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = None
        if status == ok:
            return
        time.sleep(0.1)
    raise DemoError(f"{url} did not answer {ok} within {READY_TIMEOUT:.0f}s; see {log}")


def _create_client(issuer_env: dict[str, str]) -> dict:
    argv = [*_issuer_command(), "clients", "create", "--name", "demo",
            "--scope", "orders:read", "--json"]
    done = subprocess.run(argv, cwd=REPO, env=issuer_env, capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise DemoError(f"`issuer clients create` failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def run(procs: Processes) -> None:
    started = time.monotonic()
    issuer_port = _port("TOLLGATE_ISSUER_PORT", 8000)
    gateway_port = _port("TOLLGATE_GATEWAY_PORT", 8080)
    _check_free(issuer_port, "issuer", "TOLLGATE_ISSUER_PORT")
    _check_free(gateway_port, "gateway", "TOLLGATE_GATEWAY_PORT")
    state = Path(os.environ.get("TOLLGATE_STATE_DIR") or REPO / ".tollgate").resolve()
    state.mkdir(parents=True, exist_ok=True)
    policy = Path(os.environ.get("POLICY_FILE") or REPO / "shared/example_policy.toml").resolve()
    audiences = ",".join(api.audience for api in load_policy(policy).apis.values())
    issuer_url = f"http://{HOST}:{issuer_port}"
    gateway_url = f"http://{HOST}:{gateway_port}"

    issuer_env = {
        **os.environ, "ISSUER_URL": issuer_url, "POLICY_FILE": str(policy),
        "ISSUER_DATABASE_URL": f"sqlite:///{state / 'issuer.db'}",
        # Generated once by the issuer into this file, then reused by every run.
        "ISSUER_KEK_FILE": str(state / "kek"),
    }
    log = state / "issuer.log"
    procs.start("issuer", [*_issuer_command(), "serve", "--host", HOST,
                           "--port", str(issuer_port)], issuer_env, log)
    _wait_http(f"{issuer_url}/healthz", 200, procs, log)
    client = _create_client(issuer_env)

    # The API picks a free port and prints it: nobody but the gateway calls it.
    api = procs.start("example API", [sys.executable, "-m", "examples.api", "--port", "0"],
                      dict(os.environ), state / "api.log", stdout=subprocess.PIPE)
    first = api.stdout.readline().decode() if api.stdout else ""
    if "http://" not in first:
        raise DemoError(f"the example API did not start; see {state / 'api.log'}")
    api_url = first.strip().rsplit(" ", 1)[-1]

    gateway_env = {
        **os.environ, "AUTHORIZER_ISSUER": issuer_url, "AUTHORIZER_AUDIENCE": audiences,
        "POLICY_FILE": str(policy),
    }
    log = state / "gateway.log"
    procs.start("gateway", [sys.executable, "-m", "authorizer.gateway", "--upstream", api_url,
                            "--host", HOST, "--port", str(gateway_port)], gateway_env, log)
    _wait_http(f"{gateway_url}/", 401, procs, log)  # 401 without a token: it is up

    hint = (f"ISSUER_DATABASE_URL={issuer_env['ISSUER_DATABASE_URL']} "
            f"ISSUER_KEK_FILE={issuer_env['ISSUER_KEK_FILE']} "
            f"POLICY_FILE={policy} .venv/bin/issuer clients create --name demo "
            f'--scope "orders:read" --json')
    print(render(issuer_url, gateway_url, client["client_id"], client["client_secret"], hint))
    print(f"(ready in {time.monotonic() - started:.1f}s; logs in {state})", flush=True)


def _on_signal(signum, frame) -> None:
    raise KeyboardInterrupt  # one path out: the finally below


def main() -> int:
    # Set both explicitly: a shell starts background jobs with SIGINT ignored, and
    # Python keeps an inherited "ignore".
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    procs = Processes()
    try:
        run(procs)
        while (gone := procs.dead()) is None:
            time.sleep(0.5)
        print(f"\nThe {gone[0]} exited with status {gone[1]}; stopping.", file=sys.stderr)
        return 1
    except DemoError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        procs.stop()


if __name__ == "__main__":
    sys.exit(main())
