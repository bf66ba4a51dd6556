"""Where a request's client certificate comes from (RFC 8705 at the token endpoint).

- Under Lambda (Mangum puts the API Gateway event in the scope as `aws.event`): from
  the event API Gateway built after its own mutual-TLS handshake on a custom domain:
  `requestContext.identity.clientCert.clientCertPem` (REST APIs, payload 1.0) or
  `requestContext.authentication.clientCert.clientCertPem` (HTTP APIs, payload 2.0)
  ("API Gateway forwards the certificates that clients provide to Lambda authorizers
  and to backend integrations": API Gateway developer guide, "How to turn on mutual
  TLS authentication for your REST APIs" and "... for your HTTP APIs"). No header is
  read there: API Gateway passes the client's headers through, so any header is the
  client's to write. The default `execute-api` endpoint does no mutual TLS; disable it
  (same pages), or a client reaches the issuer without a certificate (it is then
  refused where a certificate is required, never trusted without one).
- Under `issuer serve`: from `ISSUER_CLIENT_CERT_HEADER`, in `ISSUER_CLIENT_CERT_FORMAT`,
  only when the connection's peer is one of `ISSUER_TRUSTED_PROXIES` (the proxy that
  terminated mutual TLS; it must replace, never pass on, a header of that name that the
  client sent). From any other peer the header is ignored: a certificate anyone can
  write in a header proves nothing. Two header lines of that name are refused as
  ambiguous (None, logged).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Any

from starlette.types import Scope

from issuer.logs import log_event
from issuer.settings import Settings

if TYPE_CHECKING:  # see _presented
    from issuer.oauth.client_cert import PresentedCertificate

log = logging.getLogger("issuer.oauth")


def _presented(raw: str, form: str) -> PresentedCertificate:
    # Imported by the first certificate: a request without mutual TLS (a cold start for
    # a bearer token, docs/benchmarks.md) loads no certificate code.
    from issuer.oauth.client_cert import PresentedCertificate

    return PresentedCertificate(raw, form)


def _event_certificate(event: Any) -> PresentedCertificate | None:
    context = event.get("requestContext") if isinstance(event, dict) else None
    if not isinstance(context, dict):
        return None
    for holder in ("identity", "authentication"):  # REST (1.0), HTTP API (2.0)
        section = context.get(holder)
        cert = section.get("clientCert") if isinstance(section, dict) else None
        pem = cert.get("clientCertPem") if isinstance(cert, dict) else None
        if isinstance(pem, str) and pem:
            return _presented(pem, "pem")
    return None


def _peer_trusted(scope: Scope, settings: Settings) -> bool:
    client = scope.get("client")
    if not client or not client[0]:
        return False
    try:
        peer = ipaddress.ip_address(str(client[0]))
    except ValueError:
        return False  # a test client's name, a Unix socket: never a named proxy
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return any(peer in network for network in settings.trusted_proxies)


def client_certificate(scope: Scope, settings: Settings) -> PresentedCertificate | None:
    """The certificate the client presented on its TLS connection, as passed by API
    Gateway or a trusted proxy (module docstring); None when there is none we believe."""
    event = scope.get("aws.event")
    if event is not None:
        return _event_certificate(event)
    name = settings.client_cert_header
    if name is None:
        return None
    wanted = name.encode("latin-1")
    values = [value for key, value in scope.get("headers") or () if key == wanted]
    if not values:
        return None
    if not _peer_trusted(scope, settings):
        log_event(log, "client_certificate_header_ignored", reason="untrusted_peer")
        return None
    if len(values) > 1:
        log_event(log, "client_certificate_header_ignored", logging.WARNING,
                  reason="several_headers")
        return None
    return _presented(values[0].decode("latin-1"), settings.client_cert_format)
