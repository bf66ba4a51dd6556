"""A local stand-in for API Gateway (REST API or HTTP API, Lambda authorizer, HTTP proxy
integration).

It runs the real `authorizer.handler.handler` in front of any HTTP service and answers
the way API Gateway does, so a developer (and `make run`) sees the same 401/403/200 that
production gives:

- missing identity source (no Authorization header): 401 without calling the authorizer;
- the authorizer raises "Unauthorized": 401 `{"message":"Unauthorized"}`;
- REST (`--event request|token`): an explicit Deny, or a method ARN outside every Allow:
  403; the result is cached per token (the identity source) for `--cache-ttl` seconds
  and the cached POLICY is evaluated again against each request's method ARN, which is
  why the handler must return a policy that does not depend on the route that happened
  to fill the cache;
- HTTP API (`--event http`, payload 2.0): the request is matched to one of the API's
  `--route` keys (404 when none fits), and the result is cached per value of the
  identity sources (`--identity-source`, by default the Authorization header and
  `$context.routeKey`), the key API Gateway uses
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html,
  "Caching authorizer responses"). A simple response (`--response simple`) allows or
  denies every request with the same key: under `ANY /orders/{id}` or `/{proxy+}` one
  answer is replayed to other methods and paths; an IAM response is evaluated against
  each request's route ARN like REST. docs/caching.md says which route shapes need which;
- anything else going wrong in the authorizer: 500, never a traceback;
- a path that could be another route once decoded and normalised (an encoded "/", "\\",
  "." or "%", dot or empty segments: `shared.route_pattern.path_problem`): 400 before
  anything else. API Gateway itself forwards such paths (the authorizer and its IAM policy
  refuse them there); `--allow-ambiguous-paths` does the same here, to see that.

Mutual TLS (RFC 8705), as on an API Gateway custom domain with mutual TLS
(https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-mutual-tls.html):
`--tls-cert`/`--tls-key` serve HTTPS (stdlib `ssl`), `--client-ca` asks every client for
a certificate and verifies it against that CA bundle (the truststore), handshake refused
otherwise; a client without one is let in unless `--require-client-cert` (API Gateway
requires one on an mTLS domain; optional here so that a bearer client and "no
certificate" can be tried on one port). A verified certificate is passed to the
authorizer as API Gateway passes it: `requestContext.identity.clientCert` (REST events),
`requestContext.authentication.clientCert` (HTTP API payload 2.0), `clientCertPem` plus
`subjectDN`, `issuerDN`, `serialNumber`, `validity`. `requestContext.domainName` is the
Host the client called. `DPoP` headers reach the authorizer and the upstream like any
other header. The HTTP API identity source `$context.identity.clientCert.clientCertPem`
(a context variable of https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html)
keys the result cache per certificate.

`--issuer-upstream URL` fronts the issuer too: `/oauth2/...` and `/.well-known/...` go
there without the authorizer, with the verified client certificate as URL-encoded PEM
("+", "=", "/" left as they are) in `X-Amzn-Mtls-Clientcert`, the header the issuer reads
from a trusted proxy, and in `X-Amzn-Mtls-Clientcert-Leaf`: an Application Load Balancer
sends the leaf in the latter in its verify mode and the chain the client presented, not
verified, in the former in passthrough mode
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/mutual-authentication.html);
the client here presents its leaf alone, so both hold the same certificate. A client's own
`X-Amzn-Mtls-Clientcert*` or `X-Forwarded-Client-Cert` is dropped on every route: only
this gateway vouches for a certificate.

Development tool only: it is deliberately not imported by `authorizer.handler` (the
Lambda package must stay import-light), and it listens on loopback by default.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

# The one IAM evaluator (its glob matcher is the one the policy compiler is proven
# against: linear, no regex).
from shared.iam import PolicyError
from shared.iam import policy_allows as iam_policy_allows
from shared.route_pattern import path_problem

ARN_PREFIX = "arn:aws:execute-api:local:000000000000:local/dev"
HTTP_ARN_PREFIX = "arn:aws:execute-api:local:000000000000:local/$default"
EVENT_KINDS = ("request", "token", "http")
# What API Gateway caches an HTTP API authorizer's result under unless told otherwise
# here; serverless.yml declares the same two.
HTTP_IDENTITY_SOURCES = ("$request.header.Authorization", "$context.routeKey")
MAX_BODY = 10 * 1024 * 1024  # API Gateway's REST payload limit
UPSTREAM_TIMEOUT = 29.0  # API Gateway's default integration timeout
# RFC 9110 §7.6.1: connection-specific headers are not forwarded by a proxy.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
     "trailer", "trailers", "transfer-encoding", "upgrade", "proxy-connection"}
)
CONTEXT_HEADER_PREFIX = "x-authorizer-"
# The client certificate as a TLS-terminating proxy passes it on (ALB; Envoy's XFCC):
# never taken from a client.
CLIENT_CERT_HEADER = "X-Amzn-Mtls-Clientcert"
CLIENT_LEAF_HEADER = "X-Amzn-Mtls-Clientcert-Leaf"
CLIENT_CERT_HEADER_PREFIXES = ("x-amzn-mtls-clientcert", "x-forwarded-client-cert")
# Paths the issuer serves when --issuer-upstream is given (no authorizer in front).
ISSUER_PREFIXES = ("/oauth2/", "/.well-known/")
CERT_IDENTITY_SOURCE = "$context.identity.clientCert.clientCertPem"
TLS_HANDSHAKE_TIMEOUT = 10.0

# The Lambda handler: (event, context) -> its answer, which the gateway checks (untrusted).
Authorize = Callable[[dict[str, Any], object], object]


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of an origin-form request target (RFC 9112 §3.2.1). Not `urlsplit`:
    it reads a target starting with "//" as an authority and drops it from the path, so
    the gateway would decide on one path and forward another."""
    path, _, query = target.partition("?")
    return path or "/", query


def method_arn(method: str, path: str, prefix: str = ARN_PREFIX) -> str:
    return f"{prefix}/{method.upper()}/{path.lstrip('/')}"


def policy_allows(policy: dict[str, Any], arn: str) -> bool:
    """API Gateway's evaluation of an authorizer's IAM answer (`shared.iam.policy_allows`:
    Deny wins, then an Allow is needed). A policy the evaluator refuses (an Effect of
    the wrong case, a Condition, ...) denies: never an accidental allow."""
    try:
        return iam_policy_allows(policy.get("policyDocument"), arn)
    except PolicyError:
        return False


def build_event(kind: str, method: str, target: str, headers: dict[str, str],
                client_cert: dict[str, Any] | None = None,
                domain: str | None = None) -> dict[str, Any]:
    """The event API Gateway sends a REST API TOKEN or REQUEST authorizer (a TOKEN event
    carries the token alone: no certificate, no other header)."""
    path, query_string = split_target(target)
    arn = method_arn(method, path)
    if kind == "token":
        return {"type": "TOKEN", "authorizationToken": headers.get("authorization", ""),
                "methodArn": arn}
    query = parse_qsl(query_string, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in query:
        multi_query.setdefault(key, []).append(value)
    return {
        "type": "REQUEST",
        "methodArn": arn,
        "resource": path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "stage": "dev",
            "httpMethod": method.upper(), "path": f"/dev{path}", "resourcePath": path,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1",
                         **({"clientCert": client_cert} if client_cert else {})},
            **({"domainName": domain} if domain else {}),
        },
    }


def build_http_event(method: str, target: str, headers: dict[str, str], route_key: str,
                     identity: tuple[str, ...], client_cert: dict[str, Any] | None = None,
                     domain: str | None = None) -> dict[str, Any]:
    """The event API Gateway sends an HTTP API Lambda authorizer, payload format 2.0
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html).
    The path arrives decoded, `rawPath` included ("API Gateway decodes URL-encoded request
    parameters", http-api-develop-routes.html), while the route was selected on the path as
    sent; the route ARN keeps the path as sent."""
    raw_path, query_string = split_target(target)
    path = unquote(raw_path)
    query: dict[str, list[str]] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        query.setdefault(key, []).append(value)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": method_arn(method, raw_path, HTTP_ARN_PREFIX),
        "identitySource": list(identity),
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query_string,
        "headers": dict(headers),
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": domain or "localhost",
            "domainPrefix": (domain or "localhost").split(".", 1)[0],
            "http": {"method": method.upper(), "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()), "routeKey": route_key, "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
    }
    if query:  # duplicates joined with commas, as payload 2.0 does
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if client_cert:
        event["requestContext"]["authentication"] = {"clientCert": client_cert}
    return event


def client_cert_info(der: bytes, peer: dict[str, Any] | None) -> dict[str, Any]:
    """The `clientCert` object API Gateway passes for a verified client certificate
    (`clientCertPem`, `subjectDN`, `issuerDN`, `serialNumber`, `validity`)."""
    from shared.mtls import load_certificate  # cryptography.x509: this dev tool only

    pem = ssl.DER_cert_to_PEM_cert(der)
    cert = load_certificate(der)
    serial = f"{cert.serial_number:x}"
    peer = peer or {}
    return {
        "clientCertPem": pem,
        "subjectDN": cert.subject.rfc4514_string(),
        "issuerDN": cert.issuer.rfc4514_string(),
        "serialNumber": ":".join(serial[i:i + 2] for i in range(len(serial) % 2, len(serial), 2))
        if len(serial) > 2 else serial,
        "validity": {"notBefore": str(peer.get("notBefore", "")),
                     "notAfter": str(peer.get("notAfter", ""))},
    }


def tls_context(cert: str, key: str, client_ca: str | None = None,
                require_client_cert: bool = False) -> ssl.SSLContext:
    """A server context: TLS 1.2+, this certificate and key; with `client_ca`, clients are
    asked for a certificate verified against it (required or optional)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        raise ValueError("--require-client-cert needs --client-ca (the truststore)")
    return context


@dataclass(frozen=True)
class HttpRoute:
    """One HTTP API route key: `METHOD /path` (`ANY` for every method), `{name}` one
    segment, `{name+}` (greedy, last) one or more; or `$default`, the catch-all."""

    key: str
    method: str = ""
    segments: tuple[str | None, ...] = ()  # a literal, or None for a `{name}` variable
    greedy: bool = False

    @classmethod
    def parse(cls, key: str) -> HttpRoute:
        if key == "$default":
            return cls(key)
        method, sep, path = key.partition(" ")
        if not sep or method != method.upper() or not method.isalpha() \
                or not path.startswith("/"):
            raise ValueError(f"route {key!r} is not 'METHOD /path' nor '$default'")
        parts = [] if path == "/" else path[1:].split("/")
        greedy = bool(parts) and parts[-1].startswith("{") and parts[-1].endswith("+}")
        if greedy:
            parts.pop()
        if any(not p or p.endswith("+}") for p in parts):
            raise ValueError(f"route {key!r}: empty segment, or a greedy variable not last")
        segments = tuple(None if p.startswith("{") and p.endswith("}") else p for p in parts)
        return cls(key, method, segments, greedy)

    def matches(self, method: str, segments: list[str]) -> bool:
        if self.method not in ("ANY", method):
            return False
        if len(segments) < len(self.segments) + self.greedy:
            return False
        if len(segments) > len(self.segments) and not self.greedy:
            return False
        return all(got != "" if want is None else want == got
                   for want, got in zip(self.segments, segments, strict=False))

    def rank(self) -> tuple[int | tuple[bool, ...], ...]:
        """Sort key, most specific first: an exact route before a greedy one (longest
        first), a literal segment before a variable at the first place they differ, a
        method before ANY; `$default` last (http-api-develop-routes.html, "Routing API
        requests")."""
        if self.key == "$default":
            return (2,)
        return (int(self.greedy), -len(self.segments) if self.greedy else 0,
                tuple(want is None for want in self.segments), self.method == "ANY")


def select_route(routes: tuple[HttpRoute, ...], method: str, raw_path: str) -> str | None:
    """The route key API Gateway would pick for the request, or None (its 404). Matched
    on the path as sent: an encoded "/" stays inside its segment."""
    segments = [] if raw_path == "/" else raw_path[1:].split("/")
    for route in routes:  # sorted by rank
        if route.key == "$default" or route.matches(method.upper(), segments):
            return route.key
    return None


@dataclass
class AuthorizerCache:
    """Authorizer results by identity source, like API Gateway's (TTL 0: no caching)."""

    ttl: float
    clock: Callable[[], float] = time.monotonic
    max_entries: int = 10_000
    _entries: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[str, ...]) -> dict[str, Any] | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or self.clock() >= hit[0]:
                self._entries.pop(key, None)
                return None
            return hit[1]

    def put(self, key: tuple[str, ...], result: dict[str, Any]) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # crude bound; a dev tool needs no LRU
            self._entries[key] = (self.clock() + self.ttl, result)


@dataclass(frozen=True)
class Decision:
    status: int  # 0: allowed, else the status API Gateway answers with
    message: str | None = None
    result: dict[str, Any] | None = None


UNAUTHORIZED = Decision(401, "Unauthorized")
FORBIDDEN = Decision(403, "User is not authorized to access this resource")
CONFIG_ERROR = Decision(500, None)
BAD_REQUEST = Decision(400, "Bad Request")
# HTTP API's own answers for a simple "no", a route it does not have, an authorizer fault.
HTTP_FORBIDDEN = Decision(403, "Forbidden")
NOT_FOUND = Decision(404, "Not Found")
HTTP_CONFIG_ERROR = Decision(500, "Internal Server Error")


@dataclass
class Gateway:
    authorize: Authorize
    cache: AuthorizerCache
    event_kind: str = "request"
    # HTTP API only: simple responses (else an IAM policy), the API's route keys, and the
    # identity sources the cache is keyed by.
    simple: bool = True
    routes: tuple[str, ...] = ("$default",)
    identity_sources: tuple[str, ...] = HTTP_IDENTITY_SOURCES
    # Refuse (400) paths that could be another route once decoded; False: forward them to
    # the authorizer as API Gateway does.
    strict_paths: bool = True
    # Lambda runs one invocation per container at a time; the handler may rely on that.
    _invoke_lock: threading.Lock = field(default_factory=threading.Lock)
    _routes: tuple[HttpRoute, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.event_kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {', '.join(EVENT_KINDS)}")
        self._routes = tuple(sorted((HttpRoute.parse(k) for k in self.routes),
                                    key=HttpRoute.rank))
        if self.event_kind == "http":
            if not self.identity_sources:
                raise ValueError("an HTTP API authorizer needs at least one identity source")
            for source in self.identity_sources:
                if not source.startswith(("$request.header.", "$request.querystring.")) \
                        and source not in ("$context.routeKey", "$context.httpMethod",
                                           CERT_IDENTITY_SOURCE):
                    raise ValueError(f"identity source {source!r} is not supported here")

    def decide(self, method: str, target: str, headers: dict[str, str],
               client_cert: dict[str, Any] | None = None,
               domain: str | None = None) -> Decision:
        raw_path = split_target(target)[0]
        if self.strict_paths and path_problem(raw_path) is not None:
            return BAD_REQUEST
        if self.event_kind == "http":
            return self._decide_http(method, target, headers, raw_path, client_cert, domain)
        identity = headers.get("authorization", "")
        if not identity.strip():
            return UNAUTHORIZED
        arn = method_arn(method, raw_path)
        # Keyed by the Authorization header alone, as the REST identity source is: a
        # cached Allow for a bound token answers a request without its proof
        # (docs/caching.md, "Bound tokens": TTL 0 on routes that take them).
        result = self.cache.get((identity,))
        if result is None:
            event = build_event(self.event_kind, method, target, headers, client_cert, domain)
            try:
                answer = self._invoke(event)
            except Exception as exc:  # API Gateway maps exactly this message to 401
                return UNAUTHORIZED if str(exc) == "Unauthorized" else CONFIG_ERROR
            if not isinstance(answer, dict) or "policyDocument" not in answer:
                return CONFIG_ERROR
            result = answer
            self.cache.put((identity,), result)
        if not policy_allows(result, arn):
            return FORBIDDEN
        return Decision(0, result=result)

    def _decide_http(self, method: str, target: str, headers: dict[str, str],
                     raw_path: str, client_cert: dict[str, Any] | None,
                     domain: str | None) -> Decision:
        route_key = select_route(self._routes, method, raw_path)
        if route_key is None:
            return NOT_FOUND
        pem = (client_cert or {}).get("clientCertPem", "")
        identity = self._identity(method, target, headers, route_key, pem)
        if identity is None:  # a missing identity source: 401, the authorizer not called
            return UNAUTHORIZED
        # The cache key is the identity sources' values, nothing else: a simple response
        # cached under (token, route key) answers every request under that route key.
        result = self.cache.get(identity)
        if result is None:
            event = build_http_event(method, target, headers, route_key, identity,
                                     client_cert, domain)
            try:
                answer = self._invoke(event)
            except Exception as exc:
                return UNAUTHORIZED if str(exc) == "Unauthorized" else HTTP_CONFIG_ERROR
            if not isinstance(answer, dict):
                return HTTP_CONFIG_ERROR
            if self.simple:
                if type(answer.get("isAuthorized")) is not bool:
                    return HTTP_CONFIG_ERROR
            elif "policyDocument" not in answer:
                return HTTP_CONFIG_ERROR
            result = answer
            self.cache.put(identity, result)
        if self.simple:
            allowed = result["isAuthorized"]
        else:
            allowed = policy_allows(result, method_arn(method, raw_path, HTTP_ARN_PREFIX))
        return Decision(0, result=result) if allowed else HTTP_FORBIDDEN

    def _identity(self, method: str, target: str, headers: dict[str, str],
                  route_key: str, client_cert_pem: str = "") -> tuple[str, ...] | None:
        query: dict[str, list[str]] = {}
        values = []
        for source in self.identity_sources:
            if source.startswith("$request.header."):
                value = headers.get(source[len("$request.header."):].lower(), "")
            elif source.startswith("$request.querystring."):
                if not query:
                    for key, item in parse_qsl(split_target(target)[1], keep_blank_values=True):
                        query.setdefault(key, []).append(item)
                value = ",".join(query.get(source[len("$request.querystring."):], []))
            elif source == "$context.routeKey":
                value = route_key
            elif source == CERT_IDENTITY_SOURCE:
                value = client_cert_pem
            else:  # $context.httpMethod
                value = method.upper()
            if not value.strip():
                return None
            values.append(value)
        return tuple(values)

    def _invoke(self, event: dict[str, Any]) -> object:
        with self._invoke_lock:
            return self.authorize(event, None)


def context_headers(result: dict[str, Any]) -> dict[str, str]:
    """The authorizer's principalId and context, as the integration would map them."""
    out = {"X-Authorizer-Principal-Id": str(result.get("principalId", ""))}
    for key, value in (result.get("context") or {}).items():
        name = "-".join(part.capitalize() for part in re.split(r"[_\-]", str(key)))
        out[f"X-Authorizer-{name}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _base(url: str, option: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{option} must be an http(s) URL, got {url!r}")
    return parts.scheme, host, parts.port, parts.path.rstrip("/")


_HOST_HEADER = re.compile(r"[A-Za-z0-9.\-]{1,253}(?::[0-9]{1,5})?")


def make_handler(gateway: Gateway, upstream: str,
                 issuer_upstream: str | None = None) -> type[BaseHTTPRequestHandler]:
    api = _base(upstream, "--upstream")
    issuer = _base(issuer_upstream, "--issuer-upstream") if issuer_upstream else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tollgate-gateway"
        tls_failed = False

        def setup(self) -> None:
            super().setup()
            if isinstance(self.connection, ssl.SSLSocket):
                # The handshake in this connection's thread (the accept loop never waits
                # on a client); a refused certificate ends the connection, one line logged.
                self.connection.settimeout(TLS_HANDSHAKE_TIMEOUT)
                try:
                    self.connection.do_handshake()
                except (ssl.SSLError, OSError) as exc:
                    self.tls_failed = True
                    reason = getattr(exc, "reason", None) or type(exc).__name__
                    self.log_message("TLS handshake refused: %s", reason)
                self.connection.settimeout(None)

        def handle(self) -> None:
            if not self.tls_failed:
                super().handle()

        def _any(self) -> None:
            try:
                self._serve()
            except Exception as exc:  # never a traceback to the client
                self.log_message("internal error: %s", type(exc).__name__)
                self._reply(500, {"message": "Internal server error"})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

        def _client_cert(self) -> dict[str, Any] | None:
            conn = self.connection
            if not isinstance(conn, ssl.SSLSocket):
                return None
            der = conn.getpeercert(binary_form=True)
            if not der:  # no certificate offered (only possible when optional)
                return None
            return client_cert_info(der, conn.getpeercert())

        def _domain(self, headers: dict[str, str]) -> str:
            host = headers.get("host", "")
            if _HOST_HEADER.fullmatch(host):
                return host
            address, port = self.connection.getsockname()[:2]
            return f"{address}:{port}"

        def _serve(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            if not self.path.startswith("/"):
                self.close_connection = True
                return self._reply(400, {"message": "Bad Request"})
            if "transfer-encoding" in headers:
                self.close_connection = True  # the unread body would poison keep-alive
                return self._reply(411, {"message": "Length Required"})
            try:
                length = int(headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                self.close_connection = True
                return self._reply(413, {"message": "Request Entity Too Large"})
            body = self.rfile.read(length) if length else b""
            client_cert = self._client_cert()
            if issuer is not None and self.path.startswith(ISSUER_PREFIXES):
                extra = {}
                if client_cert is not None:
                    # ALB's form: the PEM URL-encoded, "+", "=", "/" left as they are.
                    encoded = quote(client_cert["clientCertPem"], safe="+=/")
                    extra[CLIENT_CERT_HEADER] = extra[CLIENT_LEAF_HEADER] = encoded
                return self._proxy(issuer, headers, body, extra)
            decision = gateway.decide(self.command, self.path, headers, client_cert,
                                      self._domain(headers))
            if decision.status:
                return self._reply(decision.status, {"message": decision.message})
            self._proxy(api, headers, body, context_headers(decision.result or {}))

        def _proxy(self, target: tuple[str, str, int | None, str], headers: dict[str, str],
                   body: bytes, extra: dict[str, str]) -> None:
            scheme, host, port, base_path = target
            named = {h.strip() for h in headers.get("connection", "").lower().split(",")}
            forward = {
                k: v for k, v in headers.items()
                if k not in HOP_BY_HOP and k not in named and k != "host"
                # a client must not be able to forge what the authorizer decided, nor
                # the certificate a proxy vouches for
                and not k.startswith((CONTEXT_HEADER_PREFIX, *CLIENT_CERT_HEADER_PREFIXES))
            }
            forward.update(extra)
            forward["X-Forwarded-For"] = self.client_address[0]
            conn_cls = (http.client.HTTPSConnection if scheme == "https"
                        else http.client.HTTPConnection)
            conn = conn_cls(host, port, timeout=UPSTREAM_TIMEOUT)
            try:
                conn.request(self.command, base_path + self.path, body=body or None,
                             headers=forward)
                resp = conn.getresponse()
                payload = resp.read(MAX_BODY + 1)
                resp_headers = resp.getheaders()
                status = resp.status
            except (OSError, http.client.HTTPException):
                return self._reply(502, {"message": "Bad Gateway"})
            finally:
                conn.close()
            if len(payload) > MAX_BODY:
                return self._reply(502, {"message": "Bad Gateway"})
            self.send_response(status)
            for name, value in resp_headers:
                # Server/Date/Content-Length are this server's own to send (not twice).
                if name.lower() not in HOP_BY_HOP | {"content-length", "server", "date"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            # Request line only (never headers: the token must not reach a log).
            sys.stderr.write(f"gateway: {self.address_string()} {format % args}\n")

    return Handler


class TlsServer(ThreadingHTTPServer):
    """HTTPS: each accepted socket wrapped, its handshake left to the handler's thread."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 context: ssl.SSLContext) -> None:
        self.tls = context
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        return self.tls.wrap_socket(sock, server_side=True,
                                    do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-request is not worth a traceback on stderr.
        sys.stderr.write(f"gateway: {client_address[0]} connection error\n")


def serve(gateway: Gateway, upstream: str, host: str, port: int,
          tls: ssl.SSLContext | None = None,
          issuer_upstream: str | None = None) -> ThreadingHTTPServer:
    """Bind (port 0 picks a free one) without serving yet; the caller runs serve_forever."""
    handler = make_handler(gateway, upstream, issuer_upstream)
    server = (TlsServer((host, port), handler, tls) if tls is not None
              else ThreadingHTTPServer((host, port), handler))
    server.daemon_threads = True
    return server


def gateway_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="authorizer gateway", description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="the HTTP service behind the gateway")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    p.add_argument("--cache-ttl", type=float, default=300.0,
                   help="authorizer result cache in seconds, like API Gateway (0: off)")
    p.add_argument("--event", choices=EVENT_KINDS, default="request",
                   help="authorizer to emulate: REST API REQUEST or TOKEN, or HTTP API "
                        "(payload 2.0)")
    p.add_argument("--response", choices=("simple", "iam"), default="simple",
                   help="HTTP API only: what the authorizer returns (set AUTHORIZER_RESPONSE "
                        "to match); see docs/caching.md")
    p.add_argument("--route", action="append", dest="routes", metavar="KEY",
                   help="HTTP API only: a route key such as 'GET /orders/{id}', "
                        "'ANY /{proxy+}' or '$default' (repeatable; default: $default)")
    p.add_argument("--identity-source", action="append", dest="identity_sources",
                   metavar="EXPR",
                   help="HTTP API only: an identity source, the cache key (repeatable; "
                        f"default: {' '.join(HTTP_IDENTITY_SOURCES)})")
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM chain)")
    p.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    p.add_argument("--client-ca", help="mutual TLS: verify client certificates against this "
                   "CA bundle (PEM) and pass them to the authorizer as API Gateway does")
    p.add_argument("--require-client-cert", action="store_true",
                   help="with --client-ca: refuse the handshake without a certificate "
                        "(API Gateway's mutual TLS; default: optional)")
    p.add_argument("--issuer-upstream", metavar="URL",
                   help="send /oauth2/... and /.well-known/... to this issuer, with the "
                        f"client certificate in {CLIENT_CERT_HEADER} (URL-encoded PEM)")
    p.add_argument("--allow-ambiguous-paths", action="store_true",
                   help="forward paths with an encoded '/', '\\', '.' or '%%', dot or empty "
                        "segments to the authorizer as API Gateway does (default: 400)")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return gateway_parser().parse_args(argv)


def _not_started(event: dict[str, Any], context: object) -> object:
    raise RuntimeError("the authorizer is not loaded yet")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if bool(args.tls_cert) != bool(args.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        if args.client_ca and not args.tls_cert:
            raise ValueError("--client-ca needs --tls-cert and --tls-key (mutual TLS is TLS)")
        tls = (tls_context(args.tls_cert, args.tls_key, args.client_ca,
                           args.require_client_cert) if args.tls_cert else None)
        gateway = Gateway(
            _not_started, AuthorizerCache(args.cache_ttl), args.event,
            simple=args.response == "simple", routes=tuple(args.routes or ("$default",)),
            identity_sources=tuple(args.identity_sources or HTTP_IDENTITY_SOURCES),
            strict_paths=not args.allow_ambiguous_paths,
        )
        server = serve(gateway, args.upstream, args.host, args.port, tls,
                       args.issuer_upstream)
    except (ValueError, ssl.SSLError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        what = exc.strerror or str(exc)
        print(f"gateway: cannot listen on {args.host}:{args.port} or read a file: {what}",
              file=sys.stderr)
        return 1
    host, port = server.socket.getsockname()[:2]  # what server_address holds, typed
    scheme = "https" if tls is not None else "http"
    if tls is None:
        # A DPoP proof names the URL the client called; the authorizer builds it as
        # https://{domainName}/... unless told (authorizer/binding.py). Over plain HTTP
        # this gateway is that URL.
        os.environ.setdefault("AUTHORIZER_PUBLIC_URL", f"http://{host}:{port}")
    # Imported here, not at module top: the handler reads its settings at import, and
    # this module must stay importable (tests, --help) without them.
    try:
        from authorizer.handler import handler
    except Exception as exc:  # a missing setting fails at cold start, clearly
        print(f"gateway: the authorizer failed to start: {exc}", file=sys.stderr)
        server.server_close()
        return 2
    gateway.authorize = handler
    print(f"gateway: listening on {scheme}://{host}:{port} -> {args.upstream}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
