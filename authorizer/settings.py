"""Authorizer settings, read once from the environment at cold start.

Modelled on starlette's `Config`: stdlib only, and a missing or malformed value fails the
cold start with a message that names the variable, so a misconfigured Lambda never
reaches its first request (where every answer would be a puzzling 401).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

RESPONSE_KINDS = ("simple", "iam")
# Both sides run on NTP-synced clocks; 30 s covers skew while keeping the window in
# which an expired token still passes short (RFC 7519 §4.1.4 "some small leeway").
DEFAULT_LEEWAY = 30
MAX_LEEWAY = 300
# How long fetched keys are trusted before a refetch: bounds how long a key the issuer
# has withdrawn keeps verifying here (the verifiers' cache horizon the issuer's key
# lifecycle waits out: docs/design.md, "The key lifecycle").
DEFAULT_JWKS_TTL = 300
# aws-jwt-verify's "penalty box": at most one refetch per cooldown for unknown kids.
DEFAULT_JWKS_COOLDOWN = 60
# Where Lambda unpacks the deployment package; the policy may be bundled there.
_TASK_ROOT_ENV = "LAMBDA_TASK_ROOT"
_POLICY_FILENAME = "policy.toml"
# How often the issuer's signed revocation list is refetched: with API Gateway's own
# authorizer cache TTL, the time a revoked token may still pass (docs/revocation.md).
DEFAULT_REVOCATION_TTL = 30
# What the authorizer does while it has never held a revocation list (cold start with the
# issuer unreachable, or a list it cannot adopt): "closed" refuses every token
# (`revocation_unavailable`), "open" checks tokens without revocation. docs/revocation.md
# states the trade-off.
REVOCATION_FAIL_MODES = ("closed", "open")
DEFAULT_REVOCATION_FAIL = "closed"
# `emf`: every decision line is also a CloudWatch embedded-metric document (decisions by
# reason, and by client for verified tokens only: authorizer/metrics.py).
METRICS_MODES = ("off", "emf")
# DPoP proofs (RFC 9449 §11.1): how old a proof's iat may be, which is also how long its
# jti is remembered per instance (authorizer/binding.py). A client signs a fresh proof per
# request, so the window only has to cover clock skew and transit.
DEFAULT_DPOP_MAX_AGE = 60
MAX_DPOP_MAX_AGE = 300
# Explicitly switching the URI off (file-only deployments without egress).
_DISABLED = frozenset({"", "none", "off"})


class ConfigError(Exception):
    """A setting is missing or malformed; raised at cold start (module import)."""


@dataclass(frozen=True, slots=True)
class Settings:
    issuer: str
    audiences: tuple[str, ...]
    jwks_uri: str | None
    jwks_file: str | None
    policy_file: str | None
    leeway: int = DEFAULT_LEEWAY
    response: str = "simple"
    jwks_ttl: int = DEFAULT_JWKS_TTL
    jwks_cooldown: int = DEFAULT_JWKS_COOLDOWN
    revocation_uri: str | None = None
    revocation_ttl: int = DEFAULT_REVOCATION_TTL
    revocation_fail: str = DEFAULT_REVOCATION_FAIL
    # Decision metrics as CloudWatch embedded metric format (authorizer/metrics.py).
    metrics: str = "off"
    metrics_namespace: str = "Tollgate"
    # The URL clients call the API at (a custom domain and its API mapping's base path):
    # the `htu` a DPoP proof must name. None: from the event (authorizer/binding.py).
    public_url: str | None = None
    dpop_max_age: int = DEFAULT_DPOP_MAX_AGE

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, cwd: str | None = None
    ) -> Settings:
        env = os.environ if environ is None else environ
        issuer = _required(env, "AUTHORIZER_ISSUER")
        audiences = tuple(a.strip() for a in _required(env, "AUTHORIZER_AUDIENCE").split(","))
        audiences = tuple(dict.fromkeys(a for a in audiences if a))
        if not audiences:
            raise ConfigError("Config 'AUTHORIZER_AUDIENCE' names no audience.")
        jwks_file = env.get("AUTHORIZER_JWKS_FILE") or None
        jwks_uri = _jwks_uri(env, issuer, jwks_file)
        response = _choice(env, "AUTHORIZER_RESPONSE", "simple", RESPONSE_KINDS)
        return cls(
            issuer=issuer,
            audiences=audiences,
            jwks_uri=jwks_uri,
            jwks_file=jwks_file,
            policy_file=_policy_file(env, cwd),
            leeway=_seconds(env, "AUTHORIZER_LEEWAY", DEFAULT_LEEWAY, 0, MAX_LEEWAY),
            response=response,
            jwks_ttl=_seconds(env, "AUTHORIZER_JWKS_TTL", DEFAULT_JWKS_TTL, 1, 86_400),
            jwks_cooldown=_seconds(
                env, "AUTHORIZER_JWKS_COOLDOWN", DEFAULT_JWKS_COOLDOWN, 0, 86_400
            ),
            revocation_uri=_revocation_uri(env, issuer, jwks_uri),
            revocation_ttl=_seconds(
                env, "AUTHORIZER_REVOCATION_TTL", DEFAULT_REVOCATION_TTL, 1, 3_600
            ),
            revocation_fail=_choice(
                env, "AUTHORIZER_REVOCATION_FAIL", DEFAULT_REVOCATION_FAIL, REVOCATION_FAIL_MODES
            ),
            public_url=_public_url(env),
            dpop_max_age=_seconds(
                env, "AUTHORIZER_DPOP_MAX_AGE", DEFAULT_DPOP_MAX_AGE, 1, MAX_DPOP_MAX_AGE
            ),
            **_metrics(env),
        )


def _public_url(env: Mapping[str, str]) -> str | None:
    """`AUTHORIZER_PUBLIC_URL`: an absolute http(s) URL without query, fragment or
    userinfo; a trailing "/" is dropped (the request path starts with one)."""
    raw = (env.get("AUTHORIZER_PUBLIC_URL") or "").strip()
    if not raw:
        return None
    scheme, sep, rest = raw.partition("://")
    host = rest.split("/", 1)[0]
    if (
        not sep
        or scheme.lower() not in ("http", "https")
        or not host
        or any(c in rest for c in "?#@ ")
    ):
        raise ConfigError(
            f"Config 'AUTHORIZER_PUBLIC_URL' has value {raw!r}, expected an http(s) URL "
            "such as https://api.example.com/v1 (no query, fragment or user)."
        )
    return raw.rstrip("/")


def _metrics(env: Mapping[str, str]) -> dict[str, str]:
    mode = _choice(env, "AUTHORIZER_METRICS", "off", METRICS_MODES)
    if mode == "off":
        return {}
    from shared.emf import MetricsConfigError, parse_namespace  # only when metrics are on

    try:
        namespace = parse_namespace(
            env.get("AUTHORIZER_METRICS_NAMESPACE"), "AUTHORIZER_METRICS_NAMESPACE"
        )
    except MetricsConfigError as exc:
        raise ConfigError(str(exc)) from None
    return {"metrics": mode, "metrics_namespace": namespace}


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"Config '{name}' is missing, and has no default.")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, default).strip().lower() or default
    if value not in allowed:
        raise ConfigError(
            f"Config '{name}' has value {value!r}, expected one of {', '.join(allowed)}."
        )
    return value


def _seconds(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(
            f"Config '{name}' has value {raw!r}, expected a whole number of seconds."
        ) from None
    if not low <= value <= high:
        raise ConfigError(f"Config '{name}' has value {value}, expected {low}..{high} seconds.")
    return value


def _jwks_uri(env: Mapping[str, str], issuer: str, jwks_file: str | None) -> str | None:
    raw = env.get("AUTHORIZER_JWKS_URI")
    if raw is not None and raw.strip().lower() in _DISABLED:
        if not jwks_file:
            raise ConfigError(
                "Config 'AUTHORIZER_JWKS_URI' is switched off and 'AUTHORIZER_JWKS_FILE' "
                "is missing: there would be no keys."
            )
        return None
    uri = raw.strip() if raw is not None else issuer.rstrip("/") + "/.well-known/jwks.json"
    # Only http(s): a file:// or ftp:// JWKS URI would read the Lambda's own filesystem.
    if not uri.lower().startswith(("https://", "http://")):
        raise ConfigError(f"Config 'AUTHORIZER_JWKS_URI' has value {uri!r}, expected http(s).")
    return uri


def _revocation_uri(env: Mapping[str, str], issuer: str, jwks_uri: str | None) -> str | None:
    """`AUTHORIZER_REVOCATION_URI`, default `<issuer>/.well-known/revocations.jwt`; off
    with "off"/"none"/"". When the JWKS URI is switched off (no egress) it defaults to
    off too: every refresh would otherwise wait for a timeout."""
    raw = env.get("AUTHORIZER_REVOCATION_URI")
    if raw is None:
        if jwks_uri is None:
            return None
        return issuer.rstrip("/") + "/.well-known/revocations.jwt"
    uri = raw.strip()
    if uri.lower() in _DISABLED:
        return None
    if not uri.lower().startswith(("https://", "http://")):
        raise ConfigError(
            f"Config 'AUTHORIZER_REVOCATION_URI' has value {uri!r}, expected http(s) or off."
        )
    return uri


def _policy_file(env: Mapping[str, str], cwd: str | None) -> str | None:
    explicit = env.get("POLICY_FILE")
    if explicit:
        return explicit
    for root in (env.get(_TASK_ROOT_ENV), cwd if cwd is not None else os.getcwd()):
        if root:
            candidate = os.path.join(root, _POLICY_FILENAME)
            if os.path.isfile(candidate):
                return candidate
    return None
