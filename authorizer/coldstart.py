"""Cold start: settings, keys, policy and verifier, built once per Lambda instance.

Failures split by whose fault they are. A missing or malformed setting, an unreadable
JWKS file or a broken policy file is a deploy error: it raises here, so the Lambda fails
its init with a clear message. An unreachable issuer is not: keys are fetched lazily and
tokens are refused (`jwks_unavailable`) until they arrive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from authorizer.binding import BindingCheck
from authorizer.decision import Authorizer
from authorizer.jwks_cache import CacheOptions, Fetcher, JwksCache, fetch_jwks
from authorizer.log import DecisionLog
from authorizer.revocation import RevocationCache, fetch_revocation_list
from authorizer.settings import Settings
from authorizer.token_cache import TokenCache
from shared.claims import AccessTokenRules
from shared.verify import AccessTokenVerifier

if TYPE_CHECKING:  # the policy model is imported only when a policy is used
    from shared.policy import Policy


def build_authorizer(
    settings: Settings,
    *,
    fetcher: Fetcher = fetch_jwks,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    log: DecisionLog | None = None,
    policy: Policy | None = None,
    revocation_fetcher: Fetcher | None = None,
) -> Authorizer:
    """`policy` overrides the file named by the settings (tests, `authorizer check`)."""
    log = log if log is not None else DecisionLog()
    if settings.metrics == "emf":
        from authorizer.metrics import DecisionMetrics  # only when metrics are on

        log = log.with_metrics(DecisionMetrics(settings.metrics_namespace, clock=wall_clock))
    cache_options: CacheOptions = {
        "uri": settings.jwks_uri,
        "ttl": settings.jwks_ttl,
        "cooldown": settings.jwks_cooldown,
        "fetcher": fetcher,
        "clock": clock,
        "log": log.event,
    }
    if settings.jwks_file:
        keys = JwksCache.from_file(settings.jwks_file, **cache_options)
        file_keys = keys.keys
        assert file_keys is not None  # from_file holds the file's keys or raised
        for kid, why in file_keys.rejected:
            log.event("warning", "jwk_rejected", source=settings.jwks_file, kid=kid, reason=why)
    else:
        keys = JwksCache(**cache_options)
    if policy is None and settings.policy_file:
        from shared.policy import load_policy  # tomllib and the policy model, only if used

        policy = load_policy(settings.policy_file)
    if policy is None:
        log.event("warning", "no_policy",
                  detail="no POLICY_FILE and no policy.toml: every valid token is denied")
    else:
        for aud in settings.audiences:
            if policy.api_for_audience(aud) is None:
                log.event("warning", "audience_not_in_policy", audience=aud)
    rules = AccessTokenRules(
        issuer=settings.issuer, audiences=frozenset(settings.audiences), leeway=settings.leeway
    )
    revocations = None
    if settings.revocation_uri:
        # One injected fetcher serves every issuer document in tests; deployed, the list
        # has its own shorter timeout and larger size cap.
        if revocation_fetcher is None:
            revocation_fetcher = fetch_revocation_list if fetcher is fetch_jwks else fetcher
        revocations = RevocationCache(
            uri=settings.revocation_uri, issuer=settings.issuer, key_lookup=keys.get,
            ttl=settings.revocation_ttl, leeway=settings.leeway,
            fail_closed=settings.revocation_fail == "closed", fetcher=revocation_fetcher,
            clock=clock, wall_clock=wall_clock, log=log.event,
        )
    return Authorizer(
        verifier=AccessTokenVerifier(rules, keys.get),
        keys=keys,
        audiences=settings.audiences,
        policy=policy,
        response=settings.response,
        token_cache=TokenCache(max_age=settings.jwks_ttl, clock=wall_clock),
        log=log,
        wall_clock=wall_clock,
        revocations=revocations,
        binding=BindingCheck(
            public_url=settings.public_url, max_age=settings.dpop_max_age,
            wall_clock=wall_clock,
        ),
    )


def cold_start(environ: Mapping[str, str] | None = None, **overrides: Any) -> Authorizer:
    return build_authorizer(Settings.from_env(environ), **overrides)
