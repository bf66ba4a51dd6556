"""Issuer token endpoint under load: `POST /oauth2/token` (client_secret_basic).

For each signing algorithm (RS256, ES256): the issuer (`issuer serve`, one uvicorn
worker, in a subprocess on a free loopback port) on SQLite and on PostgreSQL, and the
ceiling (`bench/ceiling_app.py`: the same form parser and the same token signed with the
same key, nothing else) run the same way under uvicorn. The load generator
(`bench/loadgen.py`) runs in another process: N keep-alive connections, a warm-up, then a
fixed measuring window. Figures: requests per second (target >= 0.9x the ceiling) and
latency p50/p99 (target p99 < 3x p50), issue 7.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.issuer_setup import (
    BenchIssuer,
    postgres_available,
    postgres_database,
    prepare,
    sqlite_url,
)
from bench.table import Row

ROOT = Path(__file__).resolve().parents[1]
BODY = "grant_type=client_credentials"
ALGS = ("RS256", "ES256")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _claims(token: str) -> tuple[dict, dict]:
    from shared.jws import parse_compact

    parsed = parse_compact(token)
    return parsed.header, parsed.claims


def _token_request(port: int, basic: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/oauth2/token", data=BODY.encode(), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _wait_ready(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"server not ready on {port}:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def load_run(argv: list[str], env: dict[str, str], cwd: str, port: int, basic: str,
             connections: int, warmup: float, duration: float, log: Path) -> dict:
    """Start the server, check one token, load it from another process, stop it."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, env=full_env, cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        _wait_ready(port, proc, log)
        sample = _token_request(port, basic)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        loadgen = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--body", BODY,
             "--header", "Content-Type: application/x-www-form-urlencoded",
             "--header", f"Authorization: {basic}", "--connections", str(connections),
             "--warmup", str(warmup), "--duration", str(duration)],
            cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
            capture_output=True, text=True)
        result = json.loads(loadgen.stdout)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The generator's CPU share of its run: near 1.0 would mean it, not the server,
        # limits the rate (it is one Python process).
        result["loadgen_cpu"] = (after.ru_utime + after.ru_stime - before.ru_utime
                                 - before.ru_stime) / (warmup + duration)
        print(f"bench:   {result['rps']:.0f} req/s, load generator CPU "
              f"{result['loadgen_cpu']:.0%} of one core", file=sys.stderr, flush=True)
    finally:
        _stop(proc)
    bad = {k: v for k, v in result["statuses"].items() if k != "200"}
    if bad or result["errors"] or not result["requests"]:
        raise RuntimeError(f"{argv[2:4]}: non-200 answers {bad} errors {result['errors']}:\n"
                           f"{log.read_text()[-2000:]}")
    result["sample"] = _claims(sample["access_token"])
    return result


def _issuer_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "issuer.cli", "serve", "--host", "127.0.0.1",
            "--port", str(port)]


def _ceiling_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "bench.ceiling_app:app_factory", "--factory",
            "--host", "127.0.0.1", "--port", str(port)]


def _same_token_shape(a: tuple[dict, dict], b: tuple[dict, dict]) -> None:
    (ha, ca), (hb, cb) = a, b
    same = (ha["alg"] == hb["alg"] and ha["typ"] == hb["typ"] and set(ca) == set(cb)
            and all(ca[k] == cb[k] for k in ("iss", "aud", "scope"))
            and ca["exp"] - ca["iat"] == cb["exp"] - cb["iat"])
    if not same:
        raise RuntimeError(f"ceiling token differs from the issuer's: {a} vs {b}")


def measure(quick: bool) -> dict:
    connections = 8
    warmup, duration = (0.7, 1.5) if quick else (2.0, 6.0)
    with_pg = postgres_available()
    out: dict = {"connections": connections, "duration": duration, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-issuer-") as tmp:
        log = Path(tmp, "servers.log")
        for alg in ALGS:
            lite = prepare(sqlite_url(tmp, alg), alg)
            targets: list[tuple[str, list[str], BenchIssuer]] = []
            port = free_port()
            targets.append(("ceiling", _ceiling_argv(port), lite))
            targets.append(("sqlite", _issuer_argv(free_port()), lite))
            for name, argv, issuer in targets:
                port = int(argv[-1])
                env = issuer.ceiling_env if name == "ceiling" else issuer.env
                print(f"bench: issuer {alg} {name} ...", file=sys.stderr, flush=True)
                out["runs"][(alg, name)] = load_run(argv, env, tmp, port, issuer.basic,
                                                    connections, warmup, duration, log)
            if with_pg:
                with postgres_database() as url:
                    pg = prepare(url, alg)
                    print(f"bench: issuer {alg} postgres ...", file=sys.stderr, flush=True)
                    port = free_port()
                    out["runs"][(alg, "postgres")] = load_run(
                        _issuer_argv(port), pg.env, tmp, port, pg.basic, connections,
                        warmup, duration, log)
            ceiling = out["runs"][(alg, "ceiling")]["sample"]
            for name in ("sqlite", "postgres"):
                if (alg, name) in out["runs"]:
                    _same_token_shape(out["runs"][(alg, name)]["sample"], ceiling)
    return out


def run(options: list[str]) -> list[Row]:
    m = measure("--quick" in options)
    rows: list[Row] = []
    n, secs = m["connections"], m["duration"]
    for alg in ALGS:
        ceiling = m["runs"][(alg, "ceiling")]
        label = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
        for name in ("sqlite", "postgres"):
            r = m["runs"].get((alg, name))
            if r is None:
                continue
            where = f"{alg}, {label[name]}"
            rows.append(Row("issuer", f"POST /oauth2/token throughput ({where}, {n} conns, "
                            f"{secs:g} s)", r["rps"], "req/s", f"ceiling app {alg}",
                            ceiling["rps"], ">= 0.9x"))
            rows.append(Row("issuer", f"POST /oauth2/token p50 latency ({where})",
                            r["p50_ms"], "ms", f"ceiling app {alg} p50", ceiling["p50_ms"]))
            rows.append(Row("issuer", f"POST /oauth2/token p99 latency ({where})",
                            r["p99_ms"], "ms", "its own p50", r["p50_ms"], "< 3x"))
        rows.append(Row("issuer", f"ceiling app p99 latency ({alg})", ceiling["p99_ms"], "ms",
                        "its own p50", ceiling["p50_ms"], "< 3x"))
    return rows


if __name__ == "__main__":
    from bench.table import render

    print(render(run(sys.argv[1:])))
