"""Print a DPoP proof (RFC 9449 §4.2) for one request: the README's DPoP walkthrough.

    python -m examples.dpop_proof KEY_FILE METHOD URL [ACCESS_TOKEN]

KEY_FILE holds the client's ES256 private key (PEM); it is made (mode 0600) on first
use and reused, so every proof is signed by the key the token is bound to. With
ACCESS_TOKEN the proof carries `ath`, as a proof sent with a token must (§4.2); each
proof has a fresh `jti` and is good for one request. Prints the proof on stdout.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from shared.dpop import make_proof
from shared.jwa import generate_private_key, load_private_key_pem, private_key_pem

ALG = "ES256"


def _key(path: Path):
    if path.exists():
        return load_private_key_pem(path.read_bytes())
    key = generate_private_key(ALG)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))
    return key


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print("usage: python -m examples.dpop_proof KEY_FILE METHOD URL [ACCESS_TOKEN]",
              file=sys.stderr)
        return 2
    key_file, method, url, *token = argv
    try:
        key = _key(Path(key_file))
    except (OSError, ValueError) as exc:
        print(f"dpop_proof: {key_file}: {exc}", file=sys.stderr)
        return 2
    print(make_proof(key, ALG, method=method, url=url, iat=time.time(),
                     access_token=token[0] if token else None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
