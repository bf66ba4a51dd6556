"""Authorizer memory: peak RSS of a fresh Lambda-like process after many distinct tokens.

A child process does what a Lambda instance does (`import authorizer.handler` with the
settings, a policy file and a bundled JWKS file), then feeds the handler distinct valid
ES256 tokens (one key, jti varies; each minted just before use so the feeder holds none)
and reads its peak RSS at checkpoints (`VmHWM`; see `peak_rss_kib` for why not
`ru_maxrss` alone). The caches are
bounded (token cache: 10,000 entries; answers per profile; profiles), so past the
token cache's bound the peak must stop growing: the 100k figure is compared with the
same process after 1,000 tokens (growth while the cache fills) and after 20,000 (flat
once it is full: target <= 1.05x, ours, issue 7 gives none).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.authorizer_bench import AUDIENCE, ISSUER, POLICY, ROOT, _event
from bench.table import Row

FULL = (1_000, 20_000, 100_000)
QUICK = (1_000, 3_000, 6_000)


def peak_rss_kib() -> int:
    """This process image's peak RSS in KiB: `VmHWM` where Linux has it, else ru_maxrss.

    On Linux `ru_maxrss` survives exec: a child forked (or vforked) from a big parent
    reports the parent's peak until its own exceeds it (the kernel keeps the pre-exec
    mm's high-water mark in the process's signal struct). `VmHWM` is the high-water mark
    of the exec'd image alone, which is what a fresh Lambda process would show.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(workdir: str, checkpoints: list[int]) -> None:
    import authorizer.handler as lambda_module  # the cold start, as Lambda runs it
    from shared.b64 import b64url_encode
    from shared.jwa import load_private_key_pem, sign

    key = load_private_key_pem(Path(workdir, "key.pem").read_bytes())
    kid = json.loads(Path(workdir, "jwks.json").read_text())["keys"][0]["kid"]
    header = b64url_encode(json.dumps({"alg": "ES256", "typ": "at+jwt", "kid": kid},
                                      separators=(",", ":")).encode())
    import time

    now = int(time.time())
    prefix = json.dumps({"iss": ISSUER, "sub": "client-1", "aud": AUDIENCE,
                         "exp": now + 3600, "iat": now, "client_id": "client-1",
                         "scope": "orders:read orders:write"}, separators=(",", ":"))[:-1]
    handler = lambda_module.handler
    out = {"start": peak_rss_kib()}
    done = 0
    allowed = 0
    for checkpoint in sorted(checkpoints):
        while done < checkpoint:
            body = b64url_encode(f'{prefix},"jti":"t{done:09d}"}}'.encode())
            signing_input = f"{header}.{body}"
            token = signing_input + "." + b64url_encode(
                sign(key, "ES256", signing_input.encode()))
            response = handler(_event(token), None)
            allowed += response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
            done += 1
        out[str(checkpoint)] = peak_rss_kib()
    out["allowed"] = allowed
    out["cached"] = len(lambda_module.AUTHORIZER._tokens)
    Path(workdir, "result.json").write_text(json.dumps(out))


def measure(checkpoints: tuple[int, ...]) -> dict:
    from shared.jwa import generate_private_key, private_key_pem
    from shared.jwk import public_jwk

    with tempfile.TemporaryDirectory(prefix="tollgate-bench-mem-") as tmp:
        key = generate_private_key("ES256")
        Path(tmp, "key.pem").write_bytes(private_key_pem(key))
        Path(tmp, "jwks.json").write_text(
            json.dumps({"keys": [public_jwk(key.public_key(), "ES256")]}))
        Path(tmp, "policy.toml").write_text(POLICY)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AUTHORIZER_", "POLICY"))}
        env.update({"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE,
                    "AUTHORIZER_JWKS_FILE": str(Path(tmp, "jwks.json")),
                    "AUTHORIZER_JWKS_URI": "off", "AUTHORIZER_RESPONSE": "iam",
                    "POLICY_FILE": str(Path(tmp, "policy.toml")), "PYTHONPATH": str(ROOT)})
        subprocess.run(
            [sys.executable, "-m", "bench.memory_bench", "child", tmp,
             *map(str, checkpoints)],
            env=env, cwd=str(ROOT), check=True, stdout=subprocess.DEVNULL)
        result = json.loads(Path(tmp, "result.json").read_text())
    if result["allowed"] != checkpoints[-1]:
        raise RuntimeError(f"memory bench: only {result['allowed']} tokens were allowed")
    return result


def run(options: list[str]) -> list[Row]:
    checkpoints = QUICK if "--quick" in options else FULL
    low, mid, high = checkpoints
    r = measure(checkpoints)
    mib = 1 / 1024  # KiB
    return [
        Row("memory", f"authorizer peak RSS after {high:,} distinct tokens", r[str(high)] * mib,
            "MiB", f"same process after {low:,}", r[str(low)] * mib),
        Row("memory", f"authorizer peak RSS after {high:,} distinct tokens", r[str(high)] * mib,
            "MiB", f"same process after {mid:,}", r[str(mid)] * mib,
            # Only meaningful once the token cache (10,000) is full at the baseline.
            "<= 1.05x" if mid > 10_000 else ""),
    ]


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "child":
        _child(sys.argv[2], [int(a) for a in sys.argv[3:]])
    else:
        from bench.table import render

        print(render(run(sys.argv[1:])))
