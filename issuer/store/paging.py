"""Opaque paging cursors for the admin lists (`?limit=&cursor=`).

A cursor is the position after the last item of a page (keyset paging), base64url JSON
so clients treat it as opaque. A cursor is only ever one this issuer wrote: anything
else (not base64url, not strict JSON, a member of the wrong type, an id past the
column's range, a time that does not convert to UTC) is the caller's mistake, answered
422 by the routes, and never reaches the database, where it would be a 500 (SQLite
cannot bind an integer past 64 bits: OverflowError) or a 503 (PostgreSQL refuses NUL
and out-of-range integers; the UTC binder refuses naive times).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.b64 import b64url_decode, b64url_encode
from shared.jws import strict_json

DEFAULT_LIMIT = 50
MAX_LIMIT = 100  # a larger `limit` is refused (422), not silently capped
# Integer primary keys (audit_log.id) are PostgreSQL `integer`: ids stop here.
MAX_ID = 2**31 - 1


def encode_cursor(position: list[Any]) -> str:
    return b64url_encode(json.dumps(position, separators=(",", ":")).encode())


def next_cursor(
    rows: Sequence[Any], limit: int, position: Callable[[Any], list[Any]]
) -> str | None:
    """The cursor after a page: `position` of its last row, or None when the page is
    short (nothing follows it)."""
    return encode_cursor(position(rows[-1])) if rows and len(rows) == limit else None


def _invalid() -> ValueError:
    return ValueError("cursor is not valid")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """The position list, or `ValueError` if it is not one of ours."""
    try:
        position = strict_json(b64url_decode(cursor))
    except ValueError:  # base64url, UTF-8, JSON (duplicates, NaN, > 4300 digits)
        raise _invalid() from None
    if type(position) is not list or len(position) != length:
        raise _invalid()
    return position


def decode_id_cursor(cursor: str) -> int:
    """An `[id]` cursor: an integer primary key, 1..MAX_ID (a bool is not one)."""
    (value,) = decode_cursor(cursor, 1)
    if type(value) is not int or not 0 < value <= MAX_ID:
        raise _invalid()
    return value


def decode_time_key_cursor(cursor: str, key_ok: Callable[[str], bool]) -> tuple[datetime, str]:
    """A `[created_at ISO 8601 with offset, key]` cursor: an aware time (as UTC) and a
    string key that `key_ok` accepts (the column's shape)."""
    created, key = decode_cursor(cursor, 2)
    if type(created) is not str or type(key) is not str or not key_ok(key):
        raise _invalid()
    try:
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise _invalid()
        return at.astimezone(UTC), key
    except (ValueError, OverflowError):  # not ISO 8601; before year 1 or after 9999 in UTC
        raise _invalid() from None
