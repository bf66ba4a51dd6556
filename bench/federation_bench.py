"""The token endpoint for federated clients next to secret clients (issue 17).

One `issuer serve` (SQLite, RS256 signing key, one worker) holds a client_secret client
and a federated client of a trusted issuer (inline RS256 JWKS, reuse allowed as for
Kubernetes and GitHub tokens: the load generator sends one request over and over). The
load generator (`bench/loadgen.py`, its own process) alternates rounds between the two
request kinds against the same server, so both see the same machine: client_secret_basic
(answered from memory, on the event loop) and the federated assertion (parsed, the
trusted issuer and the identity read from `issuer/federation/directory.py`'s cache, the
RS256 signature verified, then the same grant and signing, in one thread-pool hop).
Figures: median req/s over the rounds and the median per-round ratio; latency p50 of
the pooled samples. An issuer that does not allow reuse adds one INSERT per request
(the replay store), not measured here (the load generator sends a fixed body).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.issuer_bench import ROOT, _issuer_argv, _stop, _wait_ready, free_port
from bench.issuer_setup import prepare, sqlite_url
from bench.loadgen import percentile
from bench.table import Row

SECTION = "federation"
EXTERNAL_ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/BENCH"
SUBJECT = "system:serviceaccount:bench:worker"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _federated_client(env: dict[str, str]) -> str:
    """Trust an external issuer (a fresh RS256 key, inline) and register a federated
    client for one subject; returns the form body of a token request with its token."""
    from urllib.parse import urlencode

    from issuer.audit import Actor
    from issuer.clients.registry import create_client
    from issuer.federation import trusted_issuers
    from issuer.federation.jwks import UriPolicy
    from issuer.services import build_services
    from issuer.settings import load_settings
    from shared.jwa import generate_private_key
    from shared.jwk import public_jwk
    from shared.jws import encode_compact

    settings = load_settings(env, env_file=None)
    services = build_services(settings)
    key = generate_private_key("RS256")
    jwk = public_jwk(key, "RS256")
    try:
        with services.sessions() as session:
            trusted_issuers.add(
                session,
                {"issuer": EXTERNAL_ISSUER, "jwks": {"keys": [jwk]}, "allow_reuse": True},
                Actor("bench", "local"), services.clock(), UriPolicy.development())
            create_client(session, services.hasher, services.policy, name="bench-federated",
                          scopes=["orders:read"], auth_method="federated",
                          federated_identities=[(EXTERNAL_ISSUER, SUBJECT)])
    finally:
        services.engine.dispose()
    now = int(time.time())
    token = encode_compact(
        {"typ": "JWT", "kid": jwk["kid"]},
        {"iss": EXTERNAL_ISSUER, "sub": SUBJECT, "aud": settings.token_endpoint,
         "iat": now, "nbf": now, "exp": now + 3000, "jti": "bench"},
        key, "RS256")
    return urlencode({"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
                      "client_assertion": token})


def _round(port: int, body: str, headers: list[str], warmup: float, duration: float) -> dict:
    argv = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--body", body,
            "--header", "Content-Type: application/x-www-form-urlencoded",
            "--connections", "8", "--warmup", str(warmup), "--duration", str(duration),
            "--latencies"]
    for header in headers:
        argv += ["--header", header]
    done = subprocess.run(argv, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)},
                          check=True, capture_output=True, text=True)
    result = json.loads(done.stdout)
    bad = {k: v for k, v in result["statuses"].items() if k != "200"}
    if bad or result["errors"] or not result["requests"]:
        raise RuntimeError(f"non-200 answers {bad}, errors {result['errors']}")
    return result


def measure(quick: bool) -> dict:
    warmup, duration, rounds = (0.3, 1.0, 2) if quick else (1.0, 3.0, 5)
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-federation-") as tmp:
        bench = prepare(sqlite_url(tmp, "RS256"), "RS256")
        federated_body = _federated_client(bench.env)
        port = free_port()
        log = Path(tmp) / "serve.log"
        env = {**os.environ, **bench.env, "PYTHONPATH": str(ROOT)}
        with open(log, "ab") as out:
            proc = subprocess.Popen(_issuer_argv(port), env=env, cwd=tmp, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        try:
            _wait_ready(port, proc, log)
            kinds = {
                "secret": ("grant_type=client_credentials", [f"Authorization: {bench.basic}"]),
                "federated": (federated_body, []),
            }
            results: dict[str, list[dict]] = {"secret": [], "federated": []}
            order = ["secret", "federated"]
            for n in range(rounds):
                for kind in order if n % 2 == 0 else reversed(order):
                    body, headers = kinds[kind]
                    result = _round(port, body, headers, warmup, duration)
                    results[kind].append(result)
                    print(f"bench:   {kind}: {result['rps']:.0f} req/s", file=sys.stderr,
                          flush=True)
        finally:
            _stop(proc)
    summary = {}
    for kind, runs in results.items():
        pooled = sorted(x for r in runs for x in r["latencies_ms"])
        summary[kind] = {"rps": statistics.median(r["rps"] for r in runs),
                         "p50_ms": percentile(pooled, 0.50), "p99_ms": percentile(pooled, 0.99)}
    summary["ratios"] = [f["rps"] / s["rps"] for f, s in zip(results["federated"],
                                                              results["secret"], strict=True)]
    return summary


def run(options: list[str]) -> list[Row]:
    result = measure("--quick" in options)
    fed, secret = result["federated"], result["secret"]
    note = ("federated: RS256 assertion verified per request, reuse allowed (no replay "
            "INSERT), one thread-pool hop; per-round ratios "
            + ", ".join(f"{r:.2f}" for r in result["ratios"]))
    return [
        Row(SECTION, "POST /oauth2/token throughput, federated client (RS256 assertion, "
                     "SQLite)", fed["rps"], "req/s", "client_secret_basic, same server",
            secret["rps"], note=note, paired_ratio=statistics.median(result["ratios"])),
        Row(SECTION, "POST /oauth2/token p50 latency, federated client (RS256 assertion, "
                     "SQLite)", fed["p50_ms"], "ms", "client_secret_basic, same server",
            secret["p50_ms"]),
        Row(SECTION, "POST /oauth2/token p99 latency, federated client (RS256 assertion, "
                     "SQLite)", fed["p99_ms"], "ms", "client_secret_basic, same server",
            secret["p99_ms"]),
    ]
