"""A trusted issuer's keys: its `jwks_uri` fetched with care, and cached.

The rules are the authorizer's (`shared.jwk.RefetchedKeys` serves both), applied to a URI
an admin typed rather than our own issuer's:
- fetched keys are trusted for `ttl` seconds, then refetched on the next lookup;
- an unknown `kid` refetches at most once per `cooldown`, so a flood of made-up kids
  costs one fetch per cooldown, and a key the issuer rotated in is picked up within one;
- a fetch is bounded: `FETCH_TIMEOUT` for the whole exchange, `MAX_JWKS_BYTES`, no
  redirect followed; the document is read with `shared.jws.strict_json` (duplicate
  members, NaN refused) and every key through `shared.jwk`'s policy (`KeySet`);
- a failed fetch is logged and absorbed: the keys held keep serving.

Server-side request forgery (the token endpoint makes the request, on behalf of
whoever sends an assertion naming the issuer): the URI is an admin's, never the
caller's, and `UriPolicy` decides where it may point. In production only `https`, and
the host's every address must be public: loopback, private (RFC 1918, RFC 4193),
shared (RFC 6598) and the rest refused unless `ISSUER_FEDERATION_ALLOW_PRIVATE=on`;
link-local (169.254.0.0/16 holds cloud metadata services) never. The connection goes
to the address that was checked (no second resolution a rebinding DNS could answer
differently), with TLS verified against the host name. In development `http` and
loopback are allowed.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from issuer.logs import log_event
from shared.errors import KeySetError
from shared.jwk import MAX_JWKS_BYTES, KeySet, PublicKey, RefetchedKeys

if TYPE_CHECKING:
    from issuer.settings import Settings

log = logging.getLogger("issuer.federation")

FETCH_TIMEOUT = 3.0  # seconds for the whole fetch: the token request waits on it
JWKS_TTL = 300.0
UNKNOWN_KID_COOLDOWN = 60.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UriRefused(ValueError):
    """A jwks_uri this issuer will not fetch; the message says why."""


@dataclass(frozen=True)
class UriPolicy:
    """Where a jwks_uri may point: `https_only` and `allow_private` follow
    `ISSUER_ENV` and `ISSUER_FEDERATION_ALLOW_PRIVATE` (`from_settings`)."""

    https_only: bool = True
    allow_private: bool = False

    @classmethod
    def development(cls) -> UriPolicy:
        return cls(https_only=False, allow_private=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> UriPolicy:
        if not settings.production:
            return cls.development()
        return cls(https_only=True, allow_private=settings.federation_allow_private)

    def check_uri(self, uri: str) -> tuple[str, str, int]:
        """(scheme, host, port) of an acceptable URI, else `UriRefused`. An address
        literal is checked here; a name is checked when it is resolved (`resolve`)."""
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError:
            raise UriRefused("jwks_uri is not a URL") from None
        scheme = parts.scheme.lower()
        allowed = ("https",) if self.https_only else ("https", "http")
        if scheme not in allowed:
            raise UriRefused(f"jwks_uri must use {' or '.join(allowed)}")
        host = parts.hostname
        if not host or parts.username is not None or parts.password is not None:
            raise UriRefused("jwks_uri needs a host and no user information")
        if parts.fragment:
            raise UriRefused("jwks_uri must not have a fragment")
        if any(ch.isspace() or ord(ch) < 32 for ch in uri):
            raise UriRefused("jwks_uri holds whitespace or control characters")
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            self.check_address(literal)
        elif not self.allow_private and host.rstrip(".").lower().endswith("localhost"):
            raise UriRefused("jwks_uri points to localhost")
        return scheme, host, port or (443 if scheme == "https" else 80)

    def check_address(self, address: IPAddress) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_link_local or address.is_multicast or address.is_unspecified:
            raise UriRefused(f"jwks_uri resolves to a refused address ({address})")
        if address.is_global:
            return
        if not self.allow_private:
            raise UriRefused(
                f"jwks_uri resolves to a non-public address ({address}): refused in "
                "production unless ISSUER_FEDERATION_ALLOW_PRIVATE=on"
            )

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address of `host`, each checked; `UriRefused` if any is refused (a
        name with one public and one private address is refused: which one a
        connection gets is not ours to choose)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise KeySetError(f"jwks_uri host does not resolve: {type(exc).__name__}") from None
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            self.check_address(address)
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise KeySetError("jwks_uri host has no address")
        return addresses


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address, verifies TLS against the URI's host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def fetch_jwks(
    uri: str,
    policy: UriPolicy,
    timeout: float = FETCH_TIMEOUT,
    max_bytes: int = MAX_JWKS_BYTES,
) -> bytes:
    """GET `uri` under `policy`: `UriRefused` for a refused URI or address, `KeySetError`
    for anything else that goes wrong (status, size, time)."""
    scheme, host, port = policy.check_uri(uri)
    address = str(policy.resolve(host, port)[0])
    parts = urlsplit(uri)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, address, port, timeout)
    try:
        connection.request("GET", target, headers={"Accept": "application/json",
                                                   "User-Agent": "tollgate-issuer"})
        response = connection.getresponse()
        if response.status != 200:
            # Redirects included: where they lead was never checked.
            raise KeySetError(f"jwks_uri answered {response.status}")
        declared = response.getheader("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise KeySetError(f"JWKS larger than {max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise KeySetError(f"JWKS fetch took longer than {timeout} s")
            chunk = response.read1(16384)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise KeySetError(f"JWKS larger than {max_bytes} bytes")
            chunks.append(chunk)
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        raise KeySetError(f"JWKS fetch failed: {type(exc).__name__}") from None
    finally:
        connection.close()
    return b"".join(chunks)


Fetcher = Callable[[str], bytes]
Clock = Callable[[], float]


class RemoteKeys(RefetchedKeys):
    """One trusted issuer's fetched keys: `get(kid)` is the verifier's key lookup. The
    TTL and cooldown rules are `RefetchedKeys`'s; a refused URI or a failed fetch is
    absorbed, anything else (a bug) reaches the token request."""

    absorbs = (KeySetError, UriRefused)

    def __init__(
        self,
        uri: str,
        fetcher: Fetcher,
        clock: Clock,
        ttl: float = JWKS_TTL,
        cooldown: float = UNKNOWN_KID_COOLDOWN,
        issuer: str = "",
    ) -> None:
        super().__init__(uri, fetcher, clock, ttl, cooldown)
        self._issuer = issuer

    def get(self, kid: str | None) -> PublicKey | None:
        key = super().get(kid)
        if key is None and self._keys is None:
            # Nothing ever fetched: "the issuer's keys are unavailable", not "bad token".
            raise KeySetError("no keys fetched from the trusted issuer's jwks_uri yet")
        return key

    def _fetched(self, reason: str, keys: KeySet) -> None:
        log_event(log, "trusted_issuer_jwks_fetched", issuer=self._issuer, reason=reason,
                  keys=len(keys.keys), rejected=len(keys.rejected))

    def _failed(self, reason: str, exc: Exception) -> None:
        log_event(log, "trusted_issuer_jwks_failed", logging.WARNING,
                  issuer=self._issuer, reason=reason, error=str(exc)[:200])
