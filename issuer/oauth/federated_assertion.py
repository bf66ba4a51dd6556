"""Federated client authentication: a trusted external issuer's JWT as the client
assertion (RFC 7523 §2.2, RFC 7521 §4.2), docs/federation.md.

A workload sends `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-
bearer` and `client_assertion=<a JWT its platform gave it>` (a Kubernetes projected
service-account token, a GitHub Actions OIDC token, an AWS STS web identity token, a
SPIFFE JWT-SVID), with or without `client_id`. The assertion goes here, not to
`private_key_jwt`, when its `iss` is a URI (`client_auth.federated_issuer`): a trusted
issuer is always one, a client id never is, so an attacker cannot steer an assertion
to the other path, and each path checks everything for itself. RFC 7523 §3, in order:
- `iss` is a trusted issuer, exactly (item 1) — `unknown_issuer`;
- the header's `alg` is among the issuer's `algorithms` and the signature verifies with
  the issuer's key chosen by `kid`, the algorithm coming from the key (item 9; RFC 8725
  §3.1: `none`, HS* and a public key used as an HMAC secret never pass) —
  `alg_not_allowed`, `unknown_kid`, `bad_signature`, `issuer_keys_unavailable`;
- `exp` is required and not passed (item 4) — `exp_missing`/`expired`; `nbf` not in
  the future (item 5) — `nbf_in_future`; `iat` required, not in the future and at most
  the issuer's `max_token_age` old (item 6) — `iat_missing`, `iat_in_future`,
  `too_old`;
- `aud` holds the issuer's configured audience, by default our token endpoint URL
  (item 3) — `wrong_audience`;
- `sub` is a registered federated identity of this issuer (item 2): exactly one client
  — `unknown_subject`; a `client_id` sent along must name that client —
  `client_id_mismatch`; the client must be federated and enabled — `unknown_client`,
  `disabled`;
- unless the issuer allows reuse, the assertion is spent once: the replay store is
  keyed by (iss, jti), or by the token's hash when it has no `jti`, kept until exp
  (item 7) — `replayed`.
Every failure is `invalid_client`, the reason logged only, and counted by the
brute-force throttle (issuer/http/oauth/client_request.py) as every method's failures
are. The client's token carries the external identity as `act` (RFC 8693 §4.1:
`{"iss": ..., "sub": ...}`), and the `token_issued` line names it.

Imported by the first request that presents a federated assertion
(`client_auth.DeferredMethod`), with the federation it reads (`issuer/federation/`): a
token for a client_secret client never loads either. The record it returns carries the
external identity (`ClientRecord.federated_identity`), which `federated.py` reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from issuer.clients.cache import ClientRecord, load_client_record
from issuer.clients.registry import FEDERATED
from issuer.federation.directory import Federation
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
    federated_issuer,
)
from issuer.store.replay_tables import FederatedAssertionJti
from issuer.store.tables import JTI_LENGTH, utcnow
from shared.errors import KeySetError, TokenError
from shared.verify import verify_signature


class FederatedAssertion(AssertionMethod):
    def __init__(
        self,
        federation: Federation,
        lookup: ClientLookup = load_client_record,
        clock: Callable[[], datetime] = utcnow,
        leeway: int = LEEWAY,
    ) -> None:
        self._federation = federation
        self._lookup = lookup
        self._clock = clock
        self._leeway = leeway

    def _authenticate(self, request: TokenRequest, session: Session) -> ClientRecord:
        form = request.form
        compact = jwt_bearer_assertion(request)
        iss = federated_issuer(request)
        if iss is None:  # present() said otherwise
            raise Refused("no_assertion")
        issuer = self._federation.issuer(session, iss)
        if issuer is None:
            raise Refused("unknown_issuer")
        # Before any key is looked up or fetched: an algorithm the issuer does not use.
        if compact.header.get("alg") not in issuer.algorithms:
            raise Refused("alg_not_allowed")
        try:
            verify_signature(compact, issuer.keys)
        except KeySetError:
            raise Refused("issuer_keys_unavailable") from None
        except TokenError as exc:
            raise Refused(exc.code) from None

        claims = compact.claims
        now = self._clock()
        exp = self._check_times(claims, now.timestamp(), issuer.max_token_age)
        aud = claims.get("aud")
        audiences = [aud] if type(aud) is str else aud
        if type(audiences) is not list or issuer.audience not in audiences:
            raise Refused("wrong_audience")
        sub = claims.get("sub")
        if type(sub) is not str or not sub:
            raise Refused("sub_missing")
        client_id = self._federation.client_id_for(session, iss, sub)
        if client_id is None:
            raise Refused("unknown_subject")
        # RFC 7521 §4.2: a client_id parameter, if sent, names the same client.
        if "client_id" in form and form["client_id"] != client_id:
            raise Refused("client_id_mismatch")
        client = self._lookup(session, client_id)
        if client is None or client.auth_method != FEDERATED:
            raise Refused("unknown_client")
        if not client.enabled:
            raise Refused("disabled")
        if not issuer.allow_reuse:
            key = self._replay_key(claims, form["client_assertion"])
            spend_once(session, FederatedAssertionJti(issuer=iss, jti=key), exp, now,
                       self._leeway)
        return client._replace(federated_identity=(iss, sub))

    def _check_times(self, claims: dict[str, Any], now: float, max_age: int) -> float:
        leeway = self._leeway
        exp = numeric_date(claims, "exp")
        if exp is None:
            raise Refused("exp_missing")
        if now >= exp + leeway:  # RFC 7519 §4.1.4: refused on or after exp
            raise Refused("expired")
        nbf = numeric_date(claims, "nbf")
        if nbf is not None and nbf > now + leeway:
            raise Refused("nbf_in_future")
        iat = numeric_date(claims, "iat")
        if iat is None:
            raise Refused("iat_missing")  # the maximum age is measured from it
        if iat > now + leeway:
            raise Refused("iat_in_future")
        if now - iat > max_age + leeway:
            raise Refused("too_old")
        return exp

    @staticmethod
    def _replay_key(claims: dict[str, Any], assertion: str) -> str:
        jti = claims.get("jti")
        if type(jti) is str and 0 < len(jti) <= JTI_LENGTH - 8 and not jti.startswith("#"):
            return jti
        # No usable jti (GitHub's and Kubernetes' tokens have one; not every issuer's):
        # the token itself, hashed.
        return "#sha256:" + hashlib.sha256(assertion.encode("utf-8")).hexdigest()
