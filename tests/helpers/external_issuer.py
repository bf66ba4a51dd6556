"""An external token issuer of the test's own keys (workload identity federation tests):
tokens shaped like a platform's (its iss, sub, aud, alg), minted with keys the test
made, and a local JWKS server for the jwks_uri case that counts its fetches."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers.mint import DROP, changed, sign_raw
from shared.jwa import generate_private_key
from shared.jwk import public_jwk

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class ExternalIssuer:
    iss: str
    alg: str = "RS256"
    keys: list[tuple[Any, dict]] = field(default_factory=list)  # (private key, public JWK)

    def __post_init__(self) -> None:
        if not self.keys:
            self.rotate()

    def rotate(self, keep_old: bool = False) -> str:
        """A new signing key (published first); the old one dropped unless `keep_old`."""
        private = generate_private_key(self.alg)
        jwk = public_jwk(private, self.alg)
        self.keys = [*(self.keys if keep_old else []), (private, jwk)]
        return jwk["kid"]

    @property
    def signing_key(self) -> tuple[Any, dict]:
        return self.keys[-1]

    def jwks(self) -> dict:
        return {"keys": [jwk for _, jwk in self.keys]}

    def token(self, sub: str, aud: str | list[str], now: float, /, lifetime: int = 300,
              header: dict | None = None, **claims: Any) -> str:
        """A token as the platform makes it: iss, sub, aud, iat, nbf, exp, jti; any claim
        changed or dropped (`DROP`) by keyword, the header likewise."""
        private, jwk = self.signing_key
        body: dict[str, Any] = {
            "iss": self.iss, "sub": sub, "aud": aud, "iat": int(now), "nbf": int(now),
            "exp": int(now) + lifetime, "jti": uuid.uuid4().hex,
        }
        changed(body, claims)
        head: dict[str, Any] = {"alg": self.alg, "typ": "JWT", "kid": jwk["kid"]}
        changed(head, header or {})
        return sign_raw(private, self.alg, head, body)


def assertion_form(assertion: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        **extra,
    }


class JwksServer:
    """Serves `issuer.jwks()` at http://127.0.0.1:PORT/jwks (the current keys, read at
    each request), counting GETs; `status` and `body` override the answer."""

    def __init__(self, issuer: ExternalIssuer) -> None:
        self.issuer = issuer
        self.fetches = 0
        self.status = 200
        self.body: bytes | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = server.body if server.body is not None else json.dumps(
                    server.issuer.jwks()).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/jwks"

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


__all__ = ["DROP", "ExternalIssuer", "JwksServer", "assertion_form"]
