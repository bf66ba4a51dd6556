"""Sender-constrained tokens: DPoP proofs (RFC 9449) and the client certificate of
mutual TLS (RFC 8705), both off unless a TokenSource is given a key or a certificate.

DPoP: a `DpopKey` signs one proof per HTTP request (RFC 9449 §4.2): header `typ:
dpop+jwt`, the signing algorithm and the public `jwk`; claims `jti` (random, so the
server's replay check never meets it twice), `htm` (the method), `htu` (the URL without
query and fragment, §4.2), `iat`, and when the server asked for one its latest `nonce`
(§8, §9); a proof for a resource request also carries `ath`, the base64url SHA-256 of the
access token (§4.2, §7), so a proof seen on the wire is useless with another token.
Nonces are kept per server origin (scheme, host, port): the issuer's and each API's are
different values (§8.2, §9), and the latest one a server sent replaces the previous.

mTLS: `tls_context` builds the `ssl.SSLContext` that presents the client certificate on
the token request (RFC 8705 §2 client authentication, §3 certificate-bound tokens); the
API request must present the same certificate, which `requests_session` and
`httpx_client` set up.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws

from tollgate_client.credentials import algorithm_for, load_private_key
from tollgate_client.errors import ConfigurationError

DPOP_TYP = "dpop+jwt"  # RFC 9449 §4.2
DPOP_NONCE_HEADER = "DPoP-Nonce"  # RFC 9449 §8.1
USE_DPOP_NONCE = "use_dpop_nonce"  # RFC 9449 §8, §9
MAX_NONCE = 512  # a longer DPoP-Nonce is not kept (a misbehaving server)
# RFC 9449 §4.2 names asymmetric algorithms only; these are the ones a key here maps to
# and the ones tollgate's issuer accepts (never none or HS*).
DPOP_ALGS = ("ES256", "ES384", "ES512", "RS256", "EdDSA")

ClientCert = tuple[str | os.PathLike[str], str | os.PathLike[str]]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(access_token: str) -> str:
    """`ath` (RFC 9449 §4.2): base64url SHA-256 of the token's ASCII bytes."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def htu_of(url: str) -> str:
    """The `htu` claim: the request URL without query and fragment (RFC 9449 §4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


def origin_of(url: str) -> str:
    """The key of a server's nonce: scheme, host and port, lower case."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme.lower(), 0)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


class DpopKey:
    """A DPoP key pair and the nonces servers gave it. `private_key` is a
    `cryptography` private key (EC P-256/P-384/P-521, RSA, Ed25519), a PEM or a private
    JWK; None generates an ephemeral P-256 key (ES256, RFC 9449 §4.2's common choice)
    that lives as long as this object. `repr()` shows the thumbprint only."""

    def __init__(self, private_key: Any = None) -> None:
        if private_key is None:
            private_key = ec.generate_private_key(ec.SECP256R1())
        try:
            self._key = load_private_key(private_key)
        except ConfigurationError as exc:
            raise ConfigurationError(str(exc).replace("private_key", "dpop_key")) from None
        self.algorithm = algorithm_for(self._key)
        if self.algorithm not in DPOP_ALGS:
            raise ConfigurationError(f"dpop_key: {self.algorithm} is not a DPoP algorithm")
        public = self._key.as_dict(private=False)
        # Only the members that define the public key (RFC 7638 §3.2 plus kty): no kid,
        # no use, no private member ever reaches the header.
        members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"),
                   "OKP": ("crv", "kty", "x")}[str(public["kty"])]
        self.public_jwk: dict[str, Any] = {name: public[name] for name in members}
        self.thumbprint = str(self._key.thumbprint())  # RFC 7638: the token's cnf.jkt
        self._nonces: dict[str, str] = {}
        self._lock = threading.Lock()
        self.proofs = 0  # proofs signed (observable in tests)

    def nonce_for(self, url: str) -> str | None:
        with self._lock:
            return self._nonces.get(origin_of(url))

    def remember_nonce(self, url: str, headers: Mapping[str, str]) -> bool:
        """Keep the `DPoP-Nonce` a server sent (RFC 9449 §8.2: any answer may carry a
        new one); True when there was one to keep."""
        value = headers.get(DPOP_NONCE_HEADER) or headers.get(DPOP_NONCE_HEADER.lower())
        if not value or len(value) > MAX_NONCE or not value.isascii() or not value.isprintable():
            return False
        with self._lock:
            self._nonces[origin_of(url)] = value
        return True

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        """A new proof for one request (RFC 9449 §4.2), with the origin's latest nonce."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(24),
            "htm": method.upper(),
            "htu": htu_of(url),
            "iat": int(time.time()),
        }
        nonce = self.nonce_for(url)
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        header = {"typ": DPOP_TYP, "alg": self.algorithm, "jwk": self.public_jwk}
        payload = json.dumps(claims, separators=(",", ":")).encode()
        proof = jws.serialize_compact(header, payload, self._key, algorithms=[self.algorithm])
        with self._lock:
            self.proofs += 1
        return str(proof)

    def __repr__(self) -> str:
        return f"DpopKey(alg={self.algorithm!r}, jkt={self.thumbprint!r})"


def check_client_cert(client_cert: Any) -> tuple[str, str]:
    """`(certificate path, key path)`, both readable files (PEM)."""
    if not isinstance(client_cert, tuple | list) or len(client_cert) != 2:
        raise ConfigurationError("client_cert must be (certificate path, key path)")
    paths = (os.fspath(client_cert[0]), os.fspath(client_cert[1]))
    for path in paths:
        if not os.path.isfile(path):
            raise ConfigurationError(f"client_cert: {path} is not a file")
    return paths


def verify_setting(verify: Any) -> Any:
    """`verify` for httpx: a CA bundle path (file or directory) becomes an SSL context,
    as httpx 0.28 asks (a path string is deprecated there); anything else is kept."""
    if isinstance(verify, str | os.PathLike):
        path = os.fspath(verify)
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    return verify


def tls_context(verify: Any, client_cert: tuple[str, str]) -> ssl.SSLContext:
    """The SSL context that verifies the server as `verify` says (True: httpx's
    default trust store; a CA file path; False; or an SSLContext, which is then given
    the certificate) and presents `client_cert` (RFC 8705 mutual TLS)."""
    context = httpx.create_ssl_context(verify=verify_setting(verify))
    try:
        context.load_cert_chain(*client_cert)
    except (OSError, ssl.SSLError, ValueError):
        # The error may quote the file; say what failed without key material.
        raise ConfigurationError(
            "client_cert: the certificate and key could not be loaded as a PEM pair"
        ) from None
    return context


def _source_cert(source: Any) -> tuple[str, str]:
    cert = getattr(source, "client_cert", None)
    if cert is None:
        raise ConfigurationError("this TokenSource has no client_cert")
    return (str(cert[0]), str(cert[1]))


def requests_session(source: Any) -> Any:
    """A `requests.Session` for the APIs a certificate-bound or DPoP source calls: its
    `auth` is `RequestsAuth(source)` and, when the source has a `client_cert`, its
    `cert` is that certificate, so the API sees the certificate the token is bound to
    (RFC 8705 §3)."""
    import requests

    from tollgate_client.auth import RequestsAuth

    session = requests.Session()
    session.auth = RequestsAuth(source)
    if getattr(source, "client_cert", None) is not None:
        session.cert = _source_cert(source)
    return session


def httpx_client(source: Any, *, asynchronous: bool = False, **kwargs: Any) -> Any:
    """An `httpx.Client` (or `AsyncClient` with `asynchronous=True`) with `auth =
    HttpxAuth(source)` and, when the source has a `client_cert`, an SSL context that
    presents it (`verify=` in `kwargs` says how the server is checked)."""
    from tollgate_client.auth import HttpxAuth

    if getattr(source, "client_cert", None) is not None:
        kwargs["verify"] = tls_context(kwargs.get("verify", True), _source_cert(source))
    kwargs.setdefault("auth", HttpxAuth(source))
    return (httpx.AsyncClient if asynchronous else httpx.Client)(**kwargs)


__all__ = [
    "DPOP_NONCE_HEADER",
    "USE_DPOP_NONCE",
    "ClientCert",
    "DpopKey",
    "access_token_hash",
    "httpx_client",
    "htu_of",
    "requests_session",
    "tls_context",
]
