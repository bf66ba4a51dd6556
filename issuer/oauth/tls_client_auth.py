"""Mutual-TLS client authentication (RFC 8705 §2) at the token endpoint.

A client authenticates with the certificate of its TLS connection: the TLS terminator
(API Gateway's custom domain, or a trusted proxy) made the client prove possession of
the private key in the handshake, and passed the certificate on
(`issuer/oauth/client_cert.py`). The request carries `client_id` (§2: "MUST include")
and no other credential. Which certificate authenticates the client is its
registration's:

- `self_signed_tls_client_auth` (§2.2): the certificate is one the client registered,
  each as a JWK with `x5c` in `jwks`; compared by SHA-256 thumbprint of the DER
  certificate (`x5t#S256`), so chains, issuers and validity dates play no part (the
  client registered exactly this certificate).
- `tls_client_auth` (§2.1): the certificate's subject DN equals the registered
  `tls_client_auth_subject_dn` (§2.1.2), exactly as RFC 4514 strings. The chain must
  have been validated by whoever terminated TLS (API Gateway's truststore; an ALB in
  verify mode, not passthrough; the proxy's CA): this issuer sees one certificate and
  no chain, so a subject DN under a CA nobody checked would be anyone's to claim.

Every failure is `invalid_client` with the wrong-secret body (the reason in the log
only: `no_client_certificate`, `client_certificate_unreadable`,
`certificate_not_registered`, `subject_dn_mismatch`, `unknown_client`, `disabled`).
A certificate never authenticates a client registered for another method.

Imported by the first request that presents it (`client_auth.DeferredMethod`), not with
the token endpoint.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from issuer.clients.cache import ClientRecord, load_client_record
from issuer.clients.client_keys import certificate_thumbprints
from issuer.clients.registry import (
    MTLS_AUTH_METHODS,
    SELF_SIGNED_TLS_CLIENT_AUTH,
    could_be_client_id,
)
from issuer.oauth.client_auth import ClientLookup, TokenRequest
from issuer.oauth.errors import InvalidClient


class MutualTlsClientAuth:
    def __init__(self, lookup: ClientLookup = load_client_record) -> None:
        self._lookup = lookup

    def authenticate(self, request: TokenRequest, session: Session) -> ClientRecord:
        client_id = request.form["client_id"]
        client = self._lookup(session, client_id) if could_be_client_id(client_id) else None
        if client is None or client.auth_method not in MTLS_AUTH_METHODS:
            raise InvalidClient(debug="unknown_client")
        certificate = request.client_cert
        if certificate is None:
            raise InvalidClient(debug="no_client_certificate")
        try:
            if client.auth_method == SELF_SIGNED_TLS_CLIENT_AUTH:
                matches = certificate.thumbprint in certificate_thumbprints(client.jwks)
                reason = "certificate_not_registered"
            else:
                matches = (
                    client.tls_client_auth_subject_dn is not None
                    and certificate.subject_dn == client.tls_client_auth_subject_dn
                )
                reason = "subject_dn_mismatch"
        except ValueError:
            raise InvalidClient(debug="client_certificate_unreadable") from None
        if not matches:
            raise InvalidClient(debug=reason)
        if not client.enabled:
            raise InvalidClient(debug="disabled")
        return client
