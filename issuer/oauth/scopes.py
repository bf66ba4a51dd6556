"""Scope parsing for requests (grammar: `shared.scope`, RFC 6749 §3.3) and the policy
view the issuer needs. A malformed scope is refused before any lookup."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from shared.scope import is_scope

MAX_SCOPE_LENGTH = 2048


def parse_scope(value: str) -> tuple[str, ...]:
    """Scope tokens in request order, duplicates dropped; `ValueError` if malformed."""
    if len(value) > MAX_SCOPE_LENGTH or not is_scope(value):
        raise ValueError("scope is not a space-separated list of RFC 6749 §3.3 scope tokens")
    return tuple(dict.fromkeys(value.split(" ")))


def join_scopes(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


class ApiView(Protocol):
    name: str
    audience: str
    scopes: Collection[str]  # the scope names (a mapping to descriptions will do)


class PolicyView(Protocol):
    """What the issuer reads from `shared.policy.Policy`."""

    @property
    def scopes_supported(self) -> object: ...

    def api_for_audience(self, audience: str) -> ApiView | None: ...

    def api_for_scope(self, scope: str) -> ApiView | None: ...


