"""Access token claim rules: RFC 9068 §4 validation with RFC 8725 hygiene.

Type checks are strict (a bool is not a number, a list is not a scope string) because a
claim of the wrong type must become a refusal, never a crash (a crash in the authorizer
is a 500 at API Gateway, not a 401: docs/threat-model.md §1).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard, overload

from shared.errors import TokenError
from shared.scope import is_scope

# RFC 9068 §2.1: "at+jwt"; media types compare case-insensitively (RFC 2045 §5.1).
_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})


@dataclass(frozen=True, slots=True)
class AccessTokenRules:
    """What this verifier accepts. Issuer and audiences are required, never defaulted."""

    issuer: str
    audiences: frozenset[str]
    leeway: int = 0
    max_token_age: int | None = None

    def __post_init__(self) -> None:
        audiences: Iterable[str] = self.audiences
        if isinstance(audiences, str):  # frozenset("api") would be its letters
            audiences = (audiences,)
        audiences = frozenset(audiences)
        if not self.issuer or not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError("issuer and at least one audience are required")
        if self.leeway < 0 or (self.max_token_age is not None and self.max_token_age <= 0):
            raise ValueError("leeway must be >= 0 and max_token_age > 0")
        object.__setattr__(self, "audiences", audiences)


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A verified access token, the claims callers act on."""

    sub: str
    client_id: str
    scope: str
    scopes: frozenset[str]
    aud: tuple[str, ...]
    exp: float
    iat: float | None
    nbf: float | None
    jti: str | None
    claims: dict[str, Any] = field(repr=False)


_FLOAT_MAX = sys.float_info.max


def is_number(value: object) -> TypeGuard[float]:
    """A JSON number fit for a NumericDate (RFC 7519 §2): an int or a finite float, not
    a bool. Python reads an integer literal of any length exactly, and 10**400 has no
    float: `math.isfinite` would raise OverflowError on it, so an integer beyond float
    range is refused here like Infinity (compared exactly, without converting it).
    A TypeGuard, not a TypeIs: False does not mean "not an int" (a bool, 10**400)."""
    # `type(value) is` rather than isinstance: a bool is an int subclass and no number.
    if type(value) is int:
        return -_FLOAT_MAX <= value <= _FLOAT_MAX
    return type(value) is float and math.isfinite(value)


@overload
def _number(claims: dict[str, Any], name: str, required: Literal[True]) -> float: ...
@overload
def _number(claims: dict[str, Any], name: str, required: bool) -> float | None: ...
def _number(claims: dict[str, Any], name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and name not in claims and not required:
        return None
    if not is_number(value):
        raise TokenError("bad_claim", f"{name} missing or not a number")
    return value


@overload
def _string(claims: dict[str, Any], name: str, required: Literal[True]) -> str: ...
@overload
def _string(claims: dict[str, Any], name: str, required: bool) -> str | None: ...
def _string(claims: dict[str, Any], name: str, required: bool) -> str | None:
    value = claims.get(name)
    if value is None and name not in claims and not required:
        return None
    if type(value) is not str:
        raise TokenError("bad_claim", f"{name} missing or not a string")
    return value


def _audiences(claims: dict[str, Any]) -> tuple[str, ...]:
    aud = claims.get("aud")
    if type(aud) is str:
        return (aud,)
    if type(aud) is list and aud and all(type(a) is str for a in aud):
        return tuple(aud)
    raise TokenError("bad_claim", "aud missing or not a string / list of strings")


def _scopes(claims: dict[str, Any]) -> tuple[str, frozenset[str]]:
    scope = _string(claims, "scope", required=False)
    if not scope:
        return "", frozenset()
    if not is_scope(scope):
        raise TokenError("bad_claim", "scope is not space-separated scope-tokens")
    return scope, frozenset(scope.split(" "))


def check_header(header: dict[str, Any]) -> None:
    """Header rules that need no key: `typ` (RFC 9068 §4 step 2) and `crit`."""
    # RFC 7515 §4.1.11: we understand no extension, so any `crit` must be refused.
    if "crit" in header:
        raise TokenError("crit_unsupported", "crit header present")
    # RFC 7797 §3: `b64` asks for an unencoded payload, an extension we do not implement
    # (and one that must be listed in `crit`, refused above): never read past it.
    if "b64" in header:
        raise TokenError("crit_unsupported", "b64 header present")
    typ = header.get("typ")
    if type(typ) is not str or typ.lower() not in _ACCESS_TOKEN_TYPES:
        raise TokenError("wrong_typ", "typ is not at+jwt")


def check_access_token(
    header: dict[str, Any], claims: dict[str, Any], rules: AccessTokenRules, now: float
) -> AccessToken:
    """RFC 9068 §4 checks (header and claims) on an already signature-verified token."""
    check_header(header)
    return check_claims(claims, rules, now)


def check_claims(claims: dict[str, Any], rules: AccessTokenRules, now: float) -> AccessToken:
    """The claims half of RFC 9068 §4, for callers that checked the header already."""
    iss = _string(claims, "iss", required=True)
    if iss != rules.issuer:  # exact comparison, no normalisation (RFC 9068 §4 step 3)
        raise TokenError("wrong_issuer", "iss is not the configured issuer")
    aud = _audiences(claims)
    if rules.audiences.isdisjoint(aud):
        raise TokenError("wrong_audience", "aud does not name this resource server")
    leeway = rules.leeway
    exp = _number(claims, "exp", required=True)
    # RFC 7519 §4.1.4: the token is refused "on or after" exp. A fractional exp (RFC 7519
    # §2 NumericDate) counts from its whole second, as PyJWT reads it: never later than exp.
    if now >= math.floor(exp) + leeway:
        raise TokenError("expired", "exp is in the past")
    nbf = _number(claims, "nbf", required=False)
    if nbf is not None and nbf > now + leeway:
        raise TokenError("not_yet_valid", "nbf is in the future")
    iat = _number(claims, "iat", required=rules.max_token_age is not None)
    if iat is not None:
        if iat > now + leeway:
            raise TokenError("not_yet_valid", "iat is in the future")
        if rules.max_token_age is not None and now - iat > rules.max_token_age + leeway:
            raise TokenError("expired", "token older than max_token_age")
    sub = _string(claims, "sub", required=True)
    client_id = _string(claims, "client_id", required=True)
    jti = _string(claims, "jti", required=False)
    scope, scopes = _scopes(claims)
    return AccessToken(
        sub=sub,
        client_id=client_id,
        scope=scope,
        scopes=scopes,
        aud=aud,
        exp=exp,
        iat=iat,
        nbf=nbf,
        jti=jti,
        claims=claims,
    )
