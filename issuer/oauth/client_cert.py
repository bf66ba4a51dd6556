"""The client certificate of a token request's mutual-TLS connection (RFC 8705).

The issuer never terminates TLS itself: API Gateway (a custom domain with mutual TLS)
or a proxy did, and passed the certificate along (`issuer/http/client_cert.py` says from
where). A `PresentedCertificate` holds what was passed, unparsed; the thumbprint and the
subject DN are worked out only when a client's rules need them, so a bearer request
with a certificate attached pays nothing for it.

Forms (`form`):
- `pem`: one PEM certificate (API Gateway's `clientCertPem`);
- `url-pem`: URL-encoded PEM, an Application Load Balancer's `X-Amzn-Mtls-Clientcert`
  ("URL-encoded PEM format of the entire client certificate chain presented in the
  handshake", leaf first, in passthrough mode) or `X-Amzn-Mtls-Clientcert-Leaf` (verify
  mode) (Elastic Load Balancing, "Mutual authentication with TLS in Application Load
  Balancer", HTTP headers): the first certificate is the client's;
- `xfcc`: Envoy's `X-Forwarded-Client-Cert`: comma-separated elements, one per proxy
  that appended one, each `Key=value;...` with `Cert="<URL-encoded PEM>"`. Exactly one
  element is accepted: the edge proxy must replace what the client sent (Envoy's
  `forward_client_cert_details: SANITIZE_SET`), else a client could append its own
  element and pick which certificate is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from shared.mtls import MAX_CERT_PEM, cert_thumbprint, load_certificate, subject_dn

_PEM_BLOCK = re.compile(
    r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*?-----END CERTIFICATE-----"
)
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
MAX_HEADER = 4 * MAX_CERT_PEM  # a forwarded chain of a few certificates, URL-encoded


def _url_decode(text: str) -> str:
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise ValueError("not URL-encoded: a stray %")
    # Not unquote_plus: "+" is a base64 character, which ALB and Envoy leave as is.
    return _PCT.sub(lambda m: chr(int(m.group(1), 16)), text)


def leaf_pem(text: str) -> str:
    """The first PEM certificate of `text` (a chain, leaf first, or one certificate)."""
    match = _PEM_BLOCK.search(text)
    if match is None:
        raise ValueError("no PEM certificate")
    return match.group(0)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise ValueError("unterminated quoted value")
    parts.append("".join(current))
    return parts


def xfcc_certificate(value: str) -> str:
    """The PEM of the one `Cert=` of an `X-Forwarded-Client-Cert` value (module
    docstring: exactly one element)."""
    elements = [e for e in _split_outside_quotes(value, ",") if e.strip()]
    if len(elements) != 1:
        raise ValueError(f"X-Forwarded-Client-Cert has {len(elements)} elements, not 1")
    certs = []
    for pair in _split_outside_quotes(elements[0], ";"):
        key, eq, raw = pair.strip().partition("=")
        if eq and key.strip().lower() == "cert":
            raw = raw.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1]
            certs.append(raw)
    if len(certs) != 1:
        raise ValueError("X-Forwarded-Client-Cert element has no single Cert")
    return leaf_pem(_url_decode(certs[0]))


@dataclass(frozen=True)
class PresentedCertificate:
    """A client certificate as the TLS terminator passed it (module docstring)."""

    raw: str
    form: str = "pem"  # pem | url-pem | xfcc

    @cached_property
    def pem(self) -> str:
        """One PEM certificate; `ValueError` when what was passed is not one."""
        if len(self.raw) > MAX_HEADER or not self.raw.isascii():
            raise ValueError("client certificate too long or not ASCII")
        if self.form == "xfcc":
            return xfcc_certificate(self.raw)
        if self.form == "url-pem":
            return leaf_pem(_url_decode(self.raw))
        return leaf_pem(self.raw)

    @cached_property
    def thumbprint(self) -> str:
        """`x5t#S256` (RFC 8705 §3.1) of the certificate; `ValueError` if there is none."""
        return cert_thumbprint(self.pem)

    @cached_property
    def subject_dn(self) -> str:
        """The subject DN, RFC 4514 (RFC 8705 §2.1.2); `ValueError` if unparseable."""
        return subject_dn(load_certificate(self.pem))
