"""The bearer token of an `Authorization` header value (RFC 6750 §2.1), one rule for every
reader: the authorizer's events (`authorizer/events.py`) and the issuer's admin guard
(`issuer/http/admin/guard.py`).

    credentials = "Bearer" 1*SP b64token
    b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="

The scheme is case-insensitive (RFC 7235 §2.1: `bearer`, `BEARER` are the same); anything
else is refused: another scheme (Basic), a bare token, a tab or other whitespace where
the grammar has SP, trailing characters (a second token, a space: HTTP servers strip a
field's surrounding whitespace before we see it, RFC 9110 §5.5), a value longer than the
largest token a verifier accepts plus room for the scheme (checked before any pattern
work). Refusals are `BearerRefused(code)`: `no_token` (absent or empty: the caller did
not try), `bad_authorization`, `too_large`.

`credentials(authorization)` reads the DPoP scheme too (RFC 9449 §7.1: `DPoP` 1*SP
token68, token68 the same alphabet as b64token, scheme case-insensitive) and says which
scheme carried the token: the authorizer needs it, since a DPoP-bound token presented as
`Bearer` must be refused (RFC 9449 §7.2) and a bearer token must not pass under `DPoP`
without the key its proof would show. `bearer_token` stays Bearer-only (the admin guard).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from shared.jws import MAX_TOKEN_BYTES

# The scheme and the spaces after it: a longer value holds a token no verifier accepts.
MAX_AUTHORIZATION = MAX_TOKEN_BYTES + 64
_SCHEME = "bearer "
BEARER, DPOP = "bearer", "dpop"  # the schemes `credentials` returns, lower-case
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
BearerCode = Literal["no_token", "bad_authorization", "too_large"]
BEARER_CODES: tuple[BearerCode, ...] = get_args(BearerCode)


class BearerRefused(Exception):
    """An Authorization value that is not `Bearer <b64token>`; `code` says why."""

    __slots__ = ("code",)

    def __init__(self, code: BearerCode) -> None:
        super().__init__(code)
        self.code = code


def bearer_token(authorization: object) -> str:
    """The b64token of `Bearer <b64token>`, or `BearerRefused`."""
    scheme, token = credentials(authorization)
    if scheme != BEARER:
        raise BearerRefused("bad_authorization")
    return token


def credentials(authorization: object) -> tuple[str, str]:
    """(`"bearer"` or `"dpop"`, the token) of `Bearer <b64token>` or `DPoP <token68>`,
    or `BearerRefused`."""
    if authorization is None or authorization == "":
        raise BearerRefused("no_token")
    if type(authorization) is not str:
        raise BearerRefused("bad_authorization")
    if len(authorization) > MAX_AUTHORIZATION:
        raise BearerRefused("too_large")
    if authorization[:7].lower() == _SCHEME:
        scheme, token = BEARER, authorization[7:]
    elif authorization[:5].lower() == "dpop ":
        scheme, token = DPOP, authorization[5:]
    else:
        raise BearerRefused("bad_authorization")
    token = token.lstrip(" ")
    if not _B64TOKEN.fullmatch(token):
        raise BearerRefused("bad_authorization")
    return scheme, token
