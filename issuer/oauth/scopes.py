"""Scope parsing for requests (grammar: `shared.scope`, RFC 6749 §3.3) and the policy
view the issuer needs. A malformed scope is refused before any lookup."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
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
    # Read-only: `shared.policy.Api` is a frozen dataclass.
    @property
    def name(self) -> str: ...

    @property
    def audience(self) -> str: ...

    @property
    def scopes(self) -> Collection[str]: ...  # the scope names (a mapping will do)


class PolicyView(Protocol):
    """What the issuer reads from `shared.policy.Policy`."""

    @property
    def apis(self) -> Mapping[str, ApiView]: ...

    @property
    def scopes_supported(self) -> Collection[str]: ...

    def api_for_audience(self, audience: str) -> ApiView | None: ...

    def api_for_scope(self, scope: str) -> ApiView | None: ...


