"""The client credentials grant (RFC 6749 §4.4): which audience and scopes to grant.

No silent down-scoping: every requested scope must be allowed for the client and belong
to the selected API, else `invalid_scope` and nothing is issued (RFC 6749 §5.2;
docs/threat-model.md §2).
The audience comes from `resource` (RFC 8707) or `audience`, else the client's first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from issuer.clients.cache import ClientRecord
from issuer.clients.registry import CLIENT_CREDENTIALS, audiences_for, scopes_of_audience
from issuer.oauth.errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from issuer.oauth.scopes import PolicyView, parse_scope
from issuer.oauth.token_lifetime import MAX_TOKEN_LIFETIME
from shared.scope import ADMIN_SCOPE


class Grant(NamedTuple):
    audience: str
    scopes: tuple[str, ...]
    lifetime: int


def check_grant_type(form: Mapping[str, str]) -> None:
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise InvalidRequest("grant_type is required")
    if grant_type != CLIENT_CREDENTIALS:
        raise UnsupportedGrantType()


def _requested_audience(form: Mapping[str, str]) -> str | None:
    resource, audience = form.get("resource"), form.get("audience")
    if resource is not None:
        # RFC 8707 §2: an absolute URI without a fragment.
        parts = urlsplit(resource)
        if not parts.scheme or parts.fragment or "#" in resource:
            raise InvalidTarget("resource must be an absolute URI without a fragment")
    if resource is not None and audience is not None and resource != audience:
        raise InvalidRequest("resource and audience name different targets")
    return resource if resource is not None else audience


def _select_audience(
    requested: str | None, scopes: tuple[str, ...] | None, client: ClientRecord, issuer_url: str
) -> str:
    allowed = audiences_for(client, issuer_url)
    if requested is not None:
        if requested not in allowed:
            raise InvalidTarget()
        return requested
    if scopes and ADMIN_SCOPE in scopes and issuer_url in allowed:
        return issuer_url  # admin tokens are for the issuer itself
    if not allowed:
        raise InvalidTarget("the client has no audience")
    return allowed[0]


def grant_client_credentials(
    form: Mapping[str, str],
    client: ClientRecord,
    policy: PolicyView,
    issuer_url: str,
    default_lifetime: int,
) -> Grant:
    if CLIENT_CREDENTIALS not in client.grant_types:
        raise UnauthorizedClient()
    requested_scope = form.get("scope")
    try:
        scopes = parse_scope(requested_scope) if requested_scope is not None else None
    except ValueError as exc:
        # Malformed syntax is a bad request (RFC 6749 §3.3 grammar), not a scope decision.
        raise InvalidRequest(str(exc)) from None

    audience = _select_audience(_requested_audience(form), scopes, client, issuer_url)
    api_scopes = scopes_of_audience(audience, issuer_url, policy)
    if api_scopes is None:
        raise InvalidTarget("the audience is not an API in the policy")

    if scopes is None:
        # Absent scope: the client's default scopes that belong to this audience.
        scopes = tuple(s for s in client.default_scopes if s in api_scopes)
        if not scopes:
            raise InvalidScope("no default scope for this audience; request a scope")
    else:
        if not set(scopes) <= set(client.scopes):
            raise InvalidScope("a requested scope is not allowed for this client")
        if not all(scope in api_scopes for scope in scopes):
            raise InvalidScope("a requested scope does not belong to the requested audience")

    lifetime = min(client.token_lifetime or default_lifetime, MAX_TOKEN_LIFETIME)
    return Grant(audience=audience, scopes=scopes, lifetime=lifetime)
