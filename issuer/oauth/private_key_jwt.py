"""`private_key_jwt` client authentication (RFC 7523 §2.2, RFC 7521 §4.2).

The client signs a short-lived JWT with a private key whose public half it registered
(`Client.jwks`); it sends `client_assertion_type=urn:ietf:params:oauth:client-assertion-
type:jwt-bearer` and `client_assertion=<JWT>`. The checks are RFC 7523 §3's:
- `iss` and `sub` are both the client id (items 1, 2);
- `aud` names this server: its issuer URL or its token endpoint URL (item 3);
- `exp` is required, in the future and at most `max_lifetime` ahead; `nbf`/`iat`, when
  present, not in the future (items 4, 5, 6);
- `jti` is required and accepted once (item 7): the replay store's primary key makes a
  second insert fail, so of two concurrent replays one loses;
- the signature verifies with a key of the client's JWKS chosen by `kid`, the algorithm
  coming from that key (RFC 8725 §3.1): `none`, HS* and key confusion never pass
  (CVE-2016-10555; docs/threat-model.md §2).
Every failure is the same `invalid_client` as for a wrong secret; the reason goes to the
log only. A secret never authenticates a `private_key_jwt` client, nor an assertion a
secret client (`auth_method` decides).

Imported by the first request that presents an assertion (`client_auth.DeferredMethod`),
not with the token endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from issuer.clients.cache import ClientRecord, load_client_record
from issuer.clients.registry import PRIVATE_KEY_JWT, could_be_client_id
from issuer.oauth.assertion import (
    LEEWAY,
    AssertionMethod,
    Refused,
    jwt_bearer_assertion,
    numeric_date,
    spend_once,
)
from issuer.oauth.client_auth import (
    ClientLookup,
    TokenRequest,
)
from issuer.store.replay_tables import ClientAssertionJti
from issuer.store.tables import JTI_LENGTH, utcnow
from shared.errors import KeySetError, TokenError
from shared.jwk import KeySet
from shared.verify import verify_signature

# An assertion is a one-off proof: minutes, not hours (RFC 7523 §3 item 4 lets the server
# bound it; a long-lived assertion is a bearer secret in all but name).
MAX_ASSERTION_LIFETIME = 300


class PrivateKeyJwt(AssertionMethod):
    def __init__(
        self,
        issuer_url: str,
        token_endpoint: str,
        clock: Callable[[], datetime] = utcnow,
        max_lifetime: int = MAX_ASSERTION_LIFETIME,
        leeway: int = LEEWAY,
        lookup: ClientLookup = load_client_record,
    ) -> None:
        self._audiences = frozenset({issuer_url, token_endpoint})
        self._lookup = lookup
        self._clock = clock
        self._max_lifetime = max_lifetime
        self._leeway = leeway

    def _authenticate(self, request: TokenRequest, session: Session) -> ClientRecord:
        form = request.form
        compact = jwt_bearer_assertion(request)
        claims = compact.claims
        iss, sub = claims.get("iss"), claims.get("sub")
        if type(iss) is not str or iss != sub or not could_be_client_id(iss):
            raise Refused("iss_sub_not_client_id")
        # RFC 7521 §4.2: a client_id parameter, if sent, names the same client.
        if "client_id" in form and form["client_id"] != iss:
            raise Refused("client_id_mismatch")

        client = self._lookup(session, iss)
        if client is None or client.auth_method != PRIVATE_KEY_JWT or not client.jwks:
            raise Refused("unknown_client")
        try:
            keys = KeySet.from_jwks(client.jwks)
            # kid chosen key, alg from the key; none/HS* fall outside the allowlist.
            verify_signature(compact, keys.get)
        except KeySetError:
            raise Refused("client_jwks_unusable") from None
        except TokenError as exc:
            raise Refused(exc.code) from None

        now = self._clock()
        exp = self._check_times(claims, now.timestamp())
        self._check_audience(claims)
        jti = claims.get("jti")
        if type(jti) is not str or not 0 < len(jti) <= JTI_LENGTH:  # the replay store's column
            raise Refused("jti_missing")
        if not client.enabled:
            raise Refused("disabled")
        spend_once(session, ClientAssertionJti(client_id=client.client_id, jti=jti), exp, now,
                   self._leeway)
        return client

    def _check_times(self, claims: dict, now: float) -> float:
        leeway = self._leeway
        exp = numeric_date(claims, "exp")
        if exp is None:
            raise Refused("exp_not_a_number")
        if now >= exp + leeway:  # RFC 7519 §4.1.4: refused on or after exp
            raise Refused("expired")
        if exp - now > self._max_lifetime + leeway:
            raise Refused("exp_too_far")
        for name in ("iat", "nbf"):
            value = numeric_date(claims, name)
            if value is not None and value > now + leeway:
                raise Refused(f"{name}_in_future")
        return exp

    def _check_audience(self, claims: dict) -> None:
        aud = claims.get("aud")
        audiences = [aud] if type(aud) is str else aud
        if type(audiences) is not list or not any(
            type(a) is str and a in self._audiences for a in audiences
        ):
            raise Refused("wrong_audience")
