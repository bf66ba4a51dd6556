"""Client authentication at the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2).

Each method adds its parameters to one token request, built afresh for every attempt:
a `private_key_jwt` assertion carries a new `jti` each time (the server accepts a jti
once, RFC 7523 §3 item 7), and an assertion file is read again each time (Kubernetes
rotates projected service-account tokens by swapping a symlink, so yesterday's file
content is not today's). Nothing here logs or formats a secret: `repr()` names the
method and the client id only.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from typing import Any, Protocol
from urllib.parse import quote_plus

from authlib.oauth2.rfc7523 import PrivateKeyJWT  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from joserfc import jwk

from tollgate_client.errors import ConfigurationError, TokenError

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# A private_key_jwt assertion is a one-off proof for one request: a minute covers clock
# skew and a slow network; the issuer refuses more than five minutes (RFC 7523 §3 item 4
# lets it bound the lifetime).
ASSERTION_LIFETIME = 60
# An assertion file larger than this is not a JWT (a misconfigured path, a binary file).
MAX_ASSERTION_BYTES = 64 * 1024

# JWS algorithm per key (RFC 7518 §3.1, RFC 8037 §3.1): the key decides, never a header.
_EC_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


class ClientAuthentication(Protocol):
    """One way of authenticating the client at the token endpoint."""

    method: str  # RFC 8414 token_endpoint_auth_method name (or "federated")

    def apply(self, form: dict[str, str], headers: dict[str, str], token_endpoint: str) -> None:
        """Add this method's parameters to one token request."""


class ClientSecretBasic:
    """`client_secret_basic`: HTTP Basic with the id and secret form-urlencoded first
    (RFC 6749 §2.3.1), so a `:` or non-ASCII character in either survives."""

    method = "client_secret_basic"

    def __init__(self, client_id: str, client_secret: str) -> None:
        if not client_id or not client_secret:
            raise ConfigurationError("client_secret_basic needs a client_id and a client_secret")
        pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
        self.client_id = client_id
        self._header = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

    def apply(self, form: dict[str, str], headers: dict[str, str], token_endpoint: str) -> None:
        headers["Authorization"] = self._header

    def __repr__(self) -> str:
        return f"ClientSecretBasic(client_id={self.client_id!r})"


def load_private_key(private_key: Any) -> jwk.Key:
    """A private signing key from a PEM (str or bytes), a private JWK (dict), a
    `cryptography` private key or a joserfc key. The key type is read from the key itself
    (never guessed from text), and a public key is refused: it cannot sign."""
    try:
        if isinstance(private_key, jwk.RSAKey | jwk.ECKey | jwk.OKPKey):
            key: jwk.Key = private_key
        elif isinstance(private_key, dict):
            kty = private_key.get("kty")
            classes: dict[str, type[jwk.RSAKey] | type[jwk.ECKey] | type[jwk.OKPKey]] = {
                "RSA": jwk.RSAKey, "EC": jwk.ECKey, "OKP": jwk.OKPKey
            }
            if kty not in classes:
                raise ConfigurationError("private_key JWK: kty must be RSA, EC or OKP")
            key = classes[kty].import_key(private_key)
        else:
            if isinstance(private_key, str | bytes):
                data = private_key.encode() if isinstance(private_key, str) else private_key
                private_key = serialization.load_pem_private_key(data, password=None)
            if isinstance(private_key, rsa.RSAPrivateKey):
                key = jwk.RSAKey.import_key(private_key)
            elif isinstance(private_key, ec.EllipticCurvePrivateKey):
                key = jwk.ECKey.import_key(private_key)
            elif isinstance(private_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
                key = jwk.OKPKey.import_key(private_key)
            else:
                raise ConfigurationError(
                    "private_key: a PEM, a private JWK or an RSA/EC/Ed25519 private key"
                )
    except ConfigurationError:
        raise
    except Exception:
        # The parser's message may quote key material; say only what failed.
        raise ConfigurationError("private_key could not be loaded as a private key") from None
    if not key.is_private:
        raise ConfigurationError("private_key is a public key; a client signs with a private key")
    return key


def algorithm_for(key: jwk.Key) -> str:
    if isinstance(key, jwk.RSAKey):
        return "RS256"
    crv = key.as_dict(private=False).get("crv")
    if isinstance(key, jwk.ECKey) and crv in _EC_ALGS:
        return _EC_ALGS[crv]
    if isinstance(key, jwk.OKPKey) and crv in ("Ed25519", "Ed448"):
        return "EdDSA"
    raise ConfigurationError(f"private_key: no JWS algorithm for curve {crv!r}")


class PrivateKeyJwt:
    """`private_key_jwt` (RFC 7523 §2.2): a JWT signed with the client's private key,
    `iss` = `sub` = client id, `aud` = the token endpoint (RFC 7523 §3 item 3), a fresh
    random `jti` and a one-minute `exp`, minted by Authlib's RFC 7523 client for every
    request. `kid` is the registered key's id: `key_id`, else the JWK's own `kid`, else
    the RFC 7638 thumbprint (what the issuer assigns when a JWK comes without one)."""

    method = "private_key_jwt"

    def __init__(
        self,
        client_id: str,
        private_key: Any,
        key_id: str | None = None,
        algorithm: str | None = None,
    ) -> None:
        if not client_id:
            raise ConfigurationError("private_key_jwt needs a client_id")
        self.client_id = client_id
        self._key = load_private_key(private_key)
        self.algorithm = algorithm or algorithm_for(self._key)
        own_kid = private_key.get("kid") if isinstance(private_key, dict) else None
        self.key_id = key_id or own_kid or self._key.thumbprint()

    def assertion(self, token_endpoint: str) -> str:
        # Authlib's signer reads the key from its ClientAuth's `client_secret` slot. Its
        # claims are applied last: `exp` replaces Authlib's one-hour default (RFC 7523 §3
        # item 4: an assertion that expires soon, so the server may forget its jti).
        signer = PrivateKeyJWT(
            token_endpoint,
            claims={
                "jti": secrets.token_urlsafe(32),
                "exp": int(time.time()) + ASSERTION_LIFETIME,
            },
            headers={"kid": self.key_id, "typ": "JWT"},
            alg=self.algorithm,
        )
        return str(signer.sign(_KeyHolder(self.client_id, self._key), token_endpoint))

    def apply(self, form: dict[str, str], headers: dict[str, str], token_endpoint: str) -> None:
        form["client_assertion_type"] = JWT_BEARER
        form["client_assertion"] = self.assertion(token_endpoint)

    def __repr__(self) -> str:
        return f"PrivateKeyJwt(client_id={self.client_id!r}, kid={self.key_id!r})"


class _KeyHolder:
    """The (client_id, client_secret) pair Authlib's signers read; the key is never
    a string here, so nothing formats it."""

    __slots__ = ("client_id", "client_secret")

    def __init__(self, client_id: str, key: jwk.Key) -> None:
        self.client_id = client_id
        self.client_secret = key

    def __repr__(self) -> str:
        return f"_KeyHolder(client_id={self.client_id!r})"


class TlsClientAuth:
    """`tls_client_auth` / `self_signed_tls_client_auth` (RFC 8705 §2): the client
    certificate presented in the TLS handshake is the credential, so the form carries
    `client_id` only (RFC 8705 §2: the client includes it) and no secret or assertion.
    Which of the two methods applies is the issuer's registration (a subject DN checked
    against a CA chain, or the registered certificate itself): the request is the same."""

    method = "tls_client_auth"

    def __init__(self, client_id: str) -> None:
        if not client_id:
            raise ConfigurationError("tls_client_auth needs a client_id")
        self.client_id = client_id

    def apply(self, form: dict[str, str], headers: dict[str, str], token_endpoint: str) -> None:
        form["client_id"] = self.client_id

    def __repr__(self) -> str:
        return f"TlsClientAuth(client_id={self.client_id!r})"


class FederatedAssertionFile:
    """A federated client: the platform's signed identity token (a Kubernetes projected
    service-account token, a SPIFFE JWT-SVID, a token an earlier CI step wrote) is read
    from a file and sent as the client assertion (RFC 7521 §4.2, RFC 7523 §2.2). The
    file is read at every token request, through its path: a symlink swapped by the
    kubelet, an inode replaced by a rename, or content rewritten in place are all seen
    at the next request. A token request happens once per refresh, so this is one small
    read a few times an hour. `client_id` is sent when given (RFC 7521 §4.2 allows it;
    the issuer maps the assertion's `iss`/`sub` to the client either way)."""

    method = "federated"

    def __init__(self, path: str | os.PathLike[str], client_id: str | None = None) -> None:
        self.path = os.fspath(path)
        self.client_id = client_id or None
        self.reads = 0  # how many times the file was read (observable in tests)
        self._last: tuple[int, int, int, int] | None = None
        self.changes = 0  # how many reads found a new file or new content

    def read(self) -> str:
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                data = handle.read(MAX_ASSERTION_BYTES + 1)
        except OSError as exc:
            raise TokenError(
                f"assertion file {self.path}: {exc.strerror or type(exc).__name__}"
            ) from None
        self.reads += 1
        if len(data) > MAX_ASSERTION_BYTES:
            raise TokenError(f"assertion file {self.path}: larger than {MAX_ASSERTION_BYTES} bytes")
        try:
            text = data.decode("ascii").strip()
        except UnicodeDecodeError:
            raise TokenError(f"assertion file {self.path}: not a JWT (not ASCII)") from None
        if text.count(".") != 2 or any(c.isspace() for c in text):
            raise TokenError(f"assertion file {self.path}: not a compact JWT")
        seen = (stat.st_dev, stat.st_ino, stat.st_mtime_ns, hash(text))
        if seen != self._last:
            self.changes += self._last is not None
            self._last = seen
        return text

    def apply(self, form: dict[str, str], headers: dict[str, str], token_endpoint: str) -> None:
        if self.client_id:
            form["client_id"] = self.client_id
        form["client_assertion_type"] = JWT_BEARER
        form["client_assertion"] = self.read()

    def __repr__(self) -> str:
        return f"FederatedAssertionFile(path={self.path!r}, client_id={self.client_id!r})"
