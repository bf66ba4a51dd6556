"""The authorizer's decision: event -> token -> verified claims -> response.

Everything a request needs is built once per cold start (`Authorizer`); per request the
work is: parse the event, look the token up in the token cache, and on a miss verify it
(`shared.verify`) and compile what its scopes grant. The finished response is cached on
the verified token per ARN prefix (IAM) or per route (simple response), so a repeat is
a few dictionary lookups.

Reason codes (stable, for logs and `authorizer check`):
- allow: `granted`;
- deny (valid token): `route_not_permitted`, `no_route` (the token may call nothing),
  `no_api` (no API of the policy has the token's audience), `no_policy`;
- unauthorized: `bad_event`, `no_token`, `bad_authorization`, `ambiguous_authorization`,
  `too_large`, the `shared.errors.TokenError` codes, `jwks_unavailable` (no keys yet),
  `internal_error`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from authorizer.events import HTTP, AuthRequest, Refused, bearer_token, parse_event
from authorizer.log import DecisionLog, who_fragment
from authorizer.responses import context_for, iam_policy, simple_response
from authorizer.token_cache import TokenCache
from shared.errors import TokenError

ALLOW, DENY, UNAUTHORIZED = "allow", "deny", "unauthorized"
# Per verified token, at most this many stages/routes keep a finished answer; more
# (a client walking many paths) just recomputes, which is cheap without crypto.
_MAX_ANSWERS_PER_TOKEN = 64


class Grant:
    """A verified token and what it may do, with the answers already given."""

    __slots__ = ("apis", "context", "iam", "routes", "scopes", "sub", "who")

    def __init__(self, token, apis: tuple) -> None:
        self.sub = token.sub
        self.scopes = token.scopes
        self.apis = apis
        self.context = context_for(token)
        self.who = who_fragment(token.client_id, token.jti)
        self.iam: dict[str, dict] = {}  # arn prefix -> IAM policy response
        self.routes: dict[tuple[str, str], bool] = {}  # (method, path) -> allowed


class Outcome:
    """The decision for one event: `response` is None when unauthorized."""

    __slots__ = ("decision", "reason", "response", "route", "who")

    def __init__(self, response, decision: str, reason: str, route: str, who: str = "") -> None:
        self.response = response
        self.decision = decision
        self.reason = reason
        self.route = route
        self.who = who


class Authorizer:
    def __init__(
        self,
        *,
        verifier,
        keys,
        audiences: tuple[str, ...],
        policy=None,
        response: str = "simple",
        token_cache: TokenCache | None = None,
        log: DecisionLog | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = verifier
        self._keys = keys  # the JwksCache: asked whether any key is held at all
        self._audiences = frozenset(audiences)
        self._policy = policy
        self._simple = response == "simple"
        self._tokens = token_cache if token_cache is not None else TokenCache()
        self._log = log if log is not None else DecisionLog()
        self._now = wall_clock
        self._compile = None
        if policy is not None:
            from shared.iam import compile_iam  # only with a policy: keeps cold start small

            self._compile = compile_iam

    # -- the Lambda entry ------------------------------------------------------------

    def lambda_handler(self, event: object, context: object = None) -> dict:
        """The Lambda contract: the response, or `Exception("Unauthorized")`, the exact
        message API Gateway maps to 401. Nothing else escapes (it would be a 500)."""
        try:
            response = self.authorize(event)
        except Exception:  # authorize() never raises; this guards the log write itself
            response = None
        if response is None:
            raise Exception("Unauthorized")
        return response

    def authorize(self, event: object) -> dict | None:
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
        except (Refused, TokenError) as exc:
            return Outcome(None, UNAUTHORIZED, self._refusal_code(exc), route)
        except Exception as exc:
            self._log.event("error", "internal_error", error=type(exc).__name__, route=route)
            return Outcome(None, UNAUTHORIZED, "internal_error", route)

    def _refusal_code(self, exc: Refused | TokenError) -> str:
        if exc.code == "unknown_kid" and not self._keys.has_keys:
            return "jwks_unavailable"  # not the token's fault: no keys have arrived yet
        return exc.code

    # -- the decision ----------------------------------------------------------------

    def decide(self, request: AuthRequest) -> Outcome:
        token = bearer_token(request.authorization)
        grant = self._tokens.get(token)
        if grant is None:
            grant = self._verify(token)
        route = (request.method, request.path)
        allowed = grant.routes.get(route)
        if allowed is None:
            allowed = self._route_allowed(grant, request.method, request.path)
            _remember(grant.routes, route, allowed)
        if request.kind == HTTP and self._simple:
            response = simple_response(allowed, grant.context)
        else:
            response = grant.iam.get(request.arn_prefix)
            if response is None:
                response = self._iam(grant, request.arn_prefix)
                _remember(grant.iam, request.arn_prefix, response)
        if allowed:
            return Outcome(response, ALLOW, "granted", request.route, grant.who)
        return Outcome(response, DENY, self._deny_reason(grant), request.route, grant.who)

    def _verify(self, token: str) -> Grant:
        verified = self._verifier.verify(token, now=self._now())
        apis: tuple = ()
        if self._policy is not None:
            found = []
            for aud in verified.aud:
                if aud in self._audiences:
                    api = self._policy.api_for_audience(aud)
                    if api is not None and api not in found:
                        found.append(api)
            apis = tuple(found)
        grant = Grant(verified, apis)
        self._tokens.put(token, grant, verified.exp)
        return grant

    def _route_allowed(self, grant: Grant, method: str, path: str) -> bool:
        return any(api.allows(grant.scopes, method, path) for api in grant.apis)

    def _iam(self, grant: Grant, prefix: str) -> dict:
        allow: tuple = ()
        deny: tuple = ()
        if grant.apis:
            compiled = self._compile(grant.apis, grant.scopes)
            allow, deny = compiled.allow, compiled.deny
        # Depends on the token and the stage only, never on the route requested.
        return iam_policy(grant.sub, prefix, allow, deny, grant.context)

    def _deny_reason(self, grant: Grant) -> str:
        if self._policy is None:
            return "no_policy"
        if not grant.apis:
            return "no_api"
        if not any(grant.routes.values()) and not self._compile(grant.apis, grant.scopes).allow:
            return "no_route"
        return "route_not_permitted"


def _remember(answers: dict, key, value) -> None:
    if len(answers) >= _MAX_ANSWERS_PER_TOKEN:
        answers.clear()
    answers[key] = value
