"""Authorizer decision time and cold start, against PyJWT in the same run.

Figures (per decision, median over the run), for RS256 and ES256:
- first-seen: the Lambda handler on distinct tokens, each seen once (full verify, policy
  compile per scope profile, response build, log line);
- repeat: the same handler on tokens it has seen (token cache hit);
- PyJWT: bare `jwt.decode` of the same tokens (key object given, iss/aud checked), the
  baseline, timed interleaved with the handler token by token; ratios are ours / PyJWT's.
- first-seen as Lambda runs it (`bench/authorizer_pipe.py`): decision lines down a stdout
  pipe flushed per write, in a fresh interpreter per round, the mean per decision against
  PyJWT's mean, median of the rounds' ratios (RS256);
- cold start: `import authorizer.handler` in a fresh interpreter with the settings, the
  policy file and a bundled JWKS file (what a Lambda init does) against
  `python -c "import jwt"`, median of several interleaved runs, whole process and net of
  the bare interpreter start (`python -c pass`).
- DPoP-bound tokens (RFC 9449, `cnf.jkt`; issue 16): first-seen (new token, fresh ES256
  proof) and repeat (cached token, a fresh proof per request, which is verified every
  time: the proof check is never cached) next to bearer tokens of the same issuer key,
  timed interleaved in the same run; the certificate-bound repeat (`cnf.x5t#S256`,
  thumbprint of the event's PEM) likewise. Proofs are signed before timing (the client's
  cost, not the authorizer's).
Targets (issue 7): first-seen <= 1.0x PyJWT (medians, and means as Lambda runs it),
repeat < 10 us, cold start <= 1.1x.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.table import Row, spread

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
DOMAIN = "abcdef1234.execute-api.eu-west-1.amazonaws.com"
URL = f"https://{DOMAIN}/prod/orders/42"  # what a DPoP proof names (htu)


def _event(token: str, scheme: str = "Bearer", dpop: str | None = None,
           cert: str | None = None) -> dict:
    # A REST API REQUEST event as API Gateway sends it (headers trimmed to a typical set).
    event = {
        "type": "REQUEST", "methodArn": ARN, "resource": "/orders/{id}", "path": "/orders/42",
        "httpMethod": "GET",
        "headers": {"Accept": "*/*", "Host": DOMAIN,
                    "User-Agent": "bench", "X-Forwarded-For": "10.0.0.1",
                    "Authorization": f"{scheme} {token}"},
        "multiValueHeaders": {"Authorization": [f"{scheme} {token}"]},
        "requestContext": {"apiId": "abcdef1234", "stage": "prod", "httpMethod": "GET",
                           "domainName": DOMAIN},
    }
    if dpop is not None:
        event["headers"]["DPoP"] = dpop
        event["multiValueHeaders"]["DPoP"] = [dpop]
    if cert is not None:
        event["requestContext"]["identity"] = {"clientCert": {"clientCertPem": cert}}
    return event


def _tokens(n: int, alg: str = "RS256", private=None, extra: dict | None = None):
    """`n` distinct tokens (jti varies) signed by one `alg` key (fresh unless given),
    with `extra` claims (a `cnf`)."""
    import json

    from shared.b64 import b64url_encode
    from shared.jwa import generate_private_key, sign
    from shared.jwk import public_jwk

    private = private if private is not None else generate_private_key(alg)
    jwk = public_jwk(private.public_key(), alg)
    header = b64url_encode(json.dumps({"alg": alg, "typ": "at+jwt", "kid": jwk["kid"]},
                                      separators=(",", ":")).encode())
    now = int(time.time())
    tokens = []
    for _ in range(n):
        claims = {"iss": ISSUER, "sub": "client-1", "aud": AUDIENCE, "exp": now + 3600,
                  "iat": now, "jti": uuid.uuid4().hex, "client_id": "client-1",
                  "scope": "orders:read orders:write", **(extra or {})}
        body = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
        data = f"{header}.{body}".encode()
        tokens.append(f"{header}.{body}." + b64url_encode(sign(private, alg, data)))
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


def bench_authorizer(jwk: dict, write, private=None):
    """The Lambda's `Authorizer` as its cold start builds it (settings, the bench policy),
    its JWKS and its revocation list (an empty one signed by `private`, so every decision
    pays the revocation check as deployed) answered from memory, decision lines to
    `write`."""
    import json

    from authorizer.coldstart import build_authorizer
    from authorizer.log import DecisionLog
    from authorizer.settings import Settings
    from shared.jws import encode_compact
    from shared.policy import parse_policy

    jwks = json.dumps({"keys": [jwk]}).encode()
    now = int(time.time())
    listed = encode_compact(
        {"typ": "revocation-list+jwt", "kid": jwk["kid"]},
        {"iss": ISSUER, "iat": now, "exp": now + 86_400, "seq": 1, "jtis": {}, "clients": {}},
        private, jwk["alg"]).encode() if private is not None else None
    settings = Settings.from_env(
        {"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE,
         # Without a key to sign a list: no list, and the check as before a first one.
         **({} if listed else {"AUTHORIZER_REVOCATION_FAIL": "open"})}, cwd="/nonexistent")
    return build_authorizer(
        settings, fetcher=lambda uri: listed if listed and uri.endswith(".jwt") else jwks,
        log=DecisionLog(write), policy=parse_policy(POLICY, "bench"))


def first_seen_figures(n: int, alg: str, write):
    """A handler from `bench_authorizer` (decision lines to `write`, None: `sys.stdout`)
    on `n` distinct tokens after one cold-path call (JWKS, revocation list, policy for
    this scope set), timed interleaved token by token with PyJWT's bare `jwt.decode` of
    the same tokens so that machine noise hits both alike. Returns the handler, the
    events (cold one first) and the microseconds per call: ours, PyJWT's."""
    import jwt

    private, jwk, tokens = _tokens(n + 1, alg)
    handler = bench_authorizer(jwk, write, private).lambda_handler
    events = [_event(t) for t in tokens]
    handler(events[0])
    public = private.public_key()

    def pyjwt(token):
        jwt.decode(token, public, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)

    pyjwt(tokens[0])
    clock = time.perf_counter_ns
    ours, theirs = [], []
    for event, token in zip(events[1:], tokens[1:], strict=True):
        t0 = clock()
        handler(event)
        t1 = clock()
        pyjwt(token)
        t2 = clock()
        ours.append((t1 - t0) / 1000)
        theirs.append((t2 - t1) / 1000)
    return handler, events, ours, theirs


def decision_figures(n: int, alg: str) -> dict:
    """Handler first-seen (`first_seen_figures`) and repeat against PyJWT's bare decode."""
    sink = open(os.devnull, "w")
    handler, events, first, baseline = first_seen_figures(n, alg, sink.write)
    repeat = []
    for _ in range(5):
        repeat += _per_call(handler, events)
    sink.close()
    return {"first": statistics.median(first), "repeat": statistics.median(repeat),
            "pyjwt": statistics.median(baseline), "n": n}


def _certificate() -> str:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-client")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def bound_figures(n: int, alg: str = "RS256", proof_alg: str = "ES256") -> dict:
    """Bearer, DPoP-bound and certificate-bound tokens from one issuer key through one
    handler, interleaved token by token (first-seen), then repeats: every DPoP repeat
    carries a fresh proof, verified and its jti remembered, as a client sends it."""
    from shared.dpop import jwk_thumbprint, make_proof
    from shared.jwa import generate_private_key
    from shared.mtls import cert_thumbprint

    issuer_key = generate_private_key(alg)
    dpop_key = generate_private_key(proof_alg)
    cert = _certificate()
    _, jwk, bearer = _tokens(n + 1, alg, issuer_key)
    _, _, dpop = _tokens(n + 1, alg, issuer_key,
                         {"cnf": {"jkt": jwk_thumbprint(dpop_key, proof_alg)}})
    _, _, mtls = _tokens(n + 1, alg, issuer_key, {"cnf": {"x5t#S256": cert_thumbprint(cert)}})
    now = time.time()

    def proofs(tokens):
        return [make_proof(dpop_key, proof_alg, method="GET", url=URL, iat=now,
                           access_token=t) for t in tokens]

    sink = open(os.devnull, "w")
    handler = bench_authorizer(jwk, sink.write, issuer_key).lambda_handler
    bearer_events = [_event(t) for t in bearer]
    dpop_events = [_event(t, "DPoP", p) for t, p in zip(dpop, proofs(dpop), strict=True)]
    mtls_events = [_event(t, cert=cert) for t in mtls]
    from authorizer.responses import policy_allows

    for events in (bearer_events, dpop_events, mtls_events):
        # cold path once; an Allow each (a refusal would raise: timing it would flatter)
        assert policy_allows(handler(events[0]), ARN), "bound token not allowed"
    clock = time.perf_counter_ns
    first: dict[str, list[float]] = {"bearer": [], "dpop": [], "mtls": []}
    for i in range(1, n + 1):
        for kind, events in (("bearer", bearer_events), ("dpop", dpop_events),
                             ("mtls", mtls_events)):
            t0 = clock()
            handler(events[i])
            first[kind].append((clock() - t0) / 1000)
    repeat: dict[str, list[float]] = {"bearer": [], "dpop": [], "mtls": []}
    for _ in range(3):
        fresh = [_event(t, "DPoP", p) for t, p in zip(dpop, proofs(dpop), strict=True)]
        for i in range(n + 1):
            for kind, event in (("bearer", bearer_events[i]), ("dpop", fresh[i]),
                                ("mtls", mtls_events[i])):
                t0 = clock()
                handler(event)
                repeat[kind].append((clock() - t0) / 1000)
    sink.close()
    return {f"{phase}_{kind}": statistics.median(values)
            for phase, table in (("first", first), ("repeat", repeat))
            for kind, values in table.items()}


def _run_once(code: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd="/",
                   stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def import_figures(runs: int) -> dict:
    """Fresh-process wall time (ms, median): the authorizer's whole cold start (import +
    settings + policy file + bundled JWKS file) against `import jwt` and a bare `pass`."""
    import json
    import tempfile

    from shared.jwa import generate_private_key
    from shared.jwk import public_jwk

    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as tmp:
        jwks = {"keys": [public_jwk(generate_private_key(alg).public_key(), alg)
                         for alg in ("RS256", "ES256")]}
        jwks_file, policy_file = Path(tmp, "jwks.json"), Path(tmp, "policy.toml")
        jwks_file.write_text(json.dumps(jwks))
        policy_file.write_text(POLICY)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AUTHORIZER_", "POLICY"))}
        env.update({"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE,
                    "AUTHORIZER_JWKS_FILE": str(jwks_file), "POLICY_FILE": str(policy_file),
                    "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"})
        codes = {"pass": "pass", "jwt": "import jwt", "handler": "import authorizer.handler"}
        # Check the cold start really loaded both files (a silent fallback would flatter it).
        check = ("import authorizer.handler as h; a = h.AUTHORIZER; "
                 "assert a._policy is not None and len(a._keys.keys.keys) == 2, 'cold start'")
        _run_once(check, env)
        samples: dict[str, list[float]] = {name: [] for name in codes}
        for _ in range(runs):  # interleaved so machine noise hits all three alike
            for name, code in codes.items():
                samples[name].append(_run_once(code, env))
    return {name: statistics.median(values) for name, values in samples.items()}


def run(options: list[str]) -> list[Row]:
    quick = "--quick" in options
    n = 300 if quick else 2000
    runs = 5 if quick else 15
    rows: list[Row] = []
    for alg in ("RS256", "ES256"):
        d = decision_figures(n, alg)
        what = f"{alg}, {n} tokens, median"
        rows.append(Row("authorizer", f"first-seen decision ({what})", d["first"], "us",
                        f"PyJWT jwt.decode {alg}", d["pyjwt"], "<= 1.0x"))
        rows.append(Row("authorizer", f"repeat decision ({alg}, cached, median)", d["repeat"],
                        "us", f"PyJWT jwt.decode {alg}", d["pyjwt"], "< 10 us"))
    b = bound_figures(300 if quick else 1000)
    rows.append(Row("authorizer", "DPoP-bound first-seen decision (RS256 token, ES256 proof, "
                    "median)", b["first_dpop"], "us", "bearer first-seen, same run",
                    b["first_bearer"], ""))
    rows.append(Row("authorizer", "DPoP-bound repeat decision (cached token, fresh ES256 "
                    "proof verified, median)", b["repeat_dpop"], "us",
                    "bearer repeat, same run", b["repeat_bearer"], ""))
    rows.append(Row("authorizer", "certificate-bound repeat decision (cached token, "
                    "x5t#S256 of the event's PEM, median)", b["repeat_mtls"], "us",
                    "bearer repeat, same run", b["repeat_bearer"], "",
                    f"certificate-bound first-seen {b['first_mtls']:.1f} us, bearer "
                    f"{b['first_bearer']:.1f} us (median, same run)"))
    from bench.authorizer_pipe import pipe_figures

    pipe_n, pipe_rounds = (300, 2) if quick else (1500, 5)
    p = pipe_figures("RS256", pipe_n, pipe_rounds)
    rows.append(Row(
        "authorizer", f"first-seen decision as Lambda runs it (RS256, {pipe_n} tokens, stdout a "
        f"pipe flushed per write, mean; median of {pipe_rounds} rounds)", p["mean"], "us",
        "PyJWT jwt.decode RS256 (mean)", p["pyjwt_mean"], "<= 1.0x",
        "first-seen as Lambda runs it, ratio of the means per round: " + spread(p["ratios"])
        + "; ratio of the medians per round: " + " ".join(f"{x:.3f}x" for x in p["median_ratios"])))
    i = import_figures(runs)
    rows.append(Row("authorizer", f"cold start: import authorizer.handler (median of {runs})",
                    i["handler"], "ms", "python -c 'import jwt'", i["jwt"], "<= 1.1x"))
    rows.append(Row("authorizer", "cold start net of `python -c pass`",
                    i["handler"] - i["pass"], "ms", "import jwt net", i["jwt"] - i["pass"],
                    "<= 1.1x"))
    return rows
