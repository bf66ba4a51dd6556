"""X.509 client certificates for the mutual-TLS tests (RFC 8705): a CA, leaf
certificates it signs, self-signed ones, and the forms a TLS terminator passes them in."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.b64 import b64url_encode
from shared.jwk import public_jwk


@dataclass(frozen=True)
class Cert:
    key: Any
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def thumbprint(self) -> str:
        """x5t#S256 (RFC 8705 §3.1), computed here independently of shared.mtls."""
        return b64url_encode(hashlib.sha256(self.der).digest())

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    def jwk(self, kid: str | None = None) -> dict[str, Any]:
        """The public JWK with `x5c` (RFC 7517 §4.7: standard base64 DER, own cert first)."""
        jwk = public_jwk(self.key, "ES256")
        jwk.pop("alg", None)
        if kid is not None:
            jwk["kid"] = kid
        jwk["x5c"] = [base64.b64encode(self.der).decode()]
        return jwk

    def alb(self, *chain: Cert) -> str:
        """ALB's X-Amzn-Mtls-Clientcert: URL-encoded PEM, "+=/" safe, leaf first."""
        return quote("".join(c.pem for c in (self, *chain)), safe="+=/")

    def write(self, directory: Path, name: str) -> tuple[str, str]:
        """(certificate path, key path), PEM, for curl --cert/--key or a TLS server."""
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        cert_path.write_text(self.pem)
        key_path.write_bytes(self.key_pem)
        return str(cert_path), str(key_path)

    def xfcc(self) -> str:
        """One Envoy X-Forwarded-Client-Cert element with Cert="<URL-encoded PEM>"."""
        return (
            'By=spiffe://example.test/issuer;Hash=' + self.thumbprint
            + ';Cert="' + quote(self.pem, safe="") + '";Subject="' + self.subject + '"'
        )


def _name(cn: str, org: str = "Example Corp") -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def make_cert(
    cn: str, issuer: Cert | None = None, ca: bool = False, server: bool = False
) -> Cert:
    """A P-256 certificate for `cn`: self-signed, or signed by `issuer`; `server`: for
    127.0.0.1 and localhost (subjectAltName, serverAuth)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = _name(cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    elif server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif issuer is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    signer = issuer.key if issuer else key
    return Cert(key, builder.sign(signer, hashes.SHA256()))
