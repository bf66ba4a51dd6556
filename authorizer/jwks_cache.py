"""The authorizer's signing keys: a JWKS cache with a TTL and an unknown-kid cooldown.

Filled from a file bundled at deploy (read at cold start, no network) and/or fetched
lazily from the issuer's JWKS URI. The rules are `shared.jwk.RefetchedKeys`'s (after
aws-jwt-verify's `SimpleJwksCache`), which the issuer's trusted-issuer keys follow too:
- fetched keys are trusted for `ttl` seconds, then refetched on the next lookup;
- an unknown `kid` refetches at most once per `cooldown` (its "penalty box"), so a flood
  of random kids costs one fetch per cooldown (docs/threat-model.md §1);
- a failed fetch (issuer down, bad document, or a fetcher bug) is logged and absorbed:
  the keys already held keep serving, and tokens are refused only if no key fits;
- unfit keys (`use: enc`, small RSA, duplicate kid, symmetric) never enter: `KeySet`
  drops them and we log what it dropped.
The fetcher and the clock are parameters so tests count fetches and move time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypedDict, Unpack

from shared.errors import KeySetError
from shared.jwk import MAX_JWKS_BYTES, KeySet, RefetchedKeys, parse_jwks

if TYPE_CHECKING:  # urllib is imported only when a fetch happens (cold start)
    import urllib.request
    from http.client import HTTPMessage
    from typing import IO

Fetcher = Callable[[str], bytes]
Clock = Callable[[], float]
Log = Callable[..., None]

FETCH_TIMEOUT = 2.0  # seconds: an authorizer waiting longer than this is already a 5xx


def fetch_jwks(
    uri: str, timeout: float = FETCH_TIMEOUT, max_bytes: int = MAX_JWKS_BYTES, what: str = "JWKS"
) -> bytes:
    """GET the JWKS (or, `what` says, another issuer document) with urllib (imported here:
    most cold starts never need it). Redirects are followed only to http(s), never
    downgrading https to http."""
    import urllib.error
    import urllib.request

    class _Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: IO[bytes],
            code: int,
            msg: str,
            headers: HTTPMessage,
            newurl: str,
        ) -> urllib.request.Request | None:
            target = newurl.lower()
            allowed = ("https://",) if req.full_url.lower().startswith("https://") else (
                "https://", "http://")
            if not target.startswith(allowed):
                raise KeySetError(f"{what} redirect to a refused scheme: {newurl[:80]!r}")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    if not uri.lower().startswith(("https://", "http://")):
        raise KeySetError(f"{what} URI must be http(s)")
    opener = urllib.request.build_opener(_Redirects)
    # Scheme checked just above: http(s) only.
    request = urllib.request.Request(uri, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as response:
            body: bytes = response.read(max_bytes + 1)
    except KeySetError:
        raise
    except (OSError, ValueError, urllib.error.URLError) as exc:
        raise KeySetError(f"{what} fetch failed: {type(exc).__name__}: {exc}") from None
    if len(body) > max_bytes:
        raise KeySetError(f"{what} larger than {max_bytes} bytes")
    return body


class CacheOptions(TypedDict, total=False):
    """`JwksCache`'s options but the file keys, as `from_file` passes them on."""

    uri: str | None
    ttl: float
    cooldown: float
    fetcher: Fetcher
    clock: Clock
    log: Log | None


class JwksCache(RefetchedKeys):
    """`get(kid)` is the verifier's `key_lookup`; the TTL and cooldown rules are
    `RefetchedKeys`'s, what is logged is ours.

    The bundled file is a cold-start bootstrap, not a second authority: once a fetch
    succeeds, the issuer's current document replaces it, so a key the issuer withdraws
    stops verifying within one TTL even if an old deploy bundled it."""

    def __init__(
        self,
        *,
        uri: str | None = None,
        file_keys: KeySet | None = None,
        ttl: float = 300,
        cooldown: float = 60,
        fetcher: Fetcher = fetch_jwks,
        clock: Clock = time.monotonic,
        log: Log | None = None,
    ) -> None:
        super().__init__(uri, fetcher, clock, ttl, cooldown, file_keys)
        self._log = log or (lambda *args, **kwargs: None)

    @classmethod
    def from_file(cls, path: str, **kwargs: Unpack[CacheOptions]) -> JwksCache:
        """Cold-start fill from a bundled JWKS file. A broken file is a deploy error:
        it raises, so the cold start fails loudly instead of refusing every token."""
        with open(path, "rb") as handle:
            keys = parse_jwks(handle.read())
        return cls(file_keys=keys, **kwargs)

    @property
    def has_keys(self) -> bool:
        return self._keys is not None and bool(self._keys.keys)

    def _fetched(self, reason: str, keys: KeySet) -> None:
        self._log("info", "jwks_fetched", reason=reason, keys=len(keys.keys),
                  rejected=[{"kid": kid, "reason": why} for kid, why in keys.rejected])

    def _failed(self, reason: str, exc: Exception) -> None:
        # KeySetError is the expected branch (issuer down, bad document); anything else is
        # a fetcher bug. Either way the keys held keep serving.
        level = "warning" if isinstance(exc, KeySetError) else "error"
        serving = len(self._keys.keys) if self._keys is not None else 0
        self._log(level, "jwks_fetch_failed", reason=reason,
                  error=f"{type(exc).__name__}: {exc}", serving=serving)
