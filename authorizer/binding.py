"""Sender-constrained tokens at the authorizer: a token bound to a client certificate
(RFC 8705 §3, `cnf.x5t#S256`) or to a DPoP key (RFC 9449 §6-§7, `cnf.jkt`) is allowed
only when the request proves possession, on every request.

The token cache (authorizer/token_cache.py) holds what verifying the token produced,
its binding included; `BindingCheck.check` runs after the cache, hit or miss, because
the proof is per request: a thief holding a copied token but not the key or the
certificate must fail on a repeat exactly as on the first sight (docs/caching.md,
"Bound tokens").

Rules (reason codes in brackets):
- a bound token on a TOKEN authorizer event, which carries neither certificate nor
  headers: [`bound_token_on_token_event`];
- `cnf.jkt`: the token under `Authorization: DPoP` (a `Bearer` presentation is
  [`bound_token_as_bearer`], RFC 9449 §7.2), one `DPoP` header [`dpop_proof_missing`;
  two: `dpop_malformed`] that `shared.dpop.verify_proof` accepts for this request:
  `htm` the method, `htu` the public URL (`public_url` below), `iat` within the window,
  `ath` the token's hash, the key's thumbprint the token's `jkt` [the `dpop_*` codes],
  and a (jkt, jti) not seen within the window on this instance [`dpop_replay`];
- `cnf.x5t#S256`: the event's client certificate [`cnf_cert_missing`] whose SHA-256
  thumbprint is the token's [`cnf_cert_mismatch`; also for a certificate that does not
  parse]. The certificate's chain was verified by API Gateway against the domain's
  truststore; the TLS handshake proved the client holds its private key;
- an unbound token under `Authorization: DPoP` has no key for the proof to match:
  [`dpop_key_mismatch`]. A `cnf` this authorizer cannot check (no `jkt` nor `x5t#S256`,
  or a value of the wrong shape) is refused at verification [`bad_claim`]: failing closed.

The public URL (`htu`, RFC 9449 §4.3 item 9) is the URL the client called, which the
event does not hold as such:
- `AUTHORIZER_PUBLIC_URL` set (`https://api.example.com/v1`): that base followed by the
  request's stage-free path. Right for a custom domain under any API mapping: the client
  calls the domain, the mapping's base path, then the route's path; the stage is not in
  the URL.
- unset: `https://` + `requestContext.domainName`, then `/{stage}` when the domain is the
  API's default endpoint (`{api-id}.execute-api.{region}.amazonaws.com`, where a named
  stage is the URL's first segment and `$default` adds none), then the path. On any
  other domain (a custom domain) the stage is not in the URL and the authorizer cannot
  see the API mapping: an empty base path is assumed. Set `AUTHORIZER_PUBLIC_URL` for a
  mapping with a base path, or every proof is `dpop_htu_mismatch`.
REST events give the path as sent (percent-encoded), HTTP API events decoded; characters
outside RFC 3986's path characters are percent-encoded again before the comparison,
which `shared.dpop.normalise_htu` then normalises on both sides.
No server nonce (RFC 9449 §9): a Lambda authorizer cannot answer with a `DPoP-Nonce`
header, so the `iat` window and the replay store bound a captured proof's use.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable
from typing import Any, Literal, get_args

from authorizer.events import MULTIPLE, TOKEN, AuthRequest
from shared.bearer import DPOP
from shared.dpop import DEFAULT_LEEWAY, DEFAULT_MAX_AGE, ReplayWindow, verify_proof
from shared.errors import TokenError
from shared.mtls import cert_thumbprint

BindingCode = Literal[
    "cnf_cert_missing",  # a cnf.x5t#S256 token, and no client certificate in the event
    "cnf_cert_mismatch",  # the event's certificate is not the token's
    "dpop_proof_missing",  # a cnf.jkt token under DPoP, and no DPoP header
    "bound_token_as_bearer",  # a cnf.jkt token under Authorization: Bearer
    "bound_token_on_token_event",  # a bound token on a TOKEN authorizer
]
BINDING_CODES: tuple[BindingCode, ...] = get_args(BindingCode)
JKT, X5T = "jkt", "x5t#S256"
# A SHA-256 thumbprint, base64url without padding (RFC 7638 §3, RFC 8705 §3.1).
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")
_DEFAULT_ENDPOINT = re.compile(
    r"[a-z0-9]+(?:-vpce-[a-z0-9]+)?\.execute-api\.[a-z0-9-]+\.(?:vpce\.)?amazonaws\.com(?:\.cn)?"
)
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?")
_MAX_THUMBPRINTS = 256  # certificates remembered per instance (then forgotten at once)
# RFC 3986 §3.3 pchar plus "/" and "%" (an encoding already there is kept).
_NOT_PATH_CHAR = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]")


class BindingRefused(Exception):
    """A bound token presented without its proof; `code` is the reason code."""

    __slots__ = ("code",)

    def __init__(self, code: BindingCode, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


class Binding:
    """A token's confirmation (RFC 7800 `cnf`): the DPoP key thumbprint, the
    certificate thumbprint, or both. `context` is what the protected API is told."""

    __slots__ = ("context", "jkt", "x5t")

    def __init__(self, jkt: str | None, x5t: str | None) -> None:
        self.jkt = jkt
        self.x5t = x5t
        kinds = [(kind, value) for kind, value in ((JKT, jkt), (X5T, x5t)) if value]
        # API Gateway passes only strings, numbers and booleans in the context.
        self.context: dict[str, Any] = {
            "cnf_kind": " ".join(kind for kind, _ in kinds),
            "cnf_thumbprint": " ".join(value for _, value in kinds),
        }


def token_binding(claims: dict[str, Any]) -> Binding | None:
    """The token's `cnf`, None when it has none, `TokenError("bad_claim")` for one this
    authorizer cannot check (it would otherwise pass as a bearer token)."""
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    if type(cnf) is not dict:
        raise TokenError("bad_claim", "cnf is not an object")
    values: dict[str, str | None] = {}
    for name in (JKT, X5T):
        value = cnf.get(name)
        if value is not None and (type(value) is not str or not _THUMBPRINT.fullmatch(value)):
            raise TokenError("bad_claim", f"cnf.{name} is not a SHA-256 thumbprint")
        values[name] = value
    if values[JKT] is None and values[X5T] is None:
        raise TokenError("bad_claim", "cnf holds no confirmation method this verifier checks")
    return Binding(values[JKT], values[X5T])


def encode_path(path: str) -> str:
    """`path` with the characters a URL cannot hold as-is percent-encoded (UTF-8)."""
    if _NOT_PATH_CHAR.search(path) is None:
        return path
    return _NOT_PATH_CHAR.sub(
        lambda m: "".join(f"%{octet:02X}" for octet in m.group(0).encode("utf-8")), path
    )


class BindingCheck:
    """The per-request proof of possession for bound tokens (module docstring)."""

    __slots__ = ("_now", "_thumbprints", "leeway", "max_age", "public_base", "replay")

    def __init__(
        self,
        *,
        public_url: str | None = None,
        max_age: float = DEFAULT_MAX_AGE,
        leeway: float = DEFAULT_LEEWAY,
        replay: ReplayWindow | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.public_base = public_url.rstrip("/") if public_url else None
        self.max_age = max_age
        self.leeway = leeway
        self.replay = replay if replay is not None else ReplayWindow(
            max_age=max_age, leeway=leeway)
        self._now = wall_clock
        # PEM text -> its x5t#S256: the same client's certificate arrives on every request;
        # a lookup of the exact text replaces decoding and hashing it (~10 us).
        self._thumbprints: dict[str, str | None] = {}

    def public_url(self, request: AuthRequest) -> str | None:
        """The URL the client called (module docstring), None when the event cannot say."""
        path = encode_path(request.path)
        if self.public_base is not None:
            return self.public_base + path
        domain = request.domain
        if type(domain) is not str or not _HOST.fullmatch(domain):
            return None
        stage = request.stage
        if (type(stage) is str and stage and stage != "$default"
                and _DEFAULT_ENDPOINT.fullmatch(domain.lower())):
            path = "/" + encode_path(stage) + path
        return "https://" + domain + path

    def check(
        self, request: AuthRequest, scheme: str, token: str, binding: Binding | None
    ) -> None:
        """Nothing, or `BindingRefused` / `TokenError` with the reason code."""
        if binding is None:
            if scheme == DPOP:
                raise TokenError("dpop_key_mismatch", "the token is not DPoP-bound")
            return
        if request.kind == TOKEN:
            raise BindingRefused("bound_token_on_token_event")
        if binding.jkt is not None:
            if scheme != DPOP:
                raise BindingRefused("bound_token_as_bearer")
            self._dpop(request, token, binding.jkt)
        elif scheme == DPOP:
            raise TokenError("dpop_key_mismatch", "the token is not DPoP-bound")
        if binding.x5t is not None:
            self._certificate(request, binding.x5t)

    def _dpop(self, request: AuthRequest, token: str, jkt: str) -> None:
        proof = request.dpop
        if proof is None or proof == "":
            raise BindingRefused("dpop_proof_missing")
        if proof is MULTIPLE:
            raise TokenError("dpop_malformed", "more than one DPoP header")
        if type(proof) is not str:
            raise TokenError("dpop_malformed", "DPoP header is not a string")
        url = self.public_url(request)
        if url is None:
            raise TokenError("dpop_htu_mismatch", "no public URL for the request (domainName)")
        now = self._now()
        verified = verify_proof(
            proof, method=request.method, url=url, now=now, max_age=self.max_age,
            leeway=self.leeway, access_token=token, expected_jkt=jkt,
        )
        self.replay.check_and_remember(verified, now)

    def _certificate(self, request: AuthRequest, x5t: str) -> None:
        pem = request.client_cert
        if pem is None or pem == "":
            raise BindingRefused("cnf_cert_missing")
        if type(pem) is not str:
            raise BindingRefused("cnf_cert_mismatch", "the client certificate is not text")
        try:
            thumbprint = self._thumbprints[pem]
        except KeyError:
            try:
                thumbprint = cert_thumbprint(pem)
            except ValueError:
                thumbprint = None
            if len(self._thumbprints) >= _MAX_THUMBPRINTS:
                self._thumbprints.clear()
            self._thumbprints[pem] = thumbprint
        if thumbprint is None:
            raise BindingRefused("cnf_cert_mismatch", "the client certificate does not parse")
        if not hmac.compare_digest(thumbprint, x5t):
            raise BindingRefused("cnf_cert_mismatch")

