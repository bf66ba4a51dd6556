"""Client authentication at the token endpoint (RFC 6749 §2.3).

Each method is a small object that says whether the request *presents* it and then
authenticates. Exactly one must be present: two at once is `invalid_request` (RFC 6749
§2.3: "MUST NOT use more than one authentication method in each request"), none is
`invalid_client`. `private_key_jwt` (RFC 7523) is the third (`private_key_jwt.py`),
mutual-TLS client authentication (RFC 8705 §2) the fourth (`tls_client_auth.py`: one
method object for `tls_client_auth` and `self_signed_tls_client_auth`, which present
alike: a `client_id` and a certificate, no other credential), a trusted external
issuer's assertion the fifth (`federated_assertion.py`).

Only the two secret methods are imported with this module. The others are
`DeferredMethod`s: whether a request presents one is decided here, from the request
alone (`presents_private_key_jwt`, `presents_mutual_tls`, `presents_federated_assertion`),
and the method's module is imported by the first request that presents it. So a cold
start that serves a client_secret token (the issuer's Lambda init, docs/benchmarks.md)
loads no assertion, JWK, certificate or federation code.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple, Protocol
from urllib.parse import unquote_plus

from sqlalchemy.orm import Session

from issuer.clients.cache import ClientRecord, load_client_record
from issuer.clients.registry import (
    FEDERATED,
    MTLS_AUTH_METHODS,
    PRIVATE_KEY_JWT,
    TLS_CLIENT_AUTH,
    SecretHasher,
    could_be_client_id,
)
from issuer.oauth.errors import InvalidClient, InvalidRequest
from issuer.store.tables import utcnow
from shared.errors import TokenError
from shared.jose_names import ALLOWED_ALGS

if TYPE_CHECKING:  # annotations only: both are loaded by the requests that use them
    from issuer.federation.directory import Federation
    from issuer.oauth.client_cert import PresentedCertificate
    from shared.jws import Compact

# RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion (private_key_jwt
# and a trusted external issuer's assertion alike).
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# Signing algorithms accepted for client assertions (RFC 8414 §2
# token_endpoint_auth_signing_alg_values_supported): asymmetric only.
ASSERTION_ALGS = sorted(ALLOWED_ALGS)


class TokenRequest:
    """What client authentication reads of one token request. A plain class: its cached
    properties need an instance dict, which a NamedTuple (the other records on the token
    path) has not, and a dataclass is compiled from source when it is declared, ~1 ms of
    the Lambda init each (docs/benchmarks.md)."""

    def __init__(self, form: Mapping[str, str], authorization: str | None,
                 client_cert: PresentedCertificate | None = None) -> None:
        self.form = form
        self.authorization = authorization
        # The certificate of the client's mutual-TLS connection, as API Gateway or a
        # trusted proxy passed it (issuer/http/client_cert.py); None: none, or none we
        # believe.
        self.client_cert = client_cert

    @cached_property
    def basic_credentials(self) -> tuple[str, str]:
        """(client_id, secret) from the Basic header, decoded once per request (the
        throttle's claimed id and authentication both read it). Raises `InvalidClient`
        each time it is asked when the header is malformed (nothing cached then)."""
        return _split_basic(self.authorization or "")

    @cached_property
    def assertion(self) -> Compact | TokenError | None:
        """`client_assertion` parsed once per request (RFC 7523 §2.2): the two methods
        that read it, the choice between them and the throttle's claimed id share it.
        None when absent; the `TokenError` when it does not parse."""
        raw = self.form.get("client_assertion")
        if raw is None:
            return None
        # Imported by the first assertion (module docstring: not at start).
        from shared.jws import parse_compact

        try:
            return parse_compact(raw)
        except TokenError as exc:
            return exc

    @property
    def parsed_assertion(self) -> Compact | None:
        """`assertion` when it parsed, else None."""
        assertion = self.assertion
        return None if isinstance(assertion, TokenError) else assertion


# How a method finds a client by id: `ClientCache.get` (the services), or
# `load_client_record` (no cache). Either way the method sees the immutable snapshot the
# grant and the token's `gen` are decided from, never a live ORM row.
ClientLookup = Callable[[Session, str], ClientRecord | None]


class Authenticated(NamedTuple):
    client: ClientRecord
    method: str  # e.g. client_secret_basic: logged with the issued token


class Authenticates(Protocol):
    """What a `DeferredMethod` loads: whether a request presents it is the
    `DeferredMethod`'s to decide, from the request alone."""

    def authenticate(self, request: TokenRequest, session: Session) -> ClientRecord: ...


class ClientAuthMethod(Authenticates, Protocol):
    name: str  # a method of RFC 8414's token_endpoint_auth_methods_supported

    def present(self, request: TokenRequest) -> bool: ...


class SecretVerifier:
    """Shared by the two secret methods: look up, compare in constant time, refuse alike."""

    def __init__(
        self,
        hasher: SecretHasher,
        clock: Callable[[], datetime] = utcnow,
        lookup: ClientLookup = load_client_record,
    ) -> None:
        self._hasher = hasher
        self._clock = clock  # decides whether a rotated-out secret is still in its grace
        self._lookup = lookup

    def verify(self, session: Session, client_id: str, secret: str) -> ClientRecord:
        # An id that cannot exist is not looked up, but still costs the dummy HMAC below
        # (equal timing for unknown and known clients).
        client = self._lookup(session, client_id) if could_be_client_id(client_id) else None
        if client is not None and client.auth_method != "client_secret":
            client = None  # e.g. a private_key_jwt client: a secret never authenticates it
        ok = self._hasher.verify(client, secret, self._clock())
        reason = None
        if client is None:
            reason = "unknown_client"
        elif not ok:
            reason = "wrong_secret"
        elif not client.enabled:
            reason = "disabled"
        if client is None or reason is not None:
            # Logged by the failure handler, unless the throttle is refusing this key
            # (issuer/http/oauth/client_request.py): a flood costs the log nothing.
            raise InvalidClient(debug=reason)
        return client


def _split_basic(header: str) -> tuple[str, str]:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient(debug="authorization_scheme_not_basic")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidClient(debug="basic_not_base64") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise InvalidClient(debug="basic_without_colon")
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before base64; decode them.
    return unquote_plus(client_id), unquote_plus(secret)


def federated_issuer(request: TokenRequest) -> str | None:
    """The assertion's `iss` when it names an external issuer, else None. A trusted
    issuer is a URI (it holds a `:`), a client id never is (unreserved characters), so
    this alone sends an assertion to the federated method or to private_key_jwt: no
    lookup, nothing an attacker could tip one way (issuer/oauth/federated_assertion.py)."""
    assertion = request.parsed_assertion
    if assertion is None:
        return None
    iss = assertion.claims.get("iss")
    if type(iss) is not str or could_be_client_id(iss):
        return None
    return iss


def claimed_client_id(request: TokenRequest) -> str | None:
    """The client id a request claims, before any authentication (for throttling)."""
    if request.authorization is not None:
        try:
            return request.basic_credentials[0]
        except InvalidClient:
            return None
    if "client_id" not in request.form and "client_assertion" in request.form:
        # private_key_jwt (RFC 7523 §3): the client is the assertion's (unverified) iss;
        # a federated assertion claims the external identity (iss, sub) that names one.
        assertion = request.parsed_assertion
        if assertion is None:
            return None
        iss, sub = assertion.claims.get("iss"), assertion.claims.get("sub")
        if federated_issuer(request) is not None and isinstance(sub, str):
            return f"{iss} {sub}"
        return iss if isinstance(iss, str) else None
    return request.form.get("client_id")


class ClientSecretBasic:
    name = "client_secret_basic"

    def __init__(self, verifier: SecretVerifier) -> None:
        self._verifier = verifier

    def present(self, request: TokenRequest) -> bool:
        return request.authorization is not None

    def authenticate(self, request: TokenRequest, session: Session) -> ClientRecord:
        client_id, secret = request.basic_credentials
        body_id = request.form.get("client_id")
        if body_id is not None and body_id != client_id:
            raise InvalidRequest("client_id in the body differs from the authenticated client")
        return self._verifier.verify(session, client_id, secret)


class ClientSecretPost:
    name = "client_secret_post"

    def __init__(self, verifier: SecretVerifier) -> None:
        self._verifier = verifier

    def present(self, request: TokenRequest) -> bool:
        return "client_secret" in request.form

    def authenticate(self, request: TokenRequest, session: Session) -> ClientRecord:
        client_id = request.form.get("client_id")
        if client_id is None:
            raise InvalidClient(debug="client_secret_without_client_id")
        return self._verifier.verify(session, client_id, request.form["client_secret"])


class ClientAuthenticator:
    def __init__(self, methods: Sequence[ClientAuthMethod]) -> None:
        self.methods = tuple(methods)

    @property
    def method_names(self) -> list[str]:
        """RFC 8414 `token_endpoint_auth_methods_supported`: a method object may stand
        for several (`names`: the two mutual-TLS methods present alike)."""
        return [n for m in self.methods for n in getattr(m, "names", (m.name,))]

    def authenticate(self, request: TokenRequest, session: Session) -> Authenticated:
        presented = [m for m in self.methods if m.present(request)]
        if len(presented) > 1:
            raise InvalidRequest("use exactly one client authentication method")
        if not presented:
            raise InvalidClient(debug="no_client_authentication")
        method = presented[0]
        client = method.authenticate(request, session)
        names = getattr(method, "names", ())
        return Authenticated(client, client.auth_method if names else method.name)


def secret_authenticator(
    hasher: SecretHasher,
    clock: Callable[[], datetime] = utcnow,
    lookup: ClientLookup = load_client_record,
) -> ClientAuthenticator:
    verifier = SecretVerifier(hasher, clock, lookup)
    return ClientAuthenticator([ClientSecretBasic(verifier), ClientSecretPost(verifier)])


# The credentials of the other methods: with any of them the request is not presenting
# mutual-TLS authentication (and a certificate alone then only binds tokens, RFC 8705 §3).
_NOT_MUTUAL_TLS = ("client_secret", "client_assertion", "client_assertion_type")


def presents_assertion(request: TokenRequest) -> bool:
    """Either field of a client assertion (RFC 7523 §2.2), parsed or not: private_key_jwt
    or a federated assertion, each of which records the assertion's jti."""
    form = request.form
    return "client_assertion" in form or "client_assertion_type" in form


def presents_private_key_jwt(request: TokenRequest) -> bool:
    """Every client assertion but one from an external issuer, malformed ones included
    (private_key_jwt refuses them)."""
    return presents_assertion(request) and federated_issuer(request) is None


def presents_federated_assertion(request: TokenRequest) -> bool:
    return federated_issuer(request) is not None


def presents_mutual_tls(request: TokenRequest) -> bool:
    """A `client_id` and no other credential (RFC 8705 §2). Presented with or without a
    certificate: without one it fails as `invalid_client`, as an id alone did."""
    form = request.form
    return (
        "client_id" in form
        and request.authorization is None
        and not any(name in form for name in _NOT_MUTUAL_TLS)
    )


class DeferredMethod:
    """A method whose module is imported by the first request that presents it
    (module docstring): `present` is decided here, `load` imports and builds the method
    once. `names` as the method's own (`ClientAuthenticator.method_names`), given here
    so the metadata document needs no import either; None for a method advertised
    under its `name`."""

    def __init__(
        self,
        name: str,
        present: Callable[[TokenRequest], bool],
        load: Callable[[], Authenticates],
        names: tuple[str, ...] | None = None,
    ) -> None:
        self.name = name
        self._present = present
        self._load = load
        self._method: Authenticates | None = None
        if names is not None:
            self.names = names

    def present(self, request: TokenRequest) -> bool:
        return self._present(request)

    def authenticate(self, request: TokenRequest, session: Session) -> ClientRecord:
        method = self._method
        if method is None:  # two first requests at once may both build it: harmless
            method = self._method = self._load()
        return method.authenticate(request, session)


def client_authenticator(
    hasher: SecretHasher,
    issuer_url: str,
    token_endpoint: str,
    clock: Callable[[], datetime] = utcnow,
    lookup: ClientLookup = load_client_record,
    federation: Callable[[], Federation] | None = None,
) -> ClientAuthenticator:
    """Every method of RFC 8414's `token_endpoint_auth_methods_supported` (the secret
    ones, private_key_jwt, the two of RFC 8705 §2) and, with `federation` (the services'
    `Federation`, made by its first use), trusted external issuers' assertions; clients
    found with `lookup` (the services pass their `ClientCache.get`). Only the secret
    methods are built now (module docstring)."""

    # Each import below runs at the first request presenting that method, not at start.
    def private_key_jwt() -> Authenticates:
        from issuer.oauth.private_key_jwt import PrivateKeyJwt

        return PrivateKeyJwt(issuer_url, token_endpoint, clock, lookup=lookup)

    def mutual_tls() -> Authenticates:
        from issuer.oauth.tls_client_auth import MutualTlsClientAuth

        return MutualTlsClientAuth(lookup)

    methods: list[ClientAuthMethod] = [
        *secret_authenticator(hasher, clock, lookup).methods,
        DeferredMethod(PRIVATE_KEY_JWT, presents_private_key_jwt, private_key_jwt),
        DeferredMethod(TLS_CLIENT_AUTH, presents_mutual_tls, mutual_tls, MTLS_AUTH_METHODS),
    ]
    if federation is not None:
        services_federation = federation

        def federated() -> Authenticates:
            from issuer.oauth.federated_assertion import FederatedAssertion

            return FederatedAssertion(services_federation(), lookup, clock)

        # Advertised under no name of its own: on the wire it is private_key_jwt's client
        # assertion (RFC 7523 §2.2), which the metadata lists.
        methods.append(
            DeferredMethod(FEDERATED, presents_federated_assertion, federated, names=())
        )
    return ClientAuthenticator(methods)
