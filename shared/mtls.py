"""Client certificates for mutual-TLS bound tokens and client authentication (RFC 8705).

`cert_thumbprint` is the `x5t#S256` confirmation method (RFC 8705 §3.1): base64url of
the SHA-256 of the certificate's DER encoding. It accepts the forms a certificate reaches
us in:

- PEM text of one certificate (RFC 7468 §5), as API Gateway passes it to a Lambda
  authorizer or integration (`requestContext.identity.clientCert.clientCertPem` on REST
  APIs, `requestContext.authentication.clientCert.clientCertPem` on HTTP APIs);
- URL-encoded PEM, as an Application Load Balancer sets `X-Amzn-Mtls-Clientcert` and
  Envoy the `Cert=` element of `X-Forwarded-Client-Cert`;
- DER bytes.

Anything else (two certificates, text around the armour, bad base64, bytes that are not
a DER SEQUENCE holding a SEQUENCE) is a `ValueError`. The thumbprint needs no X.509
parsing: the certificate was already verified by the TLS terminator (API Gateway's
truststore, the proxy), and a hash of bytes binds exactly those bytes. The checks here
refuse what is plainly not a certificate, cheaply; `cryptography.x509` (about 30 ms to
import) is loaded only by `load_certificate` and `subject_dn`, which the authorizer's
cold start never calls.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import TYPE_CHECKING

from shared.b64 import b64url_encode

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

MAX_CERT_PEM = 16384  # a leaf certificate is 1-3 KiB; anything larger is not one
_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_WHITESPACE = re.compile(r"\s+")


def _url_decode(text: str) -> str:
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise ValueError("not a URL-encoded certificate: a stray %")
    # Not unquote_plus: a "+" is a base64 character here, kept as-is by ALB and Envoy.
    return _PCT.sub(lambda m: chr(int(m.group(1), 16)), text)


def _der_from_pem(text: str) -> bytes:
    text = text.strip()
    if not (text.startswith(_BEGIN) and text.endswith(_END)):
        raise ValueError("not one PEM certificate (RFC 7468 §5)")
    body = text[len(_BEGIN) : -len(_END)]
    if "-----" in body:
        raise ValueError("more than one PEM block: one certificate expected")
    try:
        return base64.b64decode(_WHITESPACE.sub("", body), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("PEM body is not base64") from None


def _der_length(der: bytes, at: int) -> tuple[int, int]:
    """(length, offset of the content) of the DER element whose tag is at `at`."""
    if at + 2 > len(der):
        raise ValueError("truncated DER")
    first = der[at + 1]
    if first < 0x80:
        return first, at + 2
    count = first & 0x7F
    if count == 0 or count > 4 or at + 2 + count > len(der):
        raise ValueError("DER length not definite or too long")
    length = int.from_bytes(der[at + 2 : at + 2 + count], "big")
    return length, at + 2 + count


def certificate_der(pem_or_der: str | bytes) -> bytes:
    """The DER bytes of one certificate given as PEM, URL-encoded PEM or DER
    (module docstring), else `ValueError`."""
    if isinstance(pem_or_der, bytes):
        if pem_or_der.lstrip().startswith(b"-----BEGIN"):
            try:
                pem_or_der = pem_or_der.decode("ascii")
            except UnicodeDecodeError:
                raise ValueError("PEM is not ASCII") from None
    if isinstance(pem_or_der, str):
        if len(pem_or_der) > 3 * MAX_CERT_PEM or not pem_or_der.isascii():
            raise ValueError("not a certificate: too long or not ASCII")
        text = _url_decode(pem_or_der) if "%" in pem_or_der else pem_or_der
        der = _der_from_pem(text)
    elif isinstance(pem_or_der, bytes):
        der = pem_or_der
    else:
        raise ValueError("certificate is neither text nor bytes")
    # X.509 (RFC 5280 §4.1): Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, ... },
    # DER, the outer length covering exactly the bytes given.
    if len(der) > MAX_CERT_PEM or len(der) < 4 or der[0] != 0x30:
        raise ValueError("not a DER certificate")
    length, content = _der_length(der, 0)
    if content + length != len(der) or der[content] != 0x30:
        raise ValueError("not a DER certificate")
    _der_length(der, content)
    return der


def cert_thumbprint(pem_or_der: str | bytes) -> str:
    """`x5t#S256` (RFC 8705 §3.1): base64url(SHA-256(DER)), no padding."""
    return b64url_encode(hashlib.sha256(certificate_der(pem_or_der)).digest())


def load_certificate(pem_or_der: str | bytes) -> Certificate:
    """The parsed certificate (for `tls_client_auth`'s subject DN, RFC 8705 §2.1),
    `ValueError` when `cryptography` cannot parse it."""
    from cryptography import x509  # here, not at import: ~30 ms the authorizer never needs

    return x509.load_der_x509_certificate(certificate_der(pem_or_der))


def subject_dn(cert: Certificate) -> str:
    """The subject as an RFC 4514 string (RFC 8705 §2.1.2: `tls_client_auth_subject_dn`)."""
    return cert.subject.rfc4514_string()
