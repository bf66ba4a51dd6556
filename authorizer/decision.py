"""The authorizer's decision: event -> token -> verified claims -> response.

Everything a request needs is built once per cold start (`Authorizer`); per request the
work is: parse the event, look the token up in the token cache, and on a miss verify it
(`shared.verify`) and compile what its scopes grant. The finished response is cached on
the verified token per ARN prefix (IAM) or per route (simple response), so a repeat is
a few dictionary lookups.

Reason codes (stable, for logs, metrics and `authorizer check`; `REASONS` below is the
same list as data, and tests/authorizer/test_reason_codes.py holds this text to it):
- allow: `granted`;
- deny (valid token): `route_not_permitted`, `no_route` (the token may call nothing),
  `no_api` (no API of the policy has the token's audience), `no_policy`;
- unauthorized: `bad_event`, `ambiguous_path` (a path whose decoded, normalised form may
  be another route: encoded "/", "\\", "." or "%", dot or empty segments, or an HTTP API
  path outside its route key; `authorizer/events.py`), `no_token`, `bad_authorization`,
  `ambiguous_authorization`, `too_large`, the `shared.errors.TokenError` codes
  (`malformed`, `crit_unsupported`, `wrong_typ`, `alg_not_allowed`, `unknown_kid`,
  `bad_signature`, `wrong_issuer`, `wrong_audience`, `expired`, `not_yet_valid`,
  `bad_claim`, `revocation_unavailable`: no revocation list held yet, failing closed;
  for a DPoP proof (`shared/dpop.py`, RFC 9449 §4.3): `dpop_malformed`, `dpop_bad_typ`,
  `dpop_bad_alg`, `dpop_bad_key`, `dpop_bad_signature`, `dpop_htm_mismatch`,
  `dpop_htu_mismatch`, `dpop_stale`, `dpop_nonce_required`, `dpop_bad_nonce`,
  `dpop_ath_mismatch`, `dpop_key_mismatch`, `dpop_replay`),
  `jwks_unavailable` (no keys yet), `revoked` (listed in the issuer's revocation list,
  `authorizer/revocation.py`; checked on token cache hits too), `internal_error`;
  for a sender-constrained token (`authorizer/binding.py`, checked on token cache hits
  too): `cnf_cert_missing`, `cnf_cert_mismatch`, `dpop_proof_missing`,
  `bound_token_as_bearer`, `bound_token_on_token_event`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

from authorizer.binding import (
    BINDING_CODES,
    Binding,
    BindingCheck,
    BindingCode,
    BindingRefused,
    token_binding,
)
from authorizer.events import (
    EVENT_CODES,
    HTTP,
    MAX_AUTHORIZATION,
    AuthRequest,
    EventCode,
    Refused,
    credentials,
    parse_event,
)
from authorizer.log import DecisionLog, who_fragment
from authorizer.responses import context_for, iam_response, policy_document, simple_response
from authorizer.token_cache import TokenCache
from shared.bearer import BEARER_CODES, BearerCode
from shared.errors import TOKEN_CODES, TokenCode, TokenError
from shared.revocation_list import token_generation

if TYPE_CHECKING:  # types only: the policy model and IAM compiler load only with a policy
    from authorizer.jwks_cache import JwksCache
    from authorizer.revocation import RevocationCache
    from shared.claims import AccessToken
    from shared.iam import IamGrant
    from shared.policy import Api, Policy
    from shared.verify import AccessTokenVerifier

    CompileIam = Callable[[Iterable[Api], frozenset[str]], IamGrant]

ALLOW, DENY, UNAUTHORIZED = "allow", "deny", "unauthorized"
DenyReason = Literal["route_not_permitted", "no_route", "no_api", "no_policy"]
DecisionCode = Literal["granted", "jwks_unavailable", "revoked", "internal_error"]
Reason = DecisionCode | DenyReason | EventCode | BearerCode | TokenCode | BindingCode
# Every reason code by the decision it comes with.
REASONS: dict[str, tuple[str, ...]] = {
    ALLOW: ("granted",),
    DENY: get_args(DenyReason),
    UNAUTHORIZED: tuple(dict.fromkeys((*EVENT_CODES, *BEARER_CODES, *TOKEN_CODES,
                                       *BINDING_CODES, "jwks_unavailable", "revoked",
                                       "internal_error"))),
}
# Bounds on the answers kept: per scope profile (routes, stages) and profiles overall. A
# client walking many paths or a flood of scope sets just recomputes (no crypto).
_MAX_ANSWERS = 256
_MAX_PROFILES = 1024


class Profile:
    """What a set of scopes may do under the APIs of a set of audiences. Shared by every
    token with the same (audiences, scopes): the expensive parts (IAM compile, route
    matching) are done once per profile, not once per token."""

    __slots__ = (
        "allow", "apis", "deny", "deny_reason", "documents", "inexact", "routes", "scopes",
    )

    def __init__(
        self,
        apis: tuple[Api, ...],
        scopes: frozenset[str],
        compile_iam: CompileIam | None,
        has_policy: bool,
    ) -> None:
        self.apis = apis
        self.scopes = scopes
        self.allow: tuple[str, ...] = ()
        self.deny: tuple[str, ...] = ()
        self.inexact: tuple[str, ...] = ()
        if apis and compile_iam is not None:  # apis come from a policy, which sets it
            compiled = compile_iam(apis, scopes)
            self.allow, self.deny, self.inexact = compiled.allow, compiled.deny, compiled.inexact
        self.deny_reason: DenyReason
        if not has_policy:
            self.deny_reason = "no_policy"
        elif not apis:
            self.deny_reason = "no_api"
        elif not self.allow:
            self.deny_reason = "no_route"
        else:
            self.deny_reason = "route_not_permitted"
        self.documents: dict[str, dict[str, Any]] = {}  # arn prefix -> policyDocument
        self.routes: dict[tuple[str, str], bool] = {}  # (method, path) -> allowed

    def allows(self, method: str, path: str) -> bool:
        key = (method, path)
        allowed = self.routes.get(key)
        if allowed is None:
            allowed = any(api.allows(self.scopes, method, path) for api in self.apis)
            _remember(self.routes, key, allowed)
        return allowed

    def document(self, prefix: str) -> dict[str, Any]:
        doc = self.documents.get(prefix)
        if doc is None:
            # Depends on the scopes and the stage only, never on the route requested.
            doc = policy_document(prefix, self.allow, self.deny)
            _remember(self.documents, prefix, doc)
        return doc


class Grant:
    """A verified token: its profile, identity, and the IAM answers already given. A
    bound token also keeps what the per-request proof is checked against: its binding,
    the scheme it came under and the token itself (for the proof's `ath`)."""

    __slots__ = (
        "binding", "client_id", "context", "gen", "iam", "jti", "profile", "raw", "scheme",
        "sub", "who",
    )

    def __init__(
        self,
        token: AccessToken,
        profile: Profile,
        scheme: str = "bearer",
        raw: str = "",
        binding: Binding | None = None,
    ) -> None:
        self.profile = profile
        self.scheme = scheme
        self.binding = binding
        self.raw = raw if binding is not None else ""
        self.sub = token.sub
        # What the revocation check reads on every request, cache hits included: the
        # client generation the token was minted from (`gen`, 0 when absent;
        # authorizer/revocation.py).
        self.client_id, self.jti = token.client_id, token.jti
        self.gen = token_generation(token.claims)
        self.context = context_for(token)
        if binding is not None:  # verified on every request before any answer is given
            self.context.update(binding.context)
        self.who = who_fragment(token.client_id, token.jti)
        self.iam: dict[str, dict[str, Any]] = {}  # arn prefix -> IAM policy response


class Outcome:
    """The decision for one event: `response` is None when unauthorized."""

    __slots__ = ("decision", "reason", "response", "route", "who")

    def __init__(
        self,
        response: dict[str, Any] | None,
        decision: str,
        reason: Reason,
        route: str,
        who: str = "",
    ) -> None:
        self.response = response
        self.decision = decision
        self.reason = reason
        self.route = route
        self.who = who


class Authorizer:
    def __init__(
        self,
        *,
        verifier: AccessTokenVerifier,
        keys: JwksCache,
        audiences: tuple[str, ...],
        policy: Policy | None = None,
        response: str = "simple",
        token_cache: TokenCache[Grant] | None = None,
        log: DecisionLog | None = None,
        wall_clock: Callable[[], float] = time.time,
        revocations: RevocationCache | None = None,
        binding: BindingCheck | None = None,
    ) -> None:
        self._verifier = verifier
        self._binding = binding if binding is not None else BindingCheck(wall_clock=wall_clock)
        self._revocations = revocations  # RevocationCache, or None when switched off
        self._keys = keys  # the JwksCache: asked whether any key is held at all
        self._audiences = frozenset(audiences)
        self._policy = policy
        self._simple = response == "simple"
        self._tokens: TokenCache[Grant] = (
            token_cache if token_cache is not None else TokenCache()
        )
        self._log = log if log is not None else DecisionLog()
        self._now = wall_clock
        self._compile: CompileIam | None = None
        if policy is not None:
            from shared.iam import compile_iam  # only with a policy: keeps cold start small

            self._compile = compile_iam
        # (API names, scopes) -> Profile; names hash cheaply where Api objects do not.
        self._profiles: dict[tuple[tuple[str, ...], frozenset[str]], Profile] = {}

    # -- the Lambda entry ------------------------------------------------------------

    def lambda_handler(self, event: object, context: object = None) -> dict[str, Any]:
        """The Lambda contract: the response, or `Exception("Unauthorized")`, the exact
        message API Gateway maps to 401. Nothing else escapes (it would be a 500)."""
        try:
            response = self.authorize(event)
        except Exception:  # authorize() never raises; this guards the log write itself
            response = None
        if response is None:
            raise Exception("Unauthorized")
        return response

    def authorize(self, event: object) -> dict[str, Any] | None:
        """Decide and log one line. Never raises: anything unexpected is logged as
        `internal_error` and answered as unauthorized (a raise would be a 500)."""
        start = time.perf_counter_ns()
        outcome = self.evaluate(event)
        self._log.decision(
            outcome.decision, outcome.reason, outcome.who, outcome.route,
            (time.perf_counter_ns() - start) // 1000,
        )
        return outcome.response

    def evaluate(self, event: object) -> Outcome:
        route = "-"
        try:
            request = parse_event(event)
            route = request.route
            return self.decide(request)
        except (Refused, TokenError, BindingRefused) as exc:
            return Outcome(None, UNAUTHORIZED, self._refusal_code(exc), route)
        except Exception as exc:
            self._log.event("error", "internal_error", error=type(exc).__name__, route=route)
            return Outcome(None, UNAUTHORIZED, "internal_error", route)

    def _refusal_code(self, exc: Refused | TokenError | BindingRefused) -> Reason:
        if exc.code == "unknown_kid" and not self._keys.has_keys:
            return "jwks_unavailable"  # not the token's fault: no keys have arrived yet
        return exc.code

    # -- the decision ----------------------------------------------------------------

    def decide(self, request: AuthRequest) -> Outcome:
        # The cache is keyed by the Authorization value as received: a hit means this exact
        # string was parsed and its token verified before, so a repeat skips the bearer
        # parse as well as the crypto. The length bound keeps an oversized value from
        # costing a hash over it.
        authorization = request.authorization
        grant = None
        if type(authorization) is str and len(authorization) <= MAX_AUTHORIZATION:
            grant = self._tokens.get(authorization)
        if grant is None:
            scheme, token = credentials(authorization)
            assert type(authorization) is str  # credentials refused anything else
            grant = self._verify(authorization, token, scheme)
        if grant.binding is not None or grant.scheme != "bearer":
            # Per request, cache hit or not: the proof (a DPoP header, the TLS client
            # certificate) is not part of the cache key (authorizer/binding.py).
            try:
                self._binding.check(request, grant.scheme, grant.raw, grant.binding)
            except (TokenError, BindingRefused) as exc:
                return Outcome(None, UNAUTHORIZED, exc.code, request.route, grant.who)
        revocations = self._revocations
        if revocations is not None and revocations.revoked(grant.client_id, grant.jti, grant.gen):
            return Outcome(None, UNAUTHORIZED, "revoked", request.route, grant.who)
        profile = grant.profile
        allowed = profile.allows(request.method, request.path)
        response: dict[str, Any] | None
        if request.kind == HTTP and self._simple:
            response = simple_response(allowed, grant.context)
        else:
            response = grant.iam.get(request.arn_prefix)
            if response is None:
                response = iam_response(grant.sub, profile.document(request.arn_prefix),
                                        grant.context)
                _remember(grant.iam, request.arn_prefix, response)
        if allowed:
            return Outcome(response, ALLOW, "granted", request.route, grant.who)
        return Outcome(response, DENY, profile.deny_reason, request.route, grant.who)

    def _verify(self, authorization: str, token: str, scheme: str) -> Grant:
        verified = self._verifier.verify(token, now=self._now())
        binding = token_binding(verified.claims)  # a cnf it cannot check: bad_claim
        grant = Grant(verified, self._profile(verified.aud, verified.scopes), scheme, token,
                      binding)
        self._tokens.put(authorization, grant, verified.exp)
        return grant

    def _profile(self, audiences: tuple[str, ...], scopes: frozenset[str]) -> Profile:
        apis: list[Api] = []
        if self._policy is not None:
            for aud in audiences:
                if aud in self._audiences:
                    api = self._policy.api_for_audience(aud)
                    if api is not None and api not in apis:
                        apis.append(api)
        key = (tuple(api.name for api in apis), scopes)
        profile = self._profiles.get(key)
        if profile is None:
            profile = Profile(tuple(apis), scopes, self._compile, self._policy is not None)
            if profile.inexact:
                # Once per scope set: IAM globs cannot say exactly what the policy grants
                # here (shared.iam); operators should see which undeclared paths leak.
                self._log.event("warning", "iam_inexact", scopes=" ".join(sorted(scopes)),
                                detail="; ".join(profile.inexact))
            if len(self._profiles) >= _MAX_PROFILES:
                self._profiles.clear()
            self._profiles[key] = profile
        return profile


_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(answers: dict[_K, _V], key: _K, value: _V) -> None:
    if len(answers) >= _MAX_ANSWERS:
        answers.clear()
    answers[key] = value
