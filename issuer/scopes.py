"""Scope syntax (RFC 6749 §3.3) and the policy view the issuer needs.

`scope = scope-token *( SP scope-token )`, `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`:
printable ASCII without space, `"` and `\\`. Anything else (NUL, unicode, control
characters, doubled spaces) is malformed and refused before any lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

ADMIN_SCOPE = "issuer:admin"  # built in: tokens for the issuer's own admin API
MAX_SCOPE_LENGTH = 2048

_SCOPE_CHARS = r"[\x21\x23-\x5b\x5d-\x7e]+"
_SCOPE = re.compile(rf"{_SCOPE_CHARS}(?: {_SCOPE_CHARS})*\Z")


def parse_scope(value: str) -> tuple[str, ...]:
    """Scope tokens in request order, duplicates dropped; `ValueError` if malformed."""
    if len(value) > MAX_SCOPE_LENGTH or not _SCOPE.match(value):
        raise ValueError("scope is not a space-separated list of RFC 6749 §3.3 scope tokens")
    return tuple(dict.fromkeys(value.split(" ")))


def is_scope_token(value: str) -> bool:
    return " " not in value and bool(_SCOPE.match(value))


def join_scopes(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


class ApiView(Protocol):
    name: str
    audience: str
    scopes: object  # a mapping or collection of scope names


class PolicyView(Protocol):
    """What the issuer reads from `shared.policy.Policy`."""

    @property
    def scopes_supported(self) -> object: ...

    def api_for_audience(self, audience: str) -> ApiView | None: ...

    def api_for_scope(self, scope: str) -> ApiView | None: ...


def api_scopes(api: ApiView) -> frozenset[str]:
    return frozenset(api.scopes)  # type: ignore[call-overload]
