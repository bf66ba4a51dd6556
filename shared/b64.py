"""Strict base64url (RFC 7515 §2, RFC 4648 §5 without padding).

Strict because lenient decoders let one token have many spellings: padding, the `+/`
alphabet, stray characters or non-zero trailing bits would all decode to the same bytes,
which breaks caches keyed on the token and hides tampering (Wycheproof base64 cases).
"""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*\Z")
# Last character of a 2-char tail carries 4 unused bits; of a 3-char tail, 2 unused bits.
# Only characters whose unused bits are zero are canonical (RFC 4648 §3.5).
_CANONICAL_LAST = {
    2: frozenset("AQgw"),
    3: frozenset("AEIMQUYcgkosw048"),
}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; `ValueError` on anything non-canonical."""
    if not isinstance(text, str):
        raise ValueError("base64url input must be str")
    if not _ALPHABET.match(text):
        raise ValueError("base64url: character outside the url-safe alphabet")
    tail = len(text) % 4
    if tail == 1:
        raise ValueError("base64url: impossible length")
    if tail and text[-1] not in _CANONICAL_LAST[tail]:
        raise ValueError("base64url: non-zero trailing bits")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # unreachable after the checks; kept as a guard
        raise ValueError("base64url: undecodable") from exc
