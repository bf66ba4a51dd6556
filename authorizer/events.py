"""API Gateway authorizer events -> one request shape.

Three kinds, told apart by shape (API Gateway sends no other discriminator we can
trust across payload versions):
- REST API `TOKEN`: `{type: "TOKEN", authorizationToken, methodArn}`;
- REST API `REQUEST` (and HTTP API payload 1.0, which is the same shape): `methodArn`,
  `headers`, `multiValueHeaders`, `httpMethod`, `path`, `requestContext`;
- HTTP API payload 2.0: `version: "2.0"`, `routeArn`, lower-cased `headers`,
  `requestContext.http.method/path`.
The method and path are read from the ARN for REST (that is what the IAM policy is
matched against) and from `requestContext.http` for HTTP APIs (what a simple response
decides on).

Paths (issue 12, item 9). REST APIs pass the path on percent-encoded, in the method ARN
and in `path`; HTTP APIs decode it ("API Gateway decodes URL-encoded request parameters
before passing them to your backend integration",
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html),
and the authorizer event's `rawPath` and `requestContext.http.path` are observed decoded
too, while its `routeKey` may have been selected on the path as sent. (AWS documents
neither the REST form nor the authorizer event's; both are taken at their worst.) So
every path an event carries must pass `shared.route_pattern.path_problem` (no encoded
"/", "\\", ".", "%", no dot or empty segments), and for HTTP APIs the decoded path must
also fit the route key: `GET /entries/1%2Flines` may arrive as path `/entries/1/lines`
under route key `GET /entries/{id}`. Either failure is `Refused("ambiguous_path")`,
before any token work.

Sender-constrained tokens (RFC 8705, RFC 9449) need three more things from a REQUEST
event, carried on `AuthRequest` and checked by `authorizer/binding.py`:
- the client certificate of a mutual-TLS custom domain, which API Gateway "forwards [...]
  to Lambda authorizers" (https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-mutual-tls.html):
  `requestContext.identity.clientCert.clientCertPem` in the REST shape (REST REQUEST and
  HTTP API payload 1.0), `requestContext.authentication.clientCert.clientCertPem` in
  payload 2.0 (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html);
- the `DPoP` header (RFC 9449 §4.1), names compared case-insensitively; two values in
  `multiValueHeaders` are `MULTIPLE` (§4.3 item 1: "not more than one DPoP HTTP request
  header field"), payload 2.0 joins duplicates with a comma, which no proof parses with;
- `requestContext.domainName` and the stage, for the URL the client called (`htu`).
A TOKEN event carries none of them: only the token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, get_args

from shared.bearer import MAX_AUTHORIZATION as MAX_AUTHORIZATION
from shared.bearer import BearerCode, BearerRefused
from shared.bearer import credentials as _credentials
from shared.route_pattern import path_problem

HTTP = "http"
REQUEST = "request"
TOKEN = "token"  # noqa: S105 (an event kind, not a secret)


# Refusals before any token work (reason codes, with the Authorization value's own,
# `shared.bearer.BearerCode`).
EventCode = Literal["bad_event", "ambiguous_path", "ambiguous_authorization"]
EVENT_CODES: tuple[EventCode, ...] = get_args(EventCode)


class Refused(Exception):
    """A request refused before any token work; `code` is the reason code."""

    __slots__ = ("code",)

    def __init__(self, code: EventCode | BearerCode) -> None:
        super().__init__(code)
        self.code = code


# Two `DPoP` header values (a REST event's multiValueHeaders): refused by the binding check.
MULTIPLE = ("multiple",)


class AuthRequest:
    """What the decision needs from an event, whatever its kind. What only a bound
    token's check reads (`dpop`, `client_cert`, `domain`, `stage`: untrusted shapes)
    is looked up in `event` when asked, so a bearer token's decision never pays for it."""

    __slots__ = ("arn_prefix", "authorization", "event", "kind", "method", "path")

    def __init__(
        self,
        kind: str,
        authorization: object,
        arn_prefix: str,
        method: str,
        path: str,
        event: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.authorization = authorization
        self.arn_prefix = arn_prefix  # "arn:aws:execute-api:{region}:{account}:{api}/{stage}/"
        self.method = method
        self.path = path  # stage-free, as the policy's routes are written
        self.event = event  # None for a TOKEN event: it carries nothing a proof needs

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def dpop(self) -> object:
        """The DPoP header's value: a str, None, or MULTIPLE."""
        return None if self.event is None else _header(self.event, "dpop")

    @property
    def client_cert(self) -> object:
        """The client certificate's PEM (module docstring)."""
        holder = "authentication" if self.kind == HTTP else "identity"
        return _client_cert(_get(self.event, "requestContext"), holder)

    @property
    def domain(self) -> object:
        """`requestContext.domainName`."""
        return _get(_get(self.event, "requestContext"), "domainName")

    @property
    def stage(self) -> object:
        """The stage name: the ARN's for REST, `requestContext.stage` for HTTP APIs."""
        if self.event is None:
            return None
        if self.kind == HTTP:
            return _get(self.event.get("requestContext"), "stage")
        return self.arn_prefix.rstrip("/").rsplit("/", 1)[-1]


def split_arn(arn: object) -> tuple[str, str, str]:
    """`arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}` ->
    (prefix up to and including the stage's slash, METHOD, /path)."""
    if type(arn) is not str or not arn.startswith("arn:"):
        raise Refused("bad_event")
    parts = arn.split("/", 3)
    if len(parts) < 3 or parts[0].count(":") != 5 or not parts[1] or not parts[2]:
        raise Refused("bad_event")
    path = "/" + parts[3] if len(parts) == 4 else "/"
    return f"{parts[0]}/{parts[1]}/", parts[2], _plain(path)


def _plain(path: str) -> str:
    """`path`, unless it reads as different routes to different parsers (see above)."""
    if path_problem(path) is not None:
        raise Refused("ambiguous_path")
    return path


def parse_event(event: object) -> AuthRequest:
    """The event's request, or `Refused("bad_event")` for a shape we do not know."""
    if type(event) is not dict:
        raise Refused("bad_event")
    if event.get("version") == "2.0" and "routeArn" in event:
        return _http_v2(event)
    kind = event.get("type")
    if kind == "TOKEN":
        prefix, method, path = split_arn(event.get("methodArn"))
        return AuthRequest(TOKEN, event.get("authorizationToken"), prefix, method, path)
    if kind == "REQUEST" and "methodArn" in event:
        prefix, method, path = split_arn(event.get("methodArn"))
        # The decision is on the ARN's path; the request's own (what the integration gets)
        # must be as plain, or the two could be different routes.
        raw = event.get("path")
        if type(raw) is str and raw != path:
            _plain(raw)
        return AuthRequest(REQUEST, _authorization(event), prefix, method, path, event)
    raise Refused("bad_event")


def _get(mapping: object, name: str) -> object:
    return mapping.get(name) if type(mapping) is dict else None


def _client_cert(context: object, holder: str) -> object:
    """`requestContext.<holder>.clientCert.clientCertPem`: `identity` in the REST shape,
    `authentication` in HTTP API payload 2.0 (module docstring)."""
    return _get(_get(_get(context, holder), "clientCert"), "clientCertPem")


def _http_v2(event: dict[str, Any]) -> AuthRequest:
    prefix, method, path = split_arn(event["routeArn"])
    context = event.get("requestContext")
    if type(context) is dict and type(http := context.get("http")) is dict:
        http_method = http.get("method")
        http_path = http.get("path") or event.get("rawPath")
        if (
            type(http_method) is not str
            or type(http_path) is not str
            or not http_path.startswith("/")
        ):
            raise Refused("bad_event")
        raw = event.get("rawPath")
        if type(raw) is str and raw != http_path:
            _plain(raw)
        method = http_method
        path = _strip_stage(_plain(http_path), context.get("stage"))
        if not _fits_route_key(event.get("routeKey", context.get("routeKey")), path):
            raise Refused("ambiguous_path")
    return AuthRequest(HTTP, _authorization(event), prefix, method.upper(), path, event)


def _strip_stage(path: str, stage: object) -> str:
    # HTTP APIs put a named stage in front of the path ("/test/orders"); the policy's
    # routes are stage-free. The $default stage adds nothing.
    if type(stage) is str and stage and stage != "$default":
        head = "/" + stage
        if path == head:
            return "/"
        if path.startswith(head + "/"):
            return path[len(head):]
    return path


# Route key -> a matcher of the decoded paths its template covers (None for `$default`),
# compiled once per key: API Gateway sends the API's few route keys, and a matcher is
# ~0.1 us per decision where splitting and comparing segments was ~0.5 us. Bounded like the
# decision's other per-value caches.
_ROUTE_KEYS: dict[str, Callable[[str], object] | None] = {}
_MAX_ROUTE_KEYS = 256


def _route_matcher(route_key: str) -> Callable[[str], object] | None:
    if route_key == "$default":  # the catch-all: any path fits it
        matcher = None
    else:
        # "METHOD /path" (ANY for every method); "{name}" is one non-empty segment,
        # "{name+}" (greedy, last only) the rest of the path (HTTP API routes, same page).
        _, sep, template = route_key.partition(" ")
        if not sep or not template.startswith("/"):
            raise Refused("bad_event")
        pattern = ""
        for segment in template[1:].split("/") if template != "/" else ():
            if segment.startswith("{") and segment.endswith("+}"):
                pattern += "(?:/.*)?"
                break
            pattern += "/[^/]+" if segment.startswith("{") and segment.endswith("}") \
                else "/" + re.escape(segment)
        matcher = re.compile(pattern or "/", re.DOTALL).fullmatch
    if len(_ROUTE_KEYS) >= _MAX_ROUTE_KEYS:
        _ROUTE_KEYS.clear()
    _ROUTE_KEYS[route_key] = matcher
    return matcher


def _fits_route_key(route_key: object, path: str) -> bool:
    """Whether the (decoded) path is one the route key's template matches. A simple
    response is cached per route key: a decision on a path outside it would be replayed
    onto the key's own paths. No route key in the event: nothing to compare."""
    if route_key is None:
        return True
    if type(route_key) is not str:
        raise Refused("bad_event")
    try:
        matcher = _ROUTE_KEYS[route_key]
    except KeyError:  # first time this key is seen: compile it
        matcher = _route_matcher(route_key)
    return matcher is None or matcher(path) is not None


def _authorization(event: dict[str, Any]) -> object:
    """The Authorization header, names compared case-insensitively (RFC 7230 §3.2).
    Two values (multiValueHeaders) make it ambiguous: refused, not guessed."""
    value = _header(event, "authorization", "Authorization")
    if value is MULTIPLE:
        raise Refused("ambiguous_authorization")
    return value


def _header(event: dict[str, Any], lower: str, canonical: str | None = None) -> object:
    """A header's value (names compared case-insensitively), None, or MULTIPLE when
    multiValueHeaders holds two values for it."""
    headers = event.get("headers")
    if type(headers) is not dict:
        return None
    name = canonical or lower
    value = headers.get(name)
    if value is None:
        name = lower
        value = headers.get(name)
        if value is None:
            for key, candidate in headers.items():
                if type(key) is str and key.lower() == lower:
                    name, value = key, candidate
                    break
            else:
                return None
    multi = event.get("multiValueHeaders")
    if type(multi) is dict:
        values = multi.get(name)
        if type(values) is list and len(values) > 1:
            return MULTIPLE
    return value


def credentials(authorization: object) -> tuple[str, str]:
    """(scheme, token) of `Bearer <b64token>` (RFC 6750 §2.1) or `DPoP <token68>` (RFC 9449
    §7.1), by `shared.bearer`'s rule (the issuer's admin guard applies it too), or
    `Refused` with its code (`no_token`, `bad_authorization`, `too_large`)."""
    try:
        return _credentials(authorization)
    except BearerRefused as exc:
        raise Refused(exc.code) from None
