"""Cross-site request forgery defences of the console, on every state-changing request
(every POST), on top of `SameSite=Strict` cookies:

1. Origin check: the `Origin` header must be the issuer's own origin (`ISSUER_URL`)
   (OWASP CSRF Prevention Cheat Sheet, "Verifying Origin With Standard Headers"). Under
   the console's `Referrer-Policy: no-referrer` a browser sends `Origin: null` on its
   own form POSTs (Fetch standard, "append a request `Origin` header"): then the request
   must say `Sec-Fetch-Site: same-origin` (Fetch Metadata, which a page cannot set;
   a cross-site form says `cross-site`). Neither header: refused.
2. Synchronizer token: signed-in forms carry the session's random CSRF token, kept in
   the sealed session cookie; the sign-in forms (no session yet: login CSRF) carry an
   HMAC of a random nonce kept in a separate HttpOnly cookie.
Both refusals are 403, and nothing is read or written before them.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import Request

from issuer.settings import Settings


class Forbidden(Exception):
    """A state-changing request refused before anything happened (403)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: Request, settings: Settings) -> None:
    origin = request.headers.get("origin")
    if origin is None:
        raise Forbidden("origin_missing")
    if origin == "null":  # an opaque origin: the browser's own word on the site
        if request.headers.get("sec-fetch-site") != "same-origin":
            raise Forbidden("origin_null_not_same_origin")
        return
    if origin.lower() != origin_of(settings.url):
        raise Forbidden("origin_mismatch")


def check_token(sent: object, expected: str) -> None:
    if not isinstance(sent, str) or not sent:
        raise Forbidden("csrf_missing")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("csrf_mismatch")


def sign_in_token(csrf_key: bytes, nonce: str) -> str:
    """The sign-in forms' token: HMAC of the pre-session cookie's nonce."""
    return hmac.new(csrf_key, b"sign-in:" + nonce.encode(), hashlib.sha256).hexdigest()
