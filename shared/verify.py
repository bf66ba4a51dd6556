"""Access token verification: structure, then header, then key, then signature, then claims.

The order is the defence: cheap structural refusals first (docs/threat-model.md §1), the algorithm
pinned by the key rather than the token (RFC 8725 §3.1), and claims read only after the
signature holds. Key sources embedded in the token (`jwk`, `jku`, `x5u`, `x5c`, `x5t`)
are never read (CVE-2018-0114; docs/threat-model.md §1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.claims import AccessToken, AccessTokenRules, check_claims, check_header
from shared.errors import TokenError
from shared.jwa import ALLOWED_ALGS
from shared.jwk import PublicKey
from shared.jws import Compact, Jws, parse_compact

KeyLookup = Callable[[str | None], PublicKey | None]


def select_key(header: dict[str, Any], key_lookup: KeyLookup) -> PublicKey:
    """The key that must have signed this token, or `TokenError`.

    `none` and HS* in any letter case fall outside the allowlist (RFC 8725 §3.1,
    CVE-2016-10555)."""
    alg = header["alg"]
    if alg not in ALLOWED_ALGS:
        raise TokenError("alg_not_allowed", "alg outside the allowlist")
    kid = header.get("kid")
    # RFC 7515 §4.1.4: a kid, when present, is a string. `"kid": null` is a kid that is
    # not a string, not an absent one: it must not select a one-key set's sole key.
    if type(kid) is not str and (kid is not None or "kid" in header):
        raise TokenError("unknown_kid", "kid is not a string")
    # kid is opaque: one dictionary lookup, no fallback to other keys (RFC 7515 §4.1.4).
    key = key_lookup(kid)
    if key is None:
        raise TokenError("unknown_kid", "no usable key for this kid")
    if alg != key.alg:
        raise TokenError("alg_not_allowed", "token alg differs from the key's alg")
    return key


def verify_signature(jws: Jws | Compact, key_lookup: KeyLookup) -> PublicKey:
    """JWS-level verification (no claims): key selection plus the signature."""
    key = select_key(jws.header, key_lookup)
    if not key.verify(jws.signing_input, jws.signature):
        raise TokenError("bad_signature", "signature does not verify")
    return key


class AccessTokenVerifier:
    """Verifies RFC 9068 access tokens. `key_lookup` may raise `KeySetError` when the
    key source is down; that propagates untouched so it is never read as a bad token."""

    __slots__ = ("_key_lookup", "rules")

    def __init__(self, rules: AccessTokenRules, key_lookup: KeyLookup) -> None:
        self.rules = rules
        self._key_lookup = key_lookup

    def verify(self, token: Any, now: float | None = None) -> AccessToken:
        compact = parse_compact(token)
        # typ and crit need no key: refuse them before any key lookup or crypto.
        check_header(compact.header)
        verify_signature(compact, self._key_lookup)
        return check_claims(compact.claims, self.rules, time.time() if now is None else now)
