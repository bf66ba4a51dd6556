"""A local stand-in for API Gateway (REST API, Lambda authorizer, HTTP proxy integration).

It runs the real `authorizer.handler.handler` in front of any HTTP service and answers
the way API Gateway does, so a developer (and `make run`) sees the same 401/403/200 that
production gives:

- missing identity source (no Authorization header): 401 without calling the authorizer;
- the authorizer raises "Unauthorized": 401 `{"message":"Unauthorized"}`;
- an explicit Deny, or a method ARN outside every Allow: 403;
- anything else going wrong in the authorizer: 500 `{"message": null}` (API Gateway's
  AuthorizerConfigurationException), never a traceback;
- results cached per token for `--cache-ttl` seconds; the cached POLICY is evaluated
  again against each request's method ARN, which is why the handler must return a
  policy that does not depend on the route that happened to fill the cache.

Development tool only: it is deliberately not imported by `authorizer.handler` (the
Lambda package must stay import-light), and it listens on loopback by default.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# The same IAM matcher the policy compiler is proven against: linear, no regex.
from shared.iam import glob_match

ARN_PREFIX = "arn:aws:execute-api:local:000000000000:local/dev"
MAX_BODY = 10 * 1024 * 1024  # API Gateway's REST payload limit
UPSTREAM_TIMEOUT = 29.0  # API Gateway's default integration timeout
# RFC 9110 §7.6.1: connection-specific headers are not forwarded by a proxy.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
     "trailer", "trailers", "transfer-encoding", "upgrade", "proxy-connection"}
)
CONTEXT_HEADER_PREFIX = "x-authorizer-"

Authorize = Callable[[dict, Any], dict]


def method_arn(method: str, path: str) -> str:
    return f"{ARN_PREFIX}/{method.upper()}/{path.lstrip('/')}"


def _statements(policy: dict) -> list[dict]:
    statements = policy.get("policyDocument", {}).get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _applies(statement: dict, arn: str) -> bool:
    actions = _as_list(statement.get("Action"))
    if not any(glob_match(a.lower(), "execute-api:invoke") for a in actions):
        return False
    return any(glob_match(r, arn) for r in _as_list(statement.get("Resource")))


def policy_allows(policy: dict, arn: str) -> bool:
    """IAM evaluation: an explicit Deny wins, then an Allow is needed (default deny)."""
    applicable = [s for s in _statements(policy) if _applies(s, arn)]
    if any(str(s.get("Effect", "")).lower() == "deny" for s in applicable):
        return False
    return any(str(s.get("Effect", "")).lower() == "allow" for s in applicable)


def build_event(kind: str, method: str, target: str, headers: dict[str, str]) -> dict:
    """The event API Gateway sends a REST API TOKEN or REQUEST authorizer."""
    split = urlsplit(target)
    path = split.path or "/"
    arn = method_arn(method, path)
    if kind == "token":
        return {"type": "TOKEN", "authorizationToken": headers.get("authorization", ""),
                "methodArn": arn}
    query = parse_qsl(split.query, keep_blank_values=True)
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
            "requestId": str(uuid.uuid4()), "identity": {"sourceIp": "127.0.0.1"},
        },
    }


@dataclass
class AuthorizerCache:
    """Authorizer results by identity source, like API Gateway's (TTL 0: no caching)."""

    ttl: float
    clock: Callable[[], float] = time.monotonic
    max_entries: int = 10_000
    _entries: dict[str, tuple[float, dict]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> dict | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or self.clock() >= hit[0]:
                self._entries.pop(key, None)
                return None
            return hit[1]

    def put(self, key: str, result: dict) -> None:
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
    result: dict | None = None


UNAUTHORIZED = Decision(401, "Unauthorized")
FORBIDDEN = Decision(403, "User is not authorized to access this resource")
CONFIG_ERROR = Decision(500, None)


@dataclass
class Gateway:
    authorize: Authorize
    cache: AuthorizerCache
    event_kind: str = "request"
    # Lambda runs one invocation per container at a time; the handler may rely on that.
    _invoke_lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, method: str, target: str, headers: dict[str, str]) -> Decision:
        identity = headers.get("authorization", "")
        if not identity.strip():
            return UNAUTHORIZED
        arn = method_arn(method, urlsplit(target).path or "/")
        result = self.cache.get(identity)
        if result is None:
            event = build_event(self.event_kind, method, target, headers)
            try:
                with self._invoke_lock:
                    result = self.authorize(event, None)
            except Exception as exc:  # API Gateway maps exactly this message to 401
                return UNAUTHORIZED if str(exc) == "Unauthorized" else CONFIG_ERROR
            if not isinstance(result, dict) or "policyDocument" not in result:
                return CONFIG_ERROR
            self.cache.put(identity, result)
        if not policy_allows(result, arn):
            return FORBIDDEN
        return Decision(0, result=result)


def context_headers(result: dict) -> dict[str, str]:
    """The authorizer's principalId and context, as the integration would map them."""
    out = {"X-Authorizer-Principal-Id": str(result.get("principalId", ""))}
    for key, value in (result.get("context") or {}).items():
        name = "-".join(part.capitalize() for part in re.split(r"[_\-]", str(key)))
        out[f"X-Authorizer-{name}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def make_handler(gateway: Gateway, upstream: str) -> type[BaseHTTPRequestHandler]:
    up = urlsplit(upstream)
    if up.scheme not in ("http", "https") or not up.hostname:
        raise ValueError(f"--upstream must be an http(s) URL, got {upstream!r}")
    base_path = up.path.rstrip("/")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tollgate-gateway"

        def _any(self) -> None:
            try:
                self._serve()
            except Exception as exc:  # never a traceback to the client
                self.log_message("internal error: %s", type(exc).__name__)
                self._reply(500, {"message": "Internal server error"})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

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
            decision = gateway.decide(self.command, self.path, headers)
            if decision.status:
                return self._reply(decision.status, {"message": decision.message})
            self._proxy(headers, body, decision.result or {})

        def _proxy(self, headers: dict[str, str], body: bytes, result: dict) -> None:
            named = {h.strip() for h in headers.get("connection", "").lower().split(",")}
            forward = {
                k: v for k, v in headers.items()
                if k not in HOP_BY_HOP and k not in named and k != "host"
                # a client must not be able to forge what the authorizer decided
                and not k.startswith(CONTEXT_HEADER_PREFIX)
            }
            forward.update(context_headers(result))
            forward["X-Forwarded-For"] = self.client_address[0]
            conn_cls = (http.client.HTTPSConnection if up.scheme == "https"
                        else http.client.HTTPConnection)
            conn = conn_cls(up.hostname, up.port, timeout=UPSTREAM_TIMEOUT)
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

        def _reply(self, status: int, body: dict) -> None:
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


def serve(gateway: Gateway, upstream: str, host: str, port: int) -> ThreadingHTTPServer:
    """Bind (port 0 picks a free one) without serving yet; the caller runs serve_forever."""
    server = ThreadingHTTPServer((host, port), make_handler(gateway, upstream))
    server.daemon_threads = True
    return server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="authorizer gateway", description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="the HTTP service behind the gateway")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--cache-ttl", type=float, default=300.0,
                   help="authorizer result cache in seconds, like API Gateway (0: off)")
    p.add_argument("--event", choices=("request", "token"), default="request",
                   help="authorizer type to emulate (REST API REQUEST or TOKEN)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported here, not at module top: the handler reads its settings at import, and
    # this module must stay importable (tests, --help) without them.
    try:
        from authorizer.handler import handler
    except Exception as exc:  # a missing setting fails at cold start, clearly
        print(f"gateway: the authorizer failed to start: {exc}", file=sys.stderr)
        return 2
    gateway = Gateway(handler, AuthorizerCache(args.cache_ttl), args.event)
    try:
        server = serve(gateway, args.upstream, args.host, args.port)
    except ValueError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"gateway: cannot listen on {args.host}:{args.port}: {exc.strerror}",
              file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    print(f"gateway: listening on http://{host}:{port} -> {args.upstream}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
