"""RFC 8414 discovery (the metadata's issuer must be ours, its endpoint https or
loopback) and the TokenSource's argument checks: each a one-line error."""

from __future__ import annotations

import pytest
from tollgate_client import ConfigurationError, DiscoveryError, TokenSource
from tollgate_client.source import check_url, metadata_url

pytestmark = pytest.mark.slow


def test_metadata_url_inserts_the_well_known_segment():
    # RFC 8414 §3.1: between the host and the issuer's path.
    assert metadata_url("https://id.example.com") == (
        "https://id.example.com/.well-known/oauth-authorization-server"
    )
    assert metadata_url("https://id.example.com/") == (
        "https://id.example.com/.well-known/oauth-authorization-server"
    )
    assert metadata_url("https://example.com/tenant/a") == (
        "https://example.com/.well-known/oauth-authorization-server/tenant/a"
    )


def test_metadata_for_another_issuer_is_refused(stub, sleeps):
    """RFC 8414 §3.3: metadata naming another issuer could point our credentials at an
    attacker's token endpoint; nothing is sent to it."""
    stub.metadata_issuer = "https://evil.example"
    source = TokenSource(stub.url, "c_1", "s3cret", sleep=sleeps.append)
    with pytest.raises(DiscoveryError) as refused:
        source.token()
    assert str(refused.value) == (
        f"metadata request: metadata issuer 'https://evil.example' is not '{stub.url}'"
    )
    assert stub.requests == []


def test_discovery_finds_the_token_endpoint(stub):
    source = TokenSource(stub.url + "/", "c_1", "s3cret")  # a trailing slash is the same issuer
    assert source.token() == "tok-1"
    assert stub.requests[0]["headers"]["authorization"].startswith("Basic ")


def test_missing_metadata_is_a_discovery_error(sleeps):
    source = TokenSource("http://127.0.0.1:9/none", "c_1", "s3cret", sleep=sleeps.append,
                         max_attempts=1)
    with pytest.raises(DiscoveryError, match="metadata request: ConnectError"):
        source.token()


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://issuer.example.com", "plain http on a non-loopback host"),
        ("ftp://issuer.example.com", "absolute https URL"),
        ("issuer.example.com", "absolute https URL"),
        ("https://user:pw@issuer.example.com", "credentials in the URL"),
        ("https://issuer.example.com/?x=1", "query or fragment"),
    ],
)
def test_issuer_url_rules(url, message):
    with pytest.raises(ConfigurationError, match=message):
        TokenSource(url, "c_1", "s3cret")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:8"])
def test_plain_http_is_allowed_on_loopback(url):
    assert check_url(url, "issuer", insecure_http=False) == url


def test_insecure_http_opt_in():
    assert TokenSource("http://issuer.internal:8000", "c_1", "s3cret", insecure_http=True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "give exactly one of client_secret, private_key, assertion_file"),
        ({"client_secret": "s", "assertion_file": "/t"},
         r"\(got client_secret, assertion_file\)"),
        ({"private_key": "not a pem"}, "private_key could not be loaded as a private key"),
        ({"private_key": {"kty": "oct", "k": "AAAA"}}, "kty must be RSA, EC or OKP"),
        ({"client_secret": "s", "max_attempts": 0}, "max_attempts must be at least 1"),
    ],
)
def test_bad_arguments_are_one_line(kwargs, message):
    with pytest.raises(ConfigurationError, match=message) as refused:
        TokenSource("https://issuer.example.com", "c_1", **kwargs)
    assert "\n" not in str(refused.value)


def test_a_public_key_cannot_sign():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from joserfc import jwk

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    public_jwk = jwk.ECKey.import_key(public).as_dict()
    with pytest.raises(ConfigurationError, match="public key"):
        TokenSource("https://issuer.example.com", "c_1", private_key=public_jwk)
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ConfigurationError, match="could not be loaded as a private key"):
        TokenSource("https://issuer.example.com", "c_1", private_key=pem)
