"""Opaque paging cursors for the admin lists (`?limit=&cursor=`).

A cursor is the position after the last item of a page (keyset paging), base64url JSON
so clients treat it as opaque; a cursor that does not decode is the caller's mistake
(422), never a server error.
"""

from __future__ import annotations

import json
from typing import Any

from shared.b64 import b64url_decode, b64url_encode

DEFAULT_LIMIT = 50
MAX_LIMIT = 100  # a larger `limit` is refused (422), not silently capped


def encode_cursor(position: list[Any]) -> str:
    return b64url_encode(json.dumps(position, separators=(",", ":")).encode())


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """The position list, or `ValueError` if it is not one of ours."""
    try:
        position = json.loads(b64url_decode(cursor))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("cursor is not valid") from None
    if not isinstance(position, list) or len(position) != length:
        raise ValueError("cursor is not valid")
    return position
