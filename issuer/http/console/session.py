"""The console's session: the admin access token behind it, sealed in a cookie.

Sign-in (credentials or a one-time link) ends with an admin access token minted as the
token endpoint mints one. The cookie carries that token and the session's CSRF secret,
sealed with AES-256-GCM under a key derived (HKDF, RFC 5869) from the issuer's stored
data key, so every process opens it and nobody else can read or forge it. The session
holds nothing the database does not already decide: every request verifies the token
again with the admin API's own guard (`issuer/http/admin/guard.py` `authenticate_admin`:
signature, expiry, `issuer:admin`, not revoked, client still enabled and admin), so a
revoked token or a disabled client ends the session on its next request, and the cookie
expires with the token (`Max-Age`), never later.

Cookie flags (RFC 6265bis): `HttpOnly` (no script reads it), `SameSite=Strict`, `Path=/`;
`Secure` and the `__Host-` prefix (bound to this host, https only, not settable by a
sibling domain) unless the issuer runs on plain http on a loopback address in
development, where a browser would drop a Secure cookie.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from issuer.keys.kek_check import secret_hmac_key
from issuer.services import Services
from issuer.settings import Settings

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
COOKIE_BASE = "tollgate-console"
PRE_COOKIE_BASE = "tollgate-console-pre"  # before sign-in: the sign-in forms' CSRF nonce
PRE_COOKIE_SECONDS = 3600
MAX_COOKIE_CHARS = 4000  # anything longer is not a cookie of ours: not even decoded
_AAD = b"tollgate console session v1"


@dataclass(frozen=True)
class CookiePolicy:
    secure: bool
    session_name: str
    pre_name: str


def cookie_policy(settings: Settings) -> CookiePolicy:
    url = urlsplit(settings.url)
    loopback_dev = (
        not settings.production and url.scheme == "http" and url.hostname in LOOPBACK_HOSTS
    )
    prefix = "" if loopback_dev else "__Host-"
    return CookiePolicy(not loopback_dev, prefix + COOKIE_BASE, prefix + PRE_COOKIE_BASE)


def cookie_header(policy: CookiePolicy, name: str, value: str, max_age: int) -> str:
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max(0, max_age)}", "HttpOnly",
             "SameSite=Strict"]
    if policy.secure:
        parts.append("Secure")
    return "; ".join(parts)


@dataclass(frozen=True)
class ConsoleSession:
    token: str  # the admin access token (RFC 9068)
    csrf: str  # the synchronizer token every state-changing form must send back


class Sealer:
    """AES-GCM for the session cookie and an HMAC key for the sign-in forms' CSRF
    tokens, both derived from the issuer's data key (the same in every process)."""

    def __init__(self, data_key: bytes) -> None:
        self._aead = AESGCM(_derive(data_key, b"tollgate/console/session"))
        self.csrf_key = _derive(data_key, b"tollgate/console/csrf")

    def seal(self, session: ConsoleSession) -> str:
        nonce = os.urandom(12)
        plain = json.dumps({"t": session.token, "c": session.csrf}).encode()
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, plain, _AAD)).decode(
            "ascii"
        ).rstrip("=")

    def open(self, value: str | None) -> ConsoleSession | None:
        if not value or len(value) > MAX_COOKIE_CHARS:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            plain = self._aead.decrypt(raw[:12], raw[12:], _AAD)
            data: Any = json.loads(plain)
        except (ValueError, InvalidTag):
            return None
        if not isinstance(data, dict):
            return None
        token, csrf = data.get("t"), data.get("c")
        if not isinstance(token, str) or not isinstance(csrf, str):
            return None
        return ConsoleSession(token=token, csrf=csrf)


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


def sealer_for(services: Services, cache: dict[int, Sealer]) -> Sealer:
    """One `Sealer` per services (the data key is read from the database once)."""
    sealer = cache.get(id(services))
    if sealer is None:
        sealer = cache[id(services)] = Sealer(secret_hmac_key(services.sessions, services.kek))
    return sealer


def new_session(token: str) -> ConsoleSession:
    return ConsoleSession(token=token, csrf=secrets.token_urlsafe(32))
