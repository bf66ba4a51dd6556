"""TokenSource: one client's access tokens for one (scope, audience), fetched with the
client credentials grant (RFC 6749 §4.4), cached, refreshed before they expire, and
fetched once however many threads or asyncio tasks ask at the same moment.

Lifecycle of the cached token, on a monotonic clock (a wall-clock jump moves nothing):
- fresh until `refresh_at` = obtained + lifetime - margin, where the margin is
  `refresh_ratio` of the lifetime (10%) capped at `max_refresh_margin` (5 min): callers
  get it without a lock round trip to the server;
- from `refresh_at` to `usable_until` (a few seconds before `expires_in` runs out, so a
  token does not expire on its way to the API) one caller fetches the next token while
  the others keep using the current one; if that fetch fails, the current token is still
  served and the next attempt waits `cooldown` seconds;
- after `usable_until` (or before the first token) every caller waits for the one fetch
  in flight; a failure reaches every waiter as the same TokenError.

Single flight uses one `concurrent.futures.Future` per fetch, which threads wait on
directly and asyncio tasks through `asyncio.wrap_future`: a source shared by threads and
event loops still sends one token request per refresh.

Retries: `429` and `5xx` answers and transport errors are retried up to `max_attempts`
in all, after the server's `Retry-After` (RFC 9110 §10.2.3, seconds or an HTTP date) when
it sends one, else after an exponential backoff with jitter (half fixed, half random, so
a fleet that failed together does not retry together). A `Retry-After` longer than
`max_retry_after` is not waited for: the TokenError carries it. Other 4xx answers
(`invalid_client`, `invalid_scope`, ...) are final. Every attempt is a new request: a new
private_key_jwt assertion (new `jti`), a fresh read of the assertion file.

Nothing is logged above DEBUG except retries and failed refreshes, and no record, error
message or repr carries the client secret, a private key, an assertion or a token.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import ipaddress
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from tollgate_client.binding import (
    USE_DPOP_NONCE,
    ClientCert,
    DpopKey,
    check_client_cert,
    tls_context,
    verify_setting,
)
from tollgate_client.credentials import (
    ClientAuthentication,
    ClientSecretBasic,
    FederatedAssertionFile,
    PrivateKeyJwt,
    TlsClientAuth,
)
from tollgate_client.errors import ConfigurationError, DiscoveryError, TokenError

log = logging.getLogger("tollgate_client")

METADATA_PATH = "/.well-known/oauth-authorization-server"  # RFC 8414 §3
# Statuses worth a second try: too many requests (RFC 6585 §4) and server errors.
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))
MAX_ERROR_FIELD = 200  # an error code or description longer than this is cut
DEFAULT_LIFETIME = 60.0  # a token response without expires_in: assume short-lived
METADATA_REQUEST = "metadata request"


@dataclass(frozen=True, repr=False)
class Token:
    """An access token and its schedule (monotonic seconds of the source's clock)."""

    access_token: str
    token_type: str
    expires_in: float
    scope: str | None
    obtained_at: float
    refresh_at: float
    usable_until: float

    @property
    def expires_at(self) -> float:
        return self.obtained_at + self.expires_in

    def __repr__(self) -> str:  # never the token itself
        return (
            f"Token(token_type={self.token_type!r}, expires_in={self.expires_in:g}, "
            f"scope={self.scope!r})"
        )


@dataclass(frozen=True, repr=False)
class Presented:
    """What one API request carries: the headers to set and the token behind them
    (`Authorization: Bearer`, or `Authorization: DPoP` plus a `DPoP` proof for this
    request, RFC 9449 §7), and the URL it is for (whose server's nonce a refusal may
    update, RFC 9449 §9)."""

    headers: Mapping[str, str]
    token: Token
    url: str | None = None

    def __repr__(self) -> str:  # never the token or the proof
        return f"Presented(headers={sorted(self.headers)!r}, token={self.token!r})"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str, insecure_http: bool) -> str:
    """An absolute https URL, or http on loopback (a local issuer, tests) or when the
    caller opted in: client credentials over plain http elsewhere would be readable on
    the wire (RFC 6749 §2.3.1 requires TLS)."""
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise ConfigurationError(f"{what} must be an absolute https URL: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{what} must not carry credentials in the URL")
    if parts.fragment or parts.query:
        raise ConfigurationError(f"{what} must not have a query or fragment (RFC 8414 §2)")
    if parts.scheme == "http" and not (insecure_http or is_loopback(parts.hostname)):
        raise ConfigurationError(
            f"{what} is plain http on a non-loopback host; use https "
            "(or insecure_http=True for a private test network)"
        )
    return url


def metadata_url(issuer: str) -> str:
    """RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{METADATA_PATH}{path}"


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 §10.2.3): delay-seconds or an
    HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 86400))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now())


def _short(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = "".join(c if c.isprintable() else "?" for c in value)
    return text[:MAX_ERROR_FIELD]


def _refusal(
    what: str, response: httpx.Response, kind: type[TokenError] = TokenError
) -> TokenError:
    """A TokenError naming the status and the RFC 6749 §5.2 error code; the server's
    description is included (it never echoes credentials), cut and made printable."""
    error = description = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error, description = _short(body.get("error")), _short(body.get("error_description"))
    text = f"{what}: HTTP {response.status_code}"
    if error:
        text += f" {error}"
    if description:
        text += f" ({description})"
    return kind(text, error=error, status=response.status_code)


class TokenSource:
    """Access tokens for one client, one scope set, one audience.

    `issuer` is the issuer's URL (its RFC 8414 `issuer`); the token endpoint is read
    from its metadata on first use unless `token_endpoint` is given. Exactly one
    credential: `client_secret` (client_secret_basic), `private_key` (private_key_jwt:
    a PEM, a private JWK or a `cryptography` key; `key_id` is its registered `kid`) or
    `assertion_file` (a federated client: the platform's identity token, read at every
    token request); or none of them with `client_cert` (`tls_client_auth` /
    `self_signed_tls_client_auth`, RFC 8705 §2: the certificate is the credential and the
    form carries `client_id`). `scope` is a space-separated string or a list; `audience` (or
    `resource`, RFC 8707) names the API the token is for.

    `token()` returns the access token; `await atoken()` is the same for asyncio code.
    `invalidate(token)` drops a token an API refused as `invalid_token` (only if it is
    still the cached one, so many callers refused at once cause one new fetch).

    Sender-constrained tokens, off unless asked for:
    - `dpop_key` (a `cryptography` private key: EC P-256 (ES256), P-384, P-521, RSA
      (RS256) or Ed25519 (EdDSA); a PEM or private JWK also works), or `dpop=True` for
      an ephemeral P-256 key made for this source: every token request carries a new
      DPoP proof (RFC 9449 §4-§5), a `use_dpop_nonce` refusal is retried once with the
      server's `DPoP-Nonce` (§8), and only a `token_type: DPoP` answer is accepted.
      `present()` then returns `Authorization: DPoP <token>` and a proof for that
      request (`htm`, `htu`, `ath`; §7), and a resource server's `use_dpop_nonce`
      challenge is retried once with its nonce (§9).
    - `client_cert=(cert_path, key_path)` (PEM files): the token request presents this
      certificate (RFC 8705); a certificate-bound token (`cnf.x5t#S256`) works only
      from a client that presents the same certificate to the API: use
      `requests_session(source)` / `httpx_client(source)`, or set `cert=` yourself.
    """

    def __init__(
        self,
        issuer: str,
        client_id: str | None,
        client_secret: str | None = None,
        *,
        private_key: Any = None,
        assertion_file: str | os.PathLike[str] | None = None,
        scope: str | list[str] | tuple[str, ...] | None = None,
        audience: str | None = None,
        resource: str | None = None,
        key_id: str | None = None,
        token_endpoint: str | None = None,
        insecure_http: bool = False,
        timeout: float = 10.0,
        verify: Any = True,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 60.0,
        refresh_ratio: float = 0.1,
        max_refresh_margin: float = 300.0,
        cooldown: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        http_client: httpx.Client | None = None,
        dpop_key: Any = None,
        dpop: bool = False,
        client_cert: ClientCert | None = None,
    ) -> None:
        given = [
            name
            for name, value in (
                ("client_secret", client_secret),
                ("private_key", private_key),
                ("assertion_file", assertion_file),
            )
            if value is not None
        ]
        if len(given) > 1 or (not given and client_cert is None):
            raise ConfigurationError(
                "give exactly one of client_secret, private_key, assertion_file"
                " (or client_cert alone for tls_client_auth)"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if dpop_key is not None and dpop:
            raise ConfigurationError("give dpop_key or dpop=True, not both")
        self.client_cert = check_client_cert(client_cert) if client_cert is not None else None
        if self.client_cert is not None and http_client is not None:
            raise ConfigurationError(
                "client_cert with http_client: give the certificate to the http_client "
                "(or let the source make its client)"
            )
        # RFC 9449: one key per source; the proofs and the token's cnf.jkt name it.
        self.dpop: DpopKey | None = (
            DpopKey(dpop_key) if dpop_key is not None or dpop else None
        )
        if max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        if not 0 < refresh_ratio < 1:
            raise ConfigurationError("refresh_ratio must be between 0 and 1")
        self.issuer = check_url(issuer, "issuer", insecure_http)
        self.client_id = client_id or None
        self._insecure_http = insecure_http
        self._token_endpoint = (
            check_url(token_endpoint, "token_endpoint", insecure_http) if token_endpoint else None
        )
        self.auth: ClientAuthentication
        if client_secret is not None:
            self.auth = ClientSecretBasic(client_id or "", client_secret)
        elif private_key is not None:
            self.auth = PrivateKeyJwt(client_id or "", private_key, key_id=key_id)
        elif assertion_file is not None:
            self.auth = FederatedAssertionFile(assertion_file, client_id)
        else:
            self.auth = TlsClientAuth(client_id or "")
        if isinstance(scope, list | tuple):
            scope = " ".join(scope)
        self.scope = scope or None
        self.audience = audience
        self.resource = resource
        self._timeout = timeout
        # The TLS settings of every token request: `verify` as given, or an SSL
        # context that also presents the client certificate (RFC 8705).
        self._verify = (
            tls_context(verify, self.client_cert)
            if self.client_cert is not None
            else verify_setting(verify)
        )
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_retry_after = max_retry_after
        self._refresh_ratio = refresh_ratio
        self._max_refresh_margin = max_refresh_margin
        self._cooldown = cooldown
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._random = random.SystemRandom()
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, verify=self._verify)

        self._lock = threading.Lock()
        self._cached: Token | None = None
        self._inflight: concurrent.futures.Future[Token] | None = None
        self._retry_not_before = -math.inf
        self.fetches = 0  # token requests that returned a token (observable in tests)

    # -- public API -------------------------------------------------------------------

    def token(self) -> str:
        """A valid access token, fetched only when the cached one is due for refresh."""
        return self.get().access_token

    async def atoken(self) -> str:
        return (await self.aget()).access_token

    def get(self) -> Token:
        while True:
            cached, waiting, leading = self._decide()
            if cached is not None:
                return cached
            if leading is not None:
                return self._lead(leading, self._fetch_sync)
            assert waiting is not None
            self._refuse_blocking_in_leader_loop()
            try:
                return waiting.result()
            except _LeaderGone:
                continue

    async def aget(self) -> Token:
        while True:
            cached, waiting, leading = self._decide()
            if cached is not None:
                return cached
            if leading is not None:
                return await self._alead(leading)
            assert waiting is not None
            try:
                return await asyncio.wrap_future(waiting)
            except _LeaderGone:
                continue

    def present(self, method: str, url: str) -> Presented:
        """The headers for one API request: `Authorization: Bearer <token>`, or for a
        DPoP source `Authorization: DPoP <token>` and a new proof of `method` and `url`
        (RFC 9449 §7.1)."""
        return self._presented(self.get(), method, url)

    async def apresent(self, method: str, url: str) -> Presented:
        return self._presented(await self.aget(), method, url)

    def _presented(self, token: Token, method: str, url: str) -> Presented:
        if self.dpop is None:
            return Presented({"Authorization": f"Bearer {token.access_token}"}, token, url)
        proof = self.dpop.proof(method, url, access_token=token.access_token)
        headers = {"Authorization": f"DPoP {token.access_token}", "DPoP": proof}
        return Presented(headers, token, url)

    def retry_after_refusal(
        self, presented: Presented, status: int, headers: Mapping[str, str]
    ) -> bool:
        """Whether an API answer means "send once more": a 401 with a challenge
        `error="invalid_token"` (RFC 6750 §3.1, RFC 9449 §7.1: revoked, expired early,
        signed by a retired key), after which the refused token is dropped from the
        cache if it is still there; or, for a DPoP source, a 401 with a DPoP challenge
        `error="use_dpop_nonce"` and a `DPoP-Nonce` (RFC 9449 §9), after which the next
        proof for that server carries the nonce and the token is kept."""
        challenge = headers.get("www-authenticate")
        if self.dpop is not None and presented.url:
            # RFC 9449 §8.2/§9: any answer may carry the nonce for the next proof.
            fresh = self.dpop.remember_nonce(presented.url, headers)
            if status == 401 and fresh and challenge_error(challenge, "dpop", USE_DPOP_NONCE):
                return True
        scheme = "bearer" if self.dpop is None else "dpop"
        if status != 401 or not challenge_error(challenge, scheme, "invalid_token"):
            return False
        self.invalidate(presented.token)
        return True

    def invalidate(self, token: Token | str) -> bool:
        """Drop `token` if it is still the cached one; True if it was dropped."""
        value = token.access_token if isinstance(token, Token) else token
        with self._lock:
            if self._cached is not None and self._cached.access_token == value:
                self._cached = None
                log.debug("cached token dropped after an invalid_token refusal")
                return True
        return False

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> TokenSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"TokenSource(issuer={self.issuer!r}, auth={self.auth!r}, scope={self.scope!r}, "
            f"audience={self.audience or self.resource!r}"
            + (f", dpop={self.dpop!r}" if self.dpop is not None else "")
            + (", client_cert=True" if self.client_cert is not None else "")
            + ")"
        )

    # -- single flight ----------------------------------------------------------------

    def _decide(
        self,
    ) -> tuple[Token | None, concurrent.futures.Future[Token] | None, _Lead | None]:
        """(token to use now, fetch to wait for, fetch to lead): exactly one is set."""
        now = self._clock()
        with self._lock:
            cached = self._cached
            if cached is not None and now < cached.refresh_at:
                return cached, None, None
            usable = cached if cached is not None and now < cached.usable_until else None
            if self._inflight is not None:
                if usable is not None:
                    return usable, None, None  # someone is refreshing; this one still works
                return None, self._inflight, None
            if usable is not None and now < self._retry_not_before:
                return usable, None, None  # the last refresh failed moments ago
            future: concurrent.futures.Future[Token] = concurrent.futures.Future()
            self._inflight = future
            return None, None, _Lead(future, usable, _running_loop())

    def _lead(self, lead: _Lead, fetch: Callable[[], Token]) -> Token:
        try:
            token = fetch()
        except BaseException as exc:
            return self._failed(lead, exc)
        return self._succeeded(lead, token)

    async def _alead(self, lead: _Lead) -> Token:
        try:
            token = await self._fetch_async()
        except BaseException as exc:
            return self._failed(lead, exc)
        return self._succeeded(lead, token)

    def _succeeded(self, lead: _Lead, token: Token) -> Token:
        with self._lock:
            self._cached = token
            self._inflight = None
            self.fetches += 1
        lead.future.set_result(token)
        return token

    def _failed(self, lead: _Lead, exc: BaseException) -> Token:
        now = self._clock()
        with self._lock:
            self._inflight = None
            self._retry_not_before = now + self._cooldown
        fallback = lead.fallback
        if isinstance(exc, TokenError) and fallback is not None and now < fallback.usable_until:
            # The current token still works: keep serving it rather than fail a call
            # that would have succeeded; the next refresh attempt waits `cooldown`.
            log.warning(
                "token refresh failed (%s); using the cached token for %.0f s more",
                exc,
                fallback.usable_until - now,
            )
            lead.future.set_result(fallback)
            return fallback
        # Waiters get the same error; a leader that was cancelled or interrupted (not a
        # token failure) hands the fetch over instead: a waiter starts a new one.
        lead.future.set_exception(exc if isinstance(exc, Exception) else _LeaderGone())
        raise exc

    def _refuse_blocking_in_leader_loop(self) -> None:
        inflight_loop = None
        with self._lock:
            if self._inflight is not None:
                inflight_loop = getattr(self._inflight, "tollgate_loop", None)
        if inflight_loop is not None and inflight_loop is _running_loop():
            raise RuntimeError(
                "token() would block the event loop that is fetching the token; "
                "use `await source.atoken()` (or HttpxAuth with an AsyncClient) in async code"
            )

    # -- the token request ------------------------------------------------------------

    def _form(self, endpoint: str) -> tuple[dict[str, str], dict[str, str]]:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        if self.resource:
            form["resource"] = self.resource  # RFC 8707 §2
        headers = {"Accept": "application/json"}
        self.auth.apply(form, headers, endpoint)
        if self.dpop is not None:  # RFC 9449 §5: a new proof for every token request
            headers["DPoP"] = self.dpop.proof("POST", endpoint)
        return form, headers

    def _nonce_refusal(self, endpoint: str, response: httpx.Response) -> bool:
        """Keep the token endpoint's `DPoP-Nonce` (RFC 9449 §8.2: on any answer); True
        when the answer is `use_dpop_nonce` with a nonce to retry with (§8)."""
        if self.dpop is None or not self.dpop.remember_nonce(endpoint, response.headers):
            return False
        if response.status_code not in (400, 401):
            return False
        try:
            body = response.json()
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("error") == USE_DPOP_NONCE

    def _token(self, response: httpx.Response, started: float) -> Token:
        what = "token request"
        if response.status_code != 200:
            raise _refusal(what, response)
        try:
            body = response.json()
        except ValueError:
            raise TokenError(f"{what}: HTTP 200 but not JSON", status=200) from None
        if not isinstance(body, dict):
            raise TokenError(f"{what}: HTTP 200 but not a JSON object", status=200)
        access_token, token_type = body.get("access_token"), body.get("token_type")
        if not isinstance(access_token, str) or not access_token:
            raise TokenError(f"{what}: the response has no access_token", status=200)
        expected = "DPoP" if self.dpop is not None else "Bearer"
        if not isinstance(token_type, str) or token_type.lower() != expected.lower():
            # RFC 6749 §7.1: a client must not use a token whose type it does not know;
            # RFC 9449 §5: a DPoP request answered with a Bearer token is not bound to
            # the key, so it is refused rather than sent as a weaker token.
            raise TokenError(
                f"{what}: token_type {_short(token_type)!r} is not {expected}", status=200
            )
        expires_in = body.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or not (
            0 < expires_in < 10**9
        ):
            expires_in = DEFAULT_LIFETIME
        margin = min(expires_in * self._refresh_ratio, self._max_refresh_margin)
        # Stop using a token a little before it runs out: it still has to reach the API.
        skew = min(5.0, margin / 2)
        scope = body.get("scope")
        token = Token(
            access_token=access_token,
            token_type=token_type,
            expires_in=float(expires_in),
            scope=scope if isinstance(scope, str) else self.scope,
            obtained_at=started,  # when the request left: never later than the server's iat
            refresh_at=started + expires_in - margin,
            usable_until=started + expires_in - skew,
        )
        log.debug(
            "token fetched: expires_in=%s scope=%r, refresh in %.0f s",
            expires_in,
            token.scope,
            token.refresh_at - self._clock(),
        )
        return token

    def _metadata(self, response: httpx.Response) -> str:
        what = METADATA_REQUEST
        if response.status_code != 200:
            raise _refusal(what, response, DiscoveryError)
        try:
            doc = response.json()
        except ValueError:
            raise DiscoveryError(f"{what}: not JSON", status=200) from None
        if not isinstance(doc, dict):
            raise DiscoveryError(f"{what}: not a JSON object", status=200)
        # RFC 8414 §3.3: the metadata's issuer must be the issuer asked for, or an
        # attacker's metadata could send our credentials to its own token endpoint.
        issuer = doc.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.issuer.rstrip("/"):
            raise DiscoveryError(
                f"{what}: metadata issuer {_short(doc.get('issuer'))!r} is not {self.issuer!r}"
            )
        endpoint = doc.get("token_endpoint")
        if not isinstance(endpoint, str):
            raise DiscoveryError(f"{what}: metadata has no token_endpoint")
        try:
            check_url(endpoint, "token_endpoint", self._insecure_http)
        except ConfigurationError as exc:
            raise DiscoveryError(f"{what}: {exc}") from None
        log.debug("discovered token endpoint %s", endpoint)
        return endpoint

    # -- retries ------------------------------------------------------------------------

    def _retry_delay(self, attempt: int, failure: TokenError, retry_after: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1`, or raise `failure` when the
        attempts are spent or the server asks for a longer wait than we allow."""
        if attempt >= self._max_attempts:
            raise failure
        if retry_after is not None:
            if retry_after > self._max_retry_after:
                failure.retry_after = retry_after
                raise failure
            # The server's delay, plus up to 10% (at most 1 s) so clients told the same
            # second do not all come back in that second.
            return retry_after + self._random.uniform(0, min(1.0, 0.1 * retry_after))
        backoff = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return backoff / 2 + self._random.uniform(0, backoff / 2)

    def _classify(
        self, what: str, attempt: int, outcome: httpx.Response | Exception
    ) -> float | None:
        """None when `outcome` is an answer to interpret; else the delay before the next
        attempt (raising when there is none)."""
        kind = DiscoveryError if what == METADATA_REQUEST else TokenError
        if isinstance(outcome, Exception):
            failure = kind(f"{what}: {type(outcome).__name__} (no answer)")
            retry_after = None
        elif outcome.status_code in RETRY_STATUSES:
            failure = _refusal(what, outcome, kind)
            retry_after = parse_retry_after(outcome.headers.get("retry-after"))
        else:
            return None
        delay = self._retry_delay(attempt, failure, retry_after)
        log.warning("%s; retry %d of %d in %.2f s", failure, attempt, self._max_attempts - 1, delay)
        return delay

    def _send_sync(
        self, what: str, send: Callable[[], httpx.Response]
    ) -> tuple[httpx.Response, float]:
        for attempt in range(1, self._max_attempts + 1):
            started = self._clock()
            try:
                outcome: httpx.Response | Exception = send()
            except httpx.TransportError as exc:
                outcome = exc
            delay = self._classify(what, attempt, outcome)
            if delay is None:
                assert isinstance(outcome, httpx.Response)
                return outcome, started
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_async(
        self, what: str, send: Callable[[], Awaitable[httpx.Response]]
    ) -> tuple[httpx.Response, float]:
        for attempt in range(1, self._max_attempts + 1):
            started = self._clock()
            try:
                outcome: httpx.Response | Exception = await send()
            except httpx.TransportError as exc:
                outcome = exc
            delay = self._classify(what, attempt, outcome)
            if delay is None:
                assert isinstance(outcome, httpx.Response)
                return outcome, started
            await self._async_sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch_sync(self) -> Token:
        endpoint = self._token_endpoint
        if endpoint is None:
            response, _ = self._send_sync(
                METADATA_REQUEST, lambda: self._http.get(metadata_url(self.issuer))
            )
            endpoint = self._token_endpoint = self._metadata(response)

        def send() -> httpx.Response:
            form, headers = self._form(endpoint)  # a new assertion per attempt
            return self._http.post(endpoint, data=form, headers=headers)

        response, started = self._send_sync("token request", send)
        if self._nonce_refusal(endpoint, response):  # RFC 9449 §8: once, with the nonce
            response, started = self._send_sync("token request", send)
            self._nonce_refusal(endpoint, response)
        return self._token(response, started)

    async def _fetch_async(self) -> Token:
        # A client per fetch: an httpx.AsyncClient belongs to one event loop, and a
        # source may serve several; a fetch happens once per refresh.
        async with httpx.AsyncClient(timeout=self._timeout, verify=self._verify) as http:
            endpoint = self._token_endpoint
            if endpoint is None:
                response, _ = await self._send_async(
                    METADATA_REQUEST, lambda: http.get(metadata_url(self.issuer))
                )
                endpoint = self._token_endpoint = self._metadata(response)

            async def send() -> httpx.Response:
                form, headers = self._form(endpoint)
                return await http.post(endpoint, data=form, headers=headers)

            response, started = await self._send_async("token request", send)
            if self._nonce_refusal(endpoint, response):  # RFC 9449 §8
                response, started = await self._send_async("token request", send)
                self._nonce_refusal(endpoint, response)
            return self._token(response, started)


class _LeaderGone(Exception):
    """The fetch's leader was cancelled or interrupted; a waiter takes over."""


@dataclass
class _Lead:
    future: concurrent.futures.Future[Token]
    fallback: Token | None
    loop: asyncio.AbstractEventLoop | None

    def __post_init__(self) -> None:
        # Lets a blocking token() in the same event loop refuse instead of deadlocking.
        self.future.tollgate_loop = self.loop  # type: ignore[attr-defined]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def challenge_error(value: str | None, scheme: str, error: str) -> bool:
    """True for a `WWW-Authenticate` carrying a `scheme` challenge (lower case) whose
    `error` parameter is `error` (RFC 6750 §3, RFC 9449 §7.1). The header may hold
    several challenges (RFC 9110 §11.6.1); a bare token starts a new one, `name=value`
    is a parameter of the current one."""
    current = None
    for match in _CHALLENGE_PART.finditer(value or ""):
        name, equals, quoted, plain = match.groups()
        if not equals:
            current = name.lower()
        elif current == scheme and name.lower() == "error":
            text = quoted.replace("\\", "") if quoted is not None else plain
            if text == error:
                return True
    return False


_TCHARS = r"[\w!#$%&'*+.^`|~-]+"  # RFC 9110 §5.6.2 token
_CHALLENGE_PART = re.compile(
    rf'({_TCHARS})\s*(?:(=)\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*)))?'
)
