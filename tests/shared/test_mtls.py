"""RFC 8705 §3.1 `x5t#S256` of a client certificate in each form it reaches us in."""

from __future__ import annotations

import base64
import datetime
import hashlib
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.b64 import b64url_encode
from shared.mtls import cert_thumbprint, certificate_der, load_certificate, subject_dn


def make_cert(cn: str = "client-1") -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc.")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))


@pytest.fixture(scope="module")
def cert():
    return make_cert()


@pytest.fixture(scope="module")
def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def expected(der: bytes) -> str:
    return b64url_encode(hashlib.sha256(der).digest())


def test_thumbprint_is_base64url_sha256_of_der(cert, der, pem):
    # the independent computation: cryptography's own fingerprint
    fingerprint = cert.fingerprint(hashes.SHA256())
    assert fingerprint == hashlib.sha256(der).digest()
    want = base64.urlsafe_b64encode(fingerprint).rstrip(b"=").decode()
    assert cert_thumbprint(pem) == want
    assert cert_thumbprint(der) == want
    assert cert_thumbprint(pem.encode()) == want
    assert "=" not in want and len(want) == 43


def test_api_gateway_shape_pem(der, pem):
    # API Gateway passes the PEM with \n line breaks; some proxies flatten them
    assert cert_thumbprint(pem.replace("\n", "\r\n")) == expected(der)
    flattened = pem.replace("\n", " ")
    assert cert_thumbprint(flattened) == expected(der)
    assert cert_thumbprint("\n" + pem + "\n\n") == expected(der)


def test_url_encoded_pem_as_alb_sends_it(der, pem):
    # ALB X-Amzn-Mtls-Clientcert: URL-encoded PEM with "+", "=", "/" left as they are
    alb = quote(pem, safe="+=/")
    assert "%0A" in alb and "-----BEGIN%20CERTIFICATE-----" in alb
    assert cert_thumbprint(alb) == expected(der)
    assert cert_thumbprint(quote(pem, safe="")) == expected(der)  # fully encoded too


@pytest.mark.parametrize("garbage", [
    "", "hello", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
    "-----BEGIN CERTIFICATE-----\n!!!notbase64\n-----END CERTIFICATE-----",
    "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----",
    "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----",
    "%ZZ", "-----BEGIN%20CERTIFICATE-----%", b"", b"\x30\x05\x01", b"\x04\x02ab",
    "é" * 10,
])
def test_garbage_refused(garbage):
    with pytest.raises(ValueError):
        cert_thumbprint(garbage)


def test_two_certificates_refused(pem):
    with pytest.raises(ValueError, match="one certificate"):
        cert_thumbprint(pem + pem)


def test_text_around_the_armour_refused(pem):
    with pytest.raises(ValueError):
        cert_thumbprint("Subject: CN=x\n" + pem)


def test_der_with_trailing_bytes_refused(der):
    with pytest.raises(ValueError):
        cert_thumbprint(der + b"\x00")
    with pytest.raises(ValueError):
        cert_thumbprint(der[:-1])


def test_oversized_input_refused():
    with pytest.raises(ValueError):
        cert_thumbprint("A" * 100_000)


def test_not_text_or_bytes_refused():
    with pytest.raises(ValueError):
        certificate_der(42)  # type: ignore[arg-type]


def test_load_certificate_and_subject_dn(pem):
    cert = load_certificate(pem)
    assert subject_dn(cert) == "O=Example\\, Inc.,CN=client-1"  # RFC 4514: reversed, escaped
