"""The client library's sender-constrained tokens through the local stand-in for API
Gateway: `issuer serve` behind `authorizer gateway`, which terminates TLS with client
certificate verification (`--tls-cert/--tls-key/--client-ca`), passes the verified
certificate to the issuer in ALB's verify-mode header (`--issuer-upstream`) and to the
authorizer as API Gateway does, and forwards `DPoP` headers. The certificates are made
here with cryptography (tests/helpers/client_certs.py).

- DPoP (RFC 9449): TokenSource(dpop=True) gets a DPoP-bound token and calls GET
  /orders/1 with RequestsAuth and HttpxAuth (200); the same token without a proof, as a
  bearer token, or with the proof it was sent with (a replay) is refused: 403, the HTTP
  API authorizer's Deny.
- mTLS (RFC 8705): TokenSource(client_cert=...) gets a certificate-bound token and calls
  the API with `cert=` the same certificate (200); from another certificate of the same
  CA: 403. tls_client_auth: the certificate alone authenticates the client.
"""

from __future__ import annotations

import ssl

import httpx
import jwt
import pytest
import requests
from helpers.tls_gateway import ORDERS, tls_gateway
from tollgate_client import (
    HttpxAuth,
    RequestsAuth,
    TokenError,
    TokenSource,
    httpx_client,
    requests_session,
)

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client-gateway")
    with tls_gateway(tmp, "Client Library Test CA", "library") as running:
        yield running


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_dpop_token_through_the_gateway(stack):
    registered = stack.client("--token-binding", "dpop")
    source = TokenSource(stack.base, registered["client_id"], registered["client_secret"],
                         scope="orders:read", audience=ORDERS, dpop=True, verify=stack.ca)
    url = stack.base + "/orders/1"
    answer = requests.get(url, auth=RequestsAuth(source), verify=stack.ca, timeout=20)
    assert answer.status_code == 200, answer.text
    assert answer.json()["context"]["x-authorizer-cnf-kind"] == "jkt"
    assert answer.json()["context"]["x-authorizer-cnf-thumbprint"] == source.dpop.thumbprint
    token = source.get()
    assert token.token_type == "DPoP"
    assert claims(token.access_token)["cnf"] == {"jkt": source.dpop.thumbprint}

    trust = ssl.create_default_context(cafile=stack.ca)
    with httpx.Client(auth=HttpxAuth(source), verify=trust, timeout=20) as http:
        assert http.get(stack.base + "/orders/2").status_code == 200

    # A thief holding the token: no proof, the Bearer scheme, or a proof copied from
    # the wire (replay, RFC 9449 §11.1): the HTTP API authorizer's Deny, 403.
    def call(headers: dict[str, str]) -> int:
        return requests.get(url, headers=headers, verify=stack.ca, timeout=20).status_code

    assert call({"Authorization": f"DPoP {token.access_token}"}) == 403
    assert call({"Authorization": f"Bearer {token.access_token}"}) == 403
    seen = source.present("GET", url).headers
    assert call(dict(seen)) == 200
    assert call(dict(seen)) == 403
    assert source.fetches == 1


def test_certificate_bound_token_through_the_gateway(stack):
    registered = stack.client("--token-binding", "mtls")
    client_1, client_2 = stack.files["client-1"], stack.files["client-2"]
    source = TokenSource(stack.base, registered["client_id"], registered["client_secret"],
                         scope="orders:read", audience=ORDERS, client_cert=client_1,
                         verify=stack.ca)
    token = source.get()
    assert token.token_type == "Bearer"
    # RFC 8705 §3.1: bound to the SHA-256 thumbprint of the certificate presented.
    assert claims(token.access_token)["cnf"] == {"x5t#S256": stack.pki["client-1"].thumbprint}

    url = stack.base + "/orders/1"
    auth = RequestsAuth(source)
    answer = requests.get(url, auth=auth, cert=client_1, verify=stack.ca, timeout=20)
    assert answer.status_code == 200, answer.text
    assert answer.json()["context"]["x-authorizer-cnf-kind"] == "x5t#S256"
    # The same token from another certificate of the same CA: refused.
    assert requests.get(url, auth=auth, cert=client_2, verify=stack.ca,
                        timeout=20).status_code == 403
    # The helpers present the source's certificate.
    with requests_session(source) as session:
        assert session.get(url, verify=stack.ca, timeout=20).status_code == 200
    with httpx_client(source, verify=ssl.create_default_context(cafile=stack.ca),
                      timeout=20) as http:
        assert http.get(url).status_code == 200
    assert source.fetches == 1


def test_mtls_bound_client_without_a_certificate_is_refused(stack):
    registered = stack.client("--token-binding", "mtls")
    source = TokenSource(stack.base, registered["client_id"], registered["client_secret"],
                         scope="orders:read", audience=ORDERS, verify=stack.ca)
    with pytest.raises(TokenError) as refused:
        source.token()
    assert (refused.value.status, refused.value.error) == (400, "invalid_request")


def test_tls_client_auth_by_the_certificate_alone(stack):
    """RFC 8705 §2.1: no secret; `client_id` in the form and the verified certificate."""
    registered = stack.client("--auth-method", "tls_client_auth", "--token-binding", "mtls",
                              "--tls-client-auth-subject-dn", stack.pki["client-1"].subject)
    assert "client_secret" not in registered
    source = TokenSource(stack.base, registered["client_id"], scope="orders:read",
                         audience=ORDERS, client_cert=stack.files["client-1"],
                         verify=stack.ca)
    token = source.token()
    assert claims(token)["sub"] == registered["client_id"]
    with requests_session(source) as session:
        assert session.get(stack.base + "/orders/1", verify=stack.ca,
                           timeout=20).status_code == 200
    # The other certificate does not authenticate this client.
    other = TokenSource(stack.base, registered["client_id"], scope="orders:read",
                        audience=ORDERS, client_cert=stack.files["client-2"], verify=stack.ca)
    with pytest.raises(TokenError) as refused:
        other.token()
    assert (refused.value.status, refused.value.error) == (401, "invalid_client")
