"""Authorizer decision time and cold-start import time, against PyJWT in the same run.

Figures (per decision, median over the run):
- first-seen: the Lambda handler on distinct RS256 tokens, each seen once (full verify,
  policy compile, response build, log line);
- repeat: the same handler on tokens it has seen (token cache hit);
- PyJWT: bare `jwt.decode` of the same tokens (key object given, iss/aud checked), the
  baseline; ratios are ours / PyJWT's.
- import: `import authorizer.handler` in a fresh interpreter (only the two required
  settings) against `import jwt`, median of several runs, with and without the bare
  interpreter start (`python -c pass`).
Targets: first-seen <= 1.2x PyJWT, repeat < 10 us, import <= 1.1x `import jwt`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "https://issuer.example.com"
AUDIENCE = "https://api.example.com/orders"
POLICY = """
[apis.orders]
audience = "https://api.example.com/orders"
[apis.orders.scopes]
"orders:read" = "Read orders"
"orders:write" = "Write orders"
[[apis.orders.routes]]
method = "GET"
path = "/orders/{id}"
scopes = ["orders:read"]
[[apis.orders.routes]]
method = "GET"
path = "/orders"
scopes = ["orders:read"]
[[apis.orders.routes]]
method = "POST"
path = "/orders"
scopes = ["orders:write"]
"""
ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/GET/orders/42"


def _event(token: str) -> dict:
    # A REST API REQUEST event as API Gateway sends it (headers trimmed to a typical set).
    return {
        "type": "REQUEST", "methodArn": ARN, "resource": "/orders/{id}", "path": "/orders/42",
        "httpMethod": "GET",
        "headers": {"Accept": "*/*", "Host": "abcdef1234.execute-api.eu-west-1.amazonaws.com",
                    "User-Agent": "bench", "X-Forwarded-For": "10.0.0.1",
                    "Authorization": "Bearer " + token},
        "multiValueHeaders": {"Authorization": ["Bearer " + token]},
        "requestContext": {"apiId": "abcdef1234", "stage": "prod", "httpMethod": "GET"},
    }


def _tokens(n: int):
    import json

    from shared.b64 import b64url_encode
    from shared.jwk import generate_private_key, public_jwk, sign

    private = generate_private_key("RS256")
    jwk = public_jwk(private.public_key(), "RS256")

    header = b64url_encode(json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": jwk["kid"]},
                                      separators=(",", ":")).encode())
    now = int(time.time())
    tokens = []
    for _ in range(n):
        claims = {"iss": ISSUER, "sub": "client-1", "aud": AUDIENCE, "exp": now + 3600,
                  "iat": now, "jti": uuid.uuid4().hex, "client_id": "client-1",
                  "scope": "orders:read orders:write"}
        body = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
        data = f"{header}.{body}".encode()
        tokens.append(f"{header}.{body}." + b64url_encode(sign(private, "RS256", data)))
    return private, jwk, tokens


def _per_call(fn, items) -> list[float]:
    """Microseconds per call, one timing per item."""
    clock = time.perf_counter_ns
    out = []
    for item in items:
        start = clock()
        fn(item)
        out.append((clock() - start) / 1000)
    return out


def decision_figures(n: int) -> dict:
    import json

    import jwt

    from authorizer.coldstart import build_authorizer
    from authorizer.log import DecisionLog
    from authorizer.settings import Settings
    from shared.policy import parse_policy

    private, jwk, tokens = _tokens(n)
    settings = Settings.from_env(
        {"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE}, cwd="/nonexistent")
    sink = open(os.devnull, "w")
    authorizer = build_authorizer(
        settings, fetcher=lambda uri: json.dumps({"keys": [jwk]}).encode(),
        log=DecisionLog(sink.write), policy=parse_policy(POLICY, "bench"))
    handler = authorizer.lambda_handler
    events = [_event(t) for t in tokens]
    handler(events[0])  # cold path once: JWKS fetch, policy compile for this scope set
    first = _per_call(handler, events[1:])
    repeat = []
    for _ in range(5):
        repeat += _per_call(handler, events)
    public = private.public_key()

    def pyjwt(token):
        jwt.decode(token, public, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)

    baseline = _per_call(pyjwt, tokens[1:])
    sink.close()
    return {"first": statistics.median(first), "repeat": statistics.median(repeat),
            "pyjwt": statistics.median(baseline), "n": n}


def _import_time(code: str, env: dict, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd="/",
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def import_figures(runs: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHORIZER_", "POLICY"))}
    env.update({"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE,
                "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"})
    figures = {}
    # Interleaved so machine noise hits all three alike.
    samples: dict[str, list[float]] = {"pass": [], "jwt": [], "handler": []}
    codes = {"pass": "pass", "jwt": "import jwt", "handler": "import authorizer.handler"}
    for _ in range(runs):
        for name, code in codes.items():
            samples[name].append(_import_time(code, env, 1))
    for name, values in samples.items():
        figures[name] = statistics.median(values)
    return figures


def run(options: list[str]) -> None:
    quick = "--quick" in options
    n = 300 if quick else 2000
    runs = 5 if quick else 11
    d = decision_figures(n)
    print(f"authorizer decision ({d['n']} distinct RS256 tokens, REST REQUEST event, median)")
    print(f"  first-seen (handler)     {d['first']:8.1f} us")
    print(f"  PyJWT jwt.decode (bare)  {d['pyjwt']:8.1f} us")
    print(f"  first-seen / PyJWT       {d['first'] / d['pyjwt']:8.2f} x   (target <= 1.2)")
    print(f"  repeat (handler)         {d['repeat']:8.2f} us  (target < 10)")
    print(f"  repeat / PyJWT           {d['repeat'] / d['pyjwt']:8.3f} x")
    i = import_figures(runs)
    net_h, net_j = i["handler"] - i["pass"], i["jwt"] - i["pass"]
    print(f"cold-start import (fresh interpreter, median of {runs})")
    print(f"  python -c pass                 {i['pass']:7.1f} ms")
    print(f"  import jwt                     {i['jwt']:7.1f} ms  (net {net_j:6.1f} ms)")
    print(f"  import authorizer.handler      {i['handler']:7.1f} ms  (net {net_h:6.1f} ms)")
    print(f"  handler / jwt                  {i['handler'] / i['jwt']:7.2f} x   "
          f"(net {net_h / net_j:5.2f} x; target <= 1.1)")
