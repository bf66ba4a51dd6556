"""The issuer's Lambda path: one token request per invocation through Mangum, in-process.

`Mangum(create_app(settings), lifespan="off")` gets an API Gateway HTTP API (payload 2.0)
event for `POST /oauth2/token` with client_secret_basic; the ceiling app
(`bench/ceiling_app.py`, same form parser, same token, same key) goes through Mangum the
same way. Invocations alternate (issuer, ceiling, issuer, ...) so machine noise hits both
alike; figures are the median per invocation after a warm-up. No target in issue 7; the
token endpoint's >= 0.9x throughput target would read as <= 1.11x here.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time

from bench.issuer_setup import (
    AUDIENCE,
    SCOPE,
    BenchIssuer,
    postgres_available,
    postgres_database,
    prepare,
    sqlite_url,
)
from bench.table import Row

BODY = "grant_type=client_credentials"


class _Context:
    function_name = "tollgate-issuer"
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:tollgate-issuer"
    memory_limit_in_mb = 512

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def token_event(basic: str) -> dict:
    """An HTTP API payload 2.0 event for the token request, as API Gateway sends it."""
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "POST /oauth2/token",
        "rawPath": "/oauth2/token",
        "rawQueryString": "",
        "headers": {
            "accept": "*/*",
            "authorization": basic,
            "content-length": str(len(BODY)),
            "content-type": "application/x-www-form-urlencoded",
            "host": "abcdef1234.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "bench",
            "x-amzn-trace-id": "Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e",
            "x-forwarded-for": "10.0.0.1",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {"method": "POST", "path": "/oauth2/token", "protocol": "HTTP/1.1",
                     "sourceIp": "10.0.0.1", "userAgent": "bench"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "POST /oauth2/token",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": BODY,
        "isBase64Encoded": False,
    }


def handlers(issuer: BenchIssuer):
    from mangum import Mangum

    from bench.ceiling_app import ceiling_app, load_signer
    from issuer.http.app import create_app
    from issuer.settings import load_settings

    settings = load_settings(issuer.env, env_file=None)
    app = create_app(settings)
    ceiling = ceiling_app(settings, load_signer(settings), issuer.client_id, AUDIENCE, SCOPE)
    return app, Mangum(app, lifespan="off"), Mangum(ceiling, lifespan="off")


def per_invocation(issuer: BenchIssuer, n: int) -> dict:
    app, ours, ceiling = handlers(issuer)
    event, context = token_event(issuer.basic), _Context()
    for handler in (ours, ceiling):
        for _ in range(20):
            response = handler(event, context)
            if response["statusCode"] != 200:
                raise RuntimeError(f"Lambda path answered {response}")
    clock = time.perf_counter_ns
    a, b = [], []
    for _ in range(n):
        t0 = clock()
        ours(event, context)
        t1 = clock()
        ceiling(event, context)
        t2 = clock()
        a.append((t1 - t0) / 1000)
        b.append((t2 - t1) / 1000)
    app.state.services.engine.dispose()
    return {"issuer": statistics.median(a), "ceiling": statistics.median(b)}


def run(options: list[str]) -> list[Row]:
    n = 100 if "--quick" in options else 600
    asyncio.set_event_loop(asyncio.new_event_loop())  # Mangum runs on the current loop
    rows = []
    with_pg = postgres_available()
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-lambda-") as tmp:
        for alg in ("RS256", "ES256"):
            figures = {"SQLite": per_invocation(prepare(sqlite_url(tmp, alg), alg), n)}
            if with_pg:
                with postgres_database() as url:
                    figures["PostgreSQL"] = per_invocation(prepare(url, alg), n)
            for db, f in figures.items():
                rows.append(Row("lambda", f"Mangum token invocation ({alg}, {db}, median "
                                f"of {n})", f["issuer"], "us", f"ceiling app via Mangum {alg}",
                                f["ceiling"]))
    return rows


if __name__ == "__main__":
    from bench.table import render

    print(render(run(sys.argv[1:])))
