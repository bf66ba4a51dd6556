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
    from shared.claims import AccessToken, AccessTokenRules
    from shared.jwk import KeySet


def own_token_rules(issuer_url: str, policy: PolicyView) -> AccessTokenRules:
    """This issuer as `iss`, and every audience it mints for: the policy's APIs and the
    issuer itself (admin tokens)."""
    # Imported here and in verify_own_token: the endpoints that read tokens back are
    # imported with the app, but a cold start for a token never runs them.
    from shared.claims import AccessTokenRules

    audiences = frozenset({issuer_url, *(api.audience for api in policy.apis.values())})
    return AccessTokenRules(issuer=issuer_url, audiences=audiences)


def verify_own_token(
    token: str, rules: AccessTokenRules, keys: KeySet, now: datetime
) -> AccessToken | None:
    """The verified token, or None for anything that is not a live token of ours
    (malformed, foreign, badly signed, expired, not yet valid): callers answer those
    alike. `keys` are the published ones (`KeyStore.public_keys`). Revocation is the
    caller's check (`revocation.is_revoked`)."""
    from shared.verify import AccessTokenVerifier  # see own_token_rules

    try:
        return AccessTokenVerifier(rules, keys.get).verify(token, now.timestamp())
    except TokenError:
        return None
