"""Where an authorizer decision's time goes (investigation tool, not part of `make bench`).

`python -m bench.profile_authorizer [--alg RS256] [-n 2000]` times, per distinct token and
interleaved token by token (so machine noise hits every step alike), medians in us:
- the signature check alone (`cryptography`, the key object given): the floor any
  verifier in Python pays;
- `shared.jws.parse_compact` (structure, base64url, JSON, header checks);
- `shared.verify.AccessTokenVerifier.verify` (parse + header + key + signature + claims);
- the whole Lambda handler on a REST REQUEST event, first seen (event parsing, bearer
  extraction, token cache miss, verification, revocation check, profile and IAM policy
  from the per-scope-set cache, one JSON decision line to /dev/null);
- PyJWT's `jwt.decode` of the same token (the bench's baseline);
and the ratios against PyJWT. aws-jwt-verify's ~0.4x of PyJWT (issue 7's stretch target)
would be within a few microseconds of the signature check alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench.authorizer_bench import AUDIENCE, ISSUER, _event, _tokens, bench_authorizer


def measure(alg: str, n: int) -> dict[str, float]:
    import jwt

    from shared.b64 import b64url_decode
    from shared.jwk import load_public_jwk
    from shared.jws import parse_compact

    private, jwk, tokens = _tokens(n + 1, alg)
    sink = open(os.devnull, "w")
    authorizer = bench_authorizer(jwk, sink.write, private)
    handler = authorizer.lambda_handler
    verifier = authorizer._verifier
    key = load_public_jwk(jwk)
    public = private.public_key()
    events = [_event(t) for t in tokens]
    handler(events[0])  # cold path once: JWKS fetch, policy compile for this scope set
    split = [t.rsplit(".", 1) for t in tokens]
    signed = [(head.encode(), b64url_decode(sig)) for head, sig in split]

    steps = {
        "signature only (cryptography)": lambda i: key.verify(*signed[i]),
        "parse_compact": lambda i: parse_compact(tokens[i]),
        "AccessTokenVerifier.verify": lambda i: verifier.verify(tokens[i]),
        "handler, first seen": lambda i: handler(events[i]),
        "PyJWT jwt.decode": lambda i: jwt.decode(tokens[i], public, algorithms=[alg],
                                                 audience=AUDIENCE, issuer=ISSUER),
    }
    samples: dict[str, list[float]] = {name: [] for name in steps}
    clock = time.perf_counter_ns
    for i in range(1, n + 1):
        for name, step in steps.items():
            start = clock()
            step(i)
            samples[name].append((clock() - start) / 1000)
    sink.close()
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_authorizer")
    parser.add_argument("--alg", default="RS256")
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    figures = measure(args.alg, args.n)
    pyjwt = figures["PyJWT jwt.decode"]
    print(f"{args.alg}: median of {args.n} distinct tokens per step, interleaved")
    for name, us in figures.items():
        print(f"  {us:8.1f} us  {us / pyjwt:5.2f}x of PyJWT  {name}")


if __name__ == "__main__":
    main()
