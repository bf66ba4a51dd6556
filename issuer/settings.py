"""Issuer settings: `ISSUER_*` (and `POLICY_FILE`) from the environment, `.env` allowed.

Built by `load_settings(environ)`, never at import (no module-level singletons), so tests,
the CLI and Lambda each choose their own. Production refuses development defaults
(full-stack-fastapi-template's rule: no placeholder secret reaches production).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import shared
from issuer.keys.kek import KekError, decode_kek
from issuer.logs import redact
from issuer.oauth.token_lifetime import (
    DEFAULT_TOKEN_LIFETIME,
    MAX_TOKEN_LIFETIME,
    MIN_TOKEN_LIFETIME,
)

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_DATABASE_URL = "sqlite:///./issuer.db"
DEFAULT_KEK_FILE = ".tollgate/kek"
# __path__, not __file__: works for an editable (namespace-style) install too.
DEFAULT_POLICY_FILE = str(Path(next(iter(shared.__path__))).resolve() / "example_policy.toml")
SIGNING_ALGS = ("RS256", "PS256", "ES256", "EdDSA")
DAY = 86400
# The longest a process may serve a client from its cache (ISSUER_CLIENT_CACHE_TTL): the
# revocation records reach past a change by at least this (issuer/oauth/revocation.py).
MAX_CLIENT_CACHE_TTL = 300
# The longest a rotated-out client secret may keep working (setting, admin API and CLI).
MAX_SECRET_ROTATION_GRACE = 30 * DAY
# How a trusted proxy passes the client certificate of its mutual-TLS connection
# (ISSUER_CLIENT_CERT_FORMAT): `url-pem`, the URL-encoded PEM an Application Load Balancer
# sets in X-Amzn-Mtls-Clientcert (the chain, leaf first, in passthrough mode) or
# X-Amzn-Mtls-Clientcert-Leaf (verify mode); `xfcc`, Envoy's X-Forwarded-Client-Cert
# with its `Cert="<URL-encoded PEM>"` element.
CLIENT_CERT_FORMATS = ("url-pem", "xfcc")
XFCC_HEADER = "x-forwarded-client-cert"
# RFC 9449 §11.1: how old a DPoP proof's iat may be at the token endpoint; the replay
# store keeps each proof's jti this long (plus a 5 s leeway).
DEFAULT_DPOP_MAX_AGE = 60
MAX_DPOP_MAX_AGE = 300
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}\Z")  # RFC 9110 §5.1 token


# The proxies whose forwarded headers are believed (issuer/http/client_address.py reads
# them); parsed here, with the other settings, so settings import nothing of the HTTP layer.
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(raw: str) -> tuple[IPNetwork, ...]:
    """`ISSUER_TRUSTED_PROXIES`: addresses or CIDR networks, comma-separated; empty: none.
    Raises `ValueError` naming the entry that is neither (a network with host bits set,
    e.g. `10.0.0.1/8`, is refused rather than guessed at)."""
    if not raw.strip():
        return ()
    networks = []
    for item in raw.split(","):
        entry = item.strip()
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError:
            raise ValueError(
                f"ISSUER_TRUSTED_PROXIES must be IP addresses or CIDR networks, comma-separated; "
                f"{entry!r} is neither"
            ) from None
    return tuple(networks)



class SettingsError(ValueError):
    """A setting is missing or wrong; the message names it and says what to do."""


class Settings(NamedTuple):
    url: str = DEFAULT_URL
    database_url: str = DEFAULT_DATABASE_URL
    key_encryption_key: bytes | None = None  # None: development file `kek_file`
    # The KEK being replaced, while a change is under way (README, "Changing the KEK"):
    # opens what is still sealed under it until `issuer kek rotate` re-seals everything.
    previous_key_encryption_key: bytes | None = None
    kek_file: str = DEFAULT_KEK_FILE
    env: str = "development"
    signing_alg: str = "RS256"
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME
    jwks_max_age: int = 300
    # Brute-force brake (issuer/oauth/throttle.py): failures per client id or address in a
    # sliding window before a further failure is 429; correct credentials never are.
    throttle_limit: int = 10
    throttle_window: int = 60
    # Proxies whose X-Forwarded-For is believed (issuer/http/client_address.py); none by default:
    # the header is anyone's to write, and the throttle keys failures by address.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # How long a verifier may keep a JWKS it fetched (the authorizer's TTL, and any HTTP
    # cache honouring max-age): a new key is published this long before it signs, and a
    # retired key stays published this long after its last token expired.
    verifier_cache_ttl: int = 300
    key_rotation_days: int = 30
    # How long a client's previous secret keeps working after a rotation.
    secret_rotation_grace: int = DAY
    # How long a process may answer from its cached copy of a client (issuer/clients/cache.py):
    # the bound on how late another process sees an admin change; 0 turns the cache off.
    client_cache_ttl: int = 5
    policy_file: str = DEFAULT_POLICY_FILE
    # Token requests as CloudWatch embedded metric format on stdout (issuer/metrics.py).
    metrics: str = "off"
    metrics_namespace: str = "Tollgate"
    # /docs and /openapi.json (issuer/http/docs.py): on in development, off in production
    # unless ISSUER_DOCS=on (the document maps every endpoint and error for a prober).
    docs: bool = True
    # The admin console at /console (issuer/http/console/): on in development, off in
    # production unless ISSUER_CONSOLE=on (one more way in for whoever holds an admin
    # client's credentials, and pages an operator must choose to expose).
    console: bool = True
    # Workload identity federation (docs/federation.md): a trusted issuer's jwks_uri may
    # resolve to loopback or private addresses in production (in development it may).
    federation_allow_private: bool = False
    # Under `issuer serve`, the request header (lower-case) in which a proxy of
    # `trusted_proxies` passes the client's TLS certificate (RFC 8705 mutual-TLS client
    # authentication and certificate-bound tokens), and its format; None: no header is
    # read. Under Lambda the certificate comes from API Gateway's event, never a header.
    client_cert_header: str | None = None
    client_cert_format: str = "url-pem"
    # DPoP at the token endpoint (RFC 9449): the proof's iat window, and whether the
    # server demands its own nonce in proofs (§8).
    dpop_max_age: int = DEFAULT_DPOP_MAX_AGE
    dpop_nonce: bool = False

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def token_endpoint(self) -> str:
        return self.url + "/oauth2/token"

    @property
    def jwks_uri(self) -> str:
        return self.url + "/.well-known/jwks.json"

    def __repr__(self) -> str:
        # A repr reaches tracebacks and debug output: the KEKs and the database URL's
        # password are never in it.
        shown = {name: ("***" if value is not None else None)
                 if name in ("key_encryption_key", "previous_key_encryption_key") else value
                 for name, value in self._asdict().items()}
        shown["database_url"] = redact(self.database_url)
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


DEFAULTS = Settings()  # the default of each setting (a NamedTuple's class has none to read)


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """`KEY=VALUE` lines (optional quotes, `#` comments, `export ` prefix); missing file: {}."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _int(
    env: Mapping[str, str], name: str, default: int, low: int, high: int, unit: str = "seconds"
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer number of {unit}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


_ON = ("on", "true", "yes", "1")
_OFF = ("off", "false", "no", "0")


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in _ON or raw in _OFF:
        return raw in _ON
    raise SettingsError(f"{name} must be on or off, got {raw!r}")


def _verifier_cache_ttl(env: Mapping[str, str], jwks_max_age: int) -> int:
    # A verifier honouring the JWKS response's max-age keeps it that long, so the horizon
    # the key lifecycle waits for can never be shorter than max-age.
    default = max(DEFAULTS.verifier_cache_ttl, jwks_max_age)
    ttl = _int(env, "ISSUER_VERIFIER_CACHE_TTL", default, 0, DAY)
    if ttl < jwks_max_age:
        raise SettingsError(
            f"ISSUER_VERIFIER_CACHE_TTL ({ttl}) must be at least ISSUER_JWKS_MAX_AGE "
            f"({jwks_max_age}): verifiers may cache the JWKS for max-age seconds"
        )
    return ttl


# The drivers this package installs (pyproject.toml): SQLite (stdlib) and psycopg 3.
DATABASE_URL_FORM = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:5432/DB"
_DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")


def check_database_url(url: str) -> str:
    """`url` if SQLAlchemy can use it with an installed driver, else `SettingsError`. The
    message names the scheme at most, never the URL (it may hold a password)."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme or (not rest and not scheme.startswith("sqlite")):
        raise SettingsError(
            f"ISSUER_DATABASE_URL is not a database URL: expected {DATABASE_URL_FORM}"
        )
    scheme = scheme.lower()
    if scheme in ("postgres", "postgresql", "pgsql") or scheme.startswith(
        ("postgres+", "postgresql+")
    ):
        if scheme != "postgresql+psycopg":
            # Heroku-style postgres:// is not a SQLAlchemy dialect, and postgresql://
            # means psycopg2, which is not installed: psycopg 3 is.
            raise SettingsError(
                f"ISSUER_DATABASE_URL uses {scheme}://: use postgresql+psycopg:// "
                "(the installed psycopg 3 driver), e.g. "
                "postgresql+psycopg://USER:PASSWORD@HOST:5432/DB"
            )
    elif scheme not in _DATABASE_SCHEMES:
        raise SettingsError(
            f"ISSUER_DATABASE_URL scheme {scheme!r} is not supported: use {DATABASE_URL_FORM}"
        )
    if scheme == "postgresql+psycopg":
        host_part = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        port = host_part.rsplit("]", 1)[-1].partition(":")[2]
        if not host_part or (port and not port.isdigit()):
            raise SettingsError(
                f"ISSUER_DATABASE_URL has no usable host or port: expected {DATABASE_URL_FORM}"
            )
    return url


def _kek_setting(env: Mapping[str, str], name: str) -> bytes | None:
    if not env.get(name):
        return None
    try:
        return decode_kek(env[name])
    except KekError as exc:
        raise SettingsError(f"{name}: {exc} (`issuer kek new` prints one)") from None


def _issuer_url(raw: str) -> str:
    # RFC 8414 §2: the issuer is a URL without query or fragment; no trailing slash so
    # `iss` compares exactly with what verifiers are configured with.
    url = raw.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(f"ISSUER_URL must be an http(s) URL without query or fragment: {raw!r}")
    return url


def _client_cert_header(
    env: Mapping[str, str], trusted_proxies: tuple[IPNetwork, ...]
) -> dict[str, str]:
    """ISSUER_CLIENT_CERT_HEADER and ISSUER_CLIENT_CERT_FORMAT: read only from a trusted
    proxy's connection, so a header without trusted proxies could never be believed:
    refused rather than silently ignored."""
    name = (env.get("ISSUER_CLIENT_CERT_HEADER") or "").strip()
    raw_format = (env.get("ISSUER_CLIENT_CERT_FORMAT") or "").strip().lower()
    if not name:
        if raw_format:
            raise SettingsError("ISSUER_CLIENT_CERT_FORMAT needs ISSUER_CLIENT_CERT_HEADER")
        return {}
    if not _FIELD_NAME.match(name):
        raise SettingsError(f"ISSUER_CLIENT_CERT_HEADER is not an HTTP header name: {name!r}")
    if not trusted_proxies:
        raise SettingsError(
            "ISSUER_CLIENT_CERT_HEADER is believed only from ISSUER_TRUSTED_PROXIES: "
            "name the proxy that terminates mutual TLS and sets it"
        )
    name = name.lower()
    cert_format = raw_format or ("xfcc" if name == XFCC_HEADER else "url-pem")
    if cert_format not in CLIENT_CERT_FORMATS:
        raise SettingsError(
            f"ISSUER_CLIENT_CERT_FORMAT must be one of {', '.join(CLIENT_CERT_FORMATS)}, "
            f"got {raw_format!r}"
        )
    return {"client_cert_header": name, "client_cert_format": cert_format}


def _metrics(env: Mapping[str, str]) -> dict[str, str]:
    from shared.emf import MetricsConfigError, parse_mode, parse_namespace

    try:
        mode = parse_mode(env.get("ISSUER_METRICS"), "ISSUER_METRICS")
        if mode == "off":
            return {}
        namespace = parse_namespace(env.get("ISSUER_METRICS_NAMESPACE"), "ISSUER_METRICS_NAMESPACE")
    except MetricsConfigError as exc:
        raise SettingsError(str(exc)) from None
    return {"metrics": mode, "metrics_namespace": namespace}


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | os.PathLike[str] | None = ".env"
) -> Settings:
    """Settings from `environ` (default `os.environ`) over the `.env` file's values."""
    env: dict[str, str] = dict(read_env_file(env_file)) if env_file else {}
    env.update(os.environ if environ is None else environ)

    issuer_env = env.get("ISSUER_ENV", "development") or "development"
    if issuer_env not in ("development", "production"):
        raise SettingsError(f"ISSUER_ENV must be development or production, got {issuer_env!r}")
    alg = env.get("ISSUER_SIGNING_ALG") or "RS256"
    if alg not in SIGNING_ALGS:
        raise SettingsError(f"ISSUER_SIGNING_ALG must be one of {', '.join(SIGNING_ALGS)}")
    max_age = _int(env, "ISSUER_JWKS_MAX_AGE", DEFAULTS.jwks_max_age, 0, DAY)
    try:
        trusted_proxies = parse_trusted_proxies(env.get("ISSUER_TRUSTED_PROXIES") or "")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    kek = _kek_setting(env, "ISSUER_KEY_ENCRYPTION_KEY")
    previous_kek = _kek_setting(env, "ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY")

    settings = Settings(
        url=_issuer_url(env.get("ISSUER_URL") or DEFAULT_URL),
        database_url=check_database_url(env.get("ISSUER_DATABASE_URL") or DEFAULT_DATABASE_URL),
        key_encryption_key=kek,
        previous_key_encryption_key=previous_kek,
        kek_file=env.get("ISSUER_KEK_FILE") or DEFAULT_KEK_FILE,
        env=issuer_env,
        signing_alg=alg,
        token_lifetime=_int(
            env, "ISSUER_TOKEN_LIFETIME", DEFAULT_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME,
            MAX_TOKEN_LIFETIME,
        ),
        jwks_max_age=max_age,
        verifier_cache_ttl=_verifier_cache_ttl(env, max_age),
        key_rotation_days=_int(
            env, "ISSUER_KEY_ROTATION_DAYS", DEFAULTS.key_rotation_days, 1, 365, "days"
        ),
        secret_rotation_grace=_int(
            env, "ISSUER_SECRET_ROTATION_GRACE", DEFAULTS.secret_rotation_grace, 0,
            MAX_SECRET_ROTATION_GRACE,
        ),
        client_cache_ttl=_int(
            env, "ISSUER_CLIENT_CACHE_TTL", DEFAULTS.client_cache_ttl, 0, MAX_CLIENT_CACHE_TTL
        ),
        throttle_limit=_int(env, "ISSUER_THROTTLE_LIMIT", DEFAULTS.throttle_limit, 1, 100_000),
        throttle_window=_int(env, "ISSUER_THROTTLE_WINDOW", DEFAULTS.throttle_window, 1, DAY),
        trusted_proxies=trusted_proxies,
        policy_file=env.get("POLICY_FILE") or DEFAULT_POLICY_FILE,
        **_metrics(env),
        docs=_switch(env, "ISSUER_DOCS", default=issuer_env != "production"),
        console=_switch(env, "ISSUER_CONSOLE", default=issuer_env != "production"),
        federation_allow_private=_switch(env, "ISSUER_FEDERATION_ALLOW_PRIVATE", default=False),
        **_client_cert_header(env, trusted_proxies),
        dpop_max_age=_int(env, "ISSUER_DPOP_MAX_AGE", DEFAULT_DPOP_MAX_AGE, 1, MAX_DPOP_MAX_AGE),
        dpop_nonce=_switch(env, "ISSUER_DPOP_NONCE", default=False),
    )
    if settings.production:
        _refuse_development_defaults(settings, env)
    return settings


def weak_kek(key: bytes) -> bool:
    """A key no random source made: few distinct bytes (all zero, all equal) or a short
    repeated pattern. 32 random bytes have about 30 distinct values; fewer than 16 has
    probability about 3e-17, a period of 16 bytes or less 2^-128."""
    if len(set(key)) < 16:
        return True
    return any(key == key[:period] * (len(key) // period) for period in (1, 2, 4, 8, 16))


def _refuse_development_defaults(settings: Settings, env: Mapping[str, str]) -> None:
    problems = []
    if settings.key_encryption_key is None:
        problems.append(
            "ISSUER_KEY_ENCRYPTION_KEY is required (`issuer kek new` prints one; "
            "the development key file is not used in production)"
        )
    elif weak_kek(settings.key_encryption_key):
        # A placeholder that passes the format check would encrypt every signing key
        # and key every secret hash under something an attacker can guess.
        problems.append(
            "ISSUER_KEY_ENCRYPTION_KEY is not random (all bytes equal, or a short "
            "repeated pattern): use base64url of 32 bytes from a CSPRNG (`issuer kek new`)"
        )
    if settings.previous_key_encryption_key is not None and weak_kek(
        settings.previous_key_encryption_key
    ):
        problems.append("ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY is not random")
    if not env.get("ISSUER_URL"):
        problems.append("ISSUER_URL is required (the public https URL, used as `iss`)")
    elif urlsplit(settings.url).scheme != "https":
        problems.append("ISSUER_URL must use https in production")
    if not env.get("ISSUER_DATABASE_URL"):
        problems.append("ISSUER_DATABASE_URL is required (the default is a local SQLite file)")
    if not env.get("POLICY_FILE"):
        problems.append("POLICY_FILE is required (the default is the shipped example policy)")
    if problems:
        raise SettingsError(
            "ISSUER_ENV=production refuses development defaults:\n  - " + "\n  - ".join(problems)
        )
