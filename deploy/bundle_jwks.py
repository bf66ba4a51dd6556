"""Write the issuer's public JWKS to a file that is packaged with the authorizer.

Run before `serverless deploy` (see serverless.yml): the authorizer then verifies tokens
at cold start without a network call (AUTHORIZER_JWKS_FILE), and still refetches from
AUTHORIZER_JWKS_URI on an unknown `kid` (a key rotated after the deploy).

    python -m deploy.bundle_jwks --from-url https://issuer.example.com [--out build/jwks.json]
    python -m deploy.bundle_jwks --from-db            # ISSUER_DATABASE_URL, ISSUER_* env

Every key is checked with the authorizer's own loader and must be public: a JWKS with a
private member (`d`, `p`, ...) or a symmetric key is refused, never written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

from shared.errors import KeyRejected
from shared.jwk import PRIVATE_JWK_MEMBERS, load_public_jwk

MAX_JWKS_BYTES = 256 * 1024


class BundleError(Exception):
    pass


def fetch_jwks(issuer_url: str, timeout: float = 10.0) -> dict:
    url = issuer_url.rstrip("/") + "/.well-known/jwks.json"
    if not url.startswith(("https://", "http://")):
        raise BundleError(f"not an http(s) URL: {url}")
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked
        return json.loads(resp.read(MAX_JWKS_BYTES + 1)[:MAX_JWKS_BYTES])


def jwks_from_db() -> dict:
    from issuer.keys.store import published_jwks
    from issuer.settings import load_settings
    from issuer.store.engine import make_engine, make_session_factory

    engine = make_engine(load_settings().database_url)
    try:
        with make_session_factory(engine)() as session:
            return published_jwks(session)
    finally:
        engine.dispose()


def checked(jwks: dict) -> dict:
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise BundleError("the JWKS has no keys")
    for jwk in keys:
        leaked = PRIVATE_JWK_MEMBERS & set(jwk)
        if leaked:
            raise BundleError(f"key {jwk.get('kid')!r} has private members {sorted(leaked)}")
        try:
            load_public_jwk(jwk)
        except KeyRejected as exc:
            raise BundleError(f"key {jwk.get('kid')!r} rejected: {exc}") from None
    return {"keys": keys}


def write_atomically(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jwks-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.bundle_jwks", description=__doc__)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-url", metavar="ISSUER_URL")
    source.add_argument("--from-db", action="store_true")
    p.add_argument("--out", default="build/jwks.json", type=Path)
    args = p.parse_args(argv)
    try:
        jwks = checked(fetch_jwks(args.from_url) if args.from_url else jwks_from_db())
    except (BundleError, OSError, ValueError) as exc:
        print(f"bundle_jwks: {exc}", file=sys.stderr)
        return 1
    write_atomically(args.out, jwks)
    kids = ", ".join(str(k.get("kid")) for k in jwks["keys"])
    print(f"bundle_jwks: wrote {len(jwks['keys'])} key(s) to {args.out}: {kids}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
