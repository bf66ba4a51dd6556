"""Access tokens this issuer minted, read back by introspection (RFC 7662) and revocation
(RFC 7009): verified by the authorizer's own code (`shared.verify`) over the published
keys, so the issuer never calls a token valid that API Gateway would refuse.

The audience check accepts any audience this issuer mints for (the policy's APIs and the
issuer itself, for admin tokens): a token is ours whichever API it was meant for.
No leeway: "expired" here means what `exp` says (RFC 7662 §2.2 "active"), and tokens are
never dated ahead (`iat` is the minting moment, issuer/oauth/revocation.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from issuer.oauth.scopes import PolicyView
from shared.errors import TokenError

if TYPE_CHECKING:  # the verifier is imported by the first token read back (see below)
    from sqlalchemy.orm import Session

    from issuer.services import Services
    from shared.claims import AccessToken, AccessTokenRules


def own_token_rules(issuer_url: str, policy: PolicyView) -> AccessTokenRules:
    """This issuer as `iss`, and every audience it mints for: the policy's APIs and the
    issuer itself (admin tokens)."""
    # Imported here and in verify_own_token: the endpoints that read tokens back are
    # loaded on their first request, and a cold start for a token never runs them.
    from shared.claims import AccessTokenRules

    audiences = frozenset({issuer_url, *(api.audience for api in policy.apis.values())})
    return AccessTokenRules(issuer=issuer_url, audiences=audiences)


def verify_own_token(
    services: Services, session: Session, token: str, now: datetime
) -> AccessToken | None:
    """The verified token, or None for anything that is not a live token of ours
    (malformed, foreign, badly signed, expired, not yet valid): callers answer those
    alike. Checked against the published keys (`KeyStore.public_keys`). Revocation is
    the caller's check (`revocation.is_revoked`)."""
    from shared.verify import AccessTokenVerifier  # see own_token_rules

    rules = own_token_rules(services.settings.url, services.policy)
    keys = services.key_store.public_keys(session, now)
    try:
        return AccessTokenVerifier(rules, keys.get).verify(token, now.timestamp())
    except TokenError:
        return None
