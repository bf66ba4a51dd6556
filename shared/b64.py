"""Strict base64url (RFC 7515 §2, RFC 4648 §5 without padding).

Strict because lenient decoders let one token have many spellings: padding, the `+/`
alphabet, stray characters or non-zero trailing bits would all decode to the same bytes,
which breaks caches keyed on the token and hides tampering (Wycheproof base64 cases).
"""

from __future__ import annotations

import base64
import binascii

# Map the url alphabet onto the standard one, and '+', '/', '=' onto a character that
# binascii's strict mode refuses: so only `A-Za-z0-9-_` survive, in one C pass.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")
# Last character of a 2-char tail carries 4 unused bits; of a 3-char tail, 2 unused bits.
# Only characters whose unused bits are zero are canonical (RFC 4648 §3.5). Tails 0 and 1
# never index this (no tail to check; an impossible length), hence their empty sets.
_CANONICAL_LAST: tuple[frozenset[int], ...] = (
    frozenset(),
    frozenset(),
    frozenset(b"AQgw"),
    frozenset(b"AEIMQUYcgkosw048"),
)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; `ValueError` on anything non-canonical."""
    if not isinstance(text, str):
        raise ValueError("base64url input must be str")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ValueError("base64url: non-ASCII character") from exc
    tail = len(raw) % 4
    if tail == 1:
        raise ValueError("base64url: impossible length")
    if tail and raw[-1] not in _CANONICAL_LAST[tail]:
        raise ValueError("base64url: non-canonical last character")
    try:
        return binascii.a2b_base64(raw.translate(_TO_STANDARD) + _PADDING[tail], strict_mode=True)
    except binascii.Error as exc:
        raise ValueError("base64url: character outside the url-safe alphabet") from exc
