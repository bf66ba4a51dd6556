"""Mutual TLS at the issuer (RFC 8705): client registration (`token_binding`, the two
mTLS authentication methods), certificate-bound tokens (§3: `cnf.x5t#S256` of the
certificate presented on the token request), mTLS client authentication (§2.1
tls_client_auth by subject DN, §2.2 self_signed_tls_client_auth by registered
certificate), and where the certificate comes from: API Gateway's event under Mangum
(REST and HTTP API payloads), or a header only a trusted proxy is believed for."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers.client_certs import make_cert
from helpers.issuer_env import ISSUER_URL, lambda_event, make_issuer
from mangum import Mangum

from issuer.clients.registry import (
    ClientError,
    check_auth_method,
    check_subject_dn,
    check_token_binding,
)
from issuer.oauth.client_cert import PresentedCertificate, xfcc_certificate
from issuer.settings import SettingsError, load_settings
from shared.dpop import make_proof
from shared.jwa import generate_private_key
from shared.jws import parse_compact

PROXY = ("10.0.0.5", 50000)  # in ISSUER_TRUSTED_PROXIES below
STRANGER = ("203.0.113.9", 50000)
ALB = "X-Amzn-Mtls-Clientcert"
CC = {"grant_type": "client_credentials"}
WRONG_SECRET_BODY = {"error": "invalid_client", "error_description": "client authentication failed"}


@pytest.fixture(scope="module")
def certs():
    ca = make_cert("Example Client CA", ca=True)
    return {
        "ca": ca,
        "batch": make_cert("orders-batch", issuer=ca),
        "other": make_cert("someone-else", issuer=ca),
        "self": make_cert("self-signed-client"),
        "self2": make_cert("self-signed-client"),  # same subject, another key
    }


@pytest.fixture(scope="module")
def issuer(db_kind, databases, policy_file):
    test_issuer = make_issuer(
        databases.new_url(db_kind), policy_file,
        ISSUER_TRUSTED_PROXIES="10.0.0.0/8", ISSUER_CLIENT_CERT_HEADER=ALB,
    )
    yield test_issuer
    test_issuer.services.engine.dispose()


@pytest.fixture(scope="module")
def proxy(issuer):
    with TestClient(issuer.app(), client=PROXY) as http:
        yield http


@pytest.fixture(scope="module")
def stranger(issuer):
    with TestClient(issuer.app(), client=STRANGER) as http:
        yield http


@pytest.fixture(scope="module")
def clients(issuer, certs):
    def make(**kwargs):
        new = issuer.client(["orders:read"], **kwargs)
        return new.client.client_id, new.client_secret

    return {
        "self_signed": make(
            auth_method="self_signed_tls_client_auth", token_binding="mtls",
            jwks={"keys": [certs["self"].jwk("k1")]},
        ),
        "pki": make(
            auth_method="tls_client_auth", token_binding="mtls",
            tls_client_auth_subject_dn=certs["batch"].subject,
        ),
        "pki_unbound": make(
            auth_method="tls_client_auth", tls_client_auth_subject_dn=certs["batch"].subject,
        ),
        "secret_mtls": make(token_binding="mtls"),
        "secret_bearer": make(),
    }


def claims(response):
    assert response.status_code == 200, response.text
    return parse_compact(response.json()["access_token"]).claims


def basic(client):
    client_id, secret = client
    return {"auth": (client_id, secret)}


# --- registration rules -------------------------------------------------------------


def test_registration_rules(certs):
    jwk = certs["self"].jwk()
    mismatched = {**certs["self"].jwk(), "x5c": certs["other"].jwk()["x5c"]}
    refused = {
        "self-signed without jwks": ("self_signed_tls_client_auth", None),
        "key without x5c": ("self_signed_tls_client_auth",
                            {"keys": [{k: v for k, v in jwk.items() if k != "x5c"}]}),
        "x5c not base64 DER": ("self_signed_tls_client_auth", {"keys": [{**jwk, "x5c": ["%%"]}]}),
        "x5c of another key": ("self_signed_tls_client_auth", {"keys": [mismatched]}),
        "private member": ("self_signed_tls_client_auth", {"keys": [{**jwk, "d": "AAAA"}]}),
        "same certificate twice": ("self_signed_tls_client_auth", {"keys": [jwk, dict(jwk)]}),
        "tls_client_auth with jwks": ("tls_client_auth", {"keys": [jwk]}),
    }
    for name, (method, jwks) in refused.items():
        with pytest.raises(ClientError):
            check_auth_method(method, jwks)
            pytest.fail(name)
    assert check_auth_method("self_signed_tls_client_auth", {"keys": [jwk]}) == {"keys": [jwk]}
    assert check_auth_method("tls_client_auth", None) is None


def test_subject_dn_rules(certs):
    subject = certs["batch"].subject
    assert check_subject_dn("tls_client_auth", subject) == subject
    for method, value in (
        ("tls_client_auth", None),
        ("tls_client_auth", ""),
        ("tls_client_auth", "CN=a, O=spaces after commas"),  # not RFC 4514
        ("tls_client_auth", "not a dn"),
        ("tls_client_auth", "CN=" + "x" * 600),
        ("client_secret", subject),
        ("self_signed_tls_client_auth", subject),
    ):
        with pytest.raises(ClientError):
            check_subject_dn(method, value)
            pytest.fail(f"{method} {value!r}")
    assert check_subject_dn("client_secret", None) is None


def test_token_binding_rules():
    for binding in ("none", "mtls", "dpop"):
        assert check_token_binding(binding) == binding
    for bad in ("bearer", "MTLS", None, 1):
        with pytest.raises(ClientError):
            check_token_binding(bad)


def test_admin_api_registers_and_shows_bindings(admin_env, certs):
    _, _, http, _ = admin_env
    response = http.post("/admin/clients", json={
        "name": "batch", "scopes": ["orders:read"], "auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": certs["batch"].subject, "token_binding": "mtls",
    })
    assert response.status_code == 201, response.text
    view = response.json()
    assert "client_secret" not in view  # no secret for the mTLS methods
    assert view["auth_method"] == "tls_client_auth"
    assert view["token_binding"] == "mtls"
    assert view["tls_client_auth_subject_dn"] == certs["batch"].subject
    client_id = view["client_id"]

    response = http.post("/admin/clients", json={
        "name": "self", "scopes": ["orders:read"], "auth_method": "self_signed_tls_client_auth",
        "jwks": {"keys": [certs["self"].jwk()]},
    })
    assert response.status_code == 201, response.text
    assert response.json()["token_binding"] == "none" and "client_secret" not in response.json()

    for body in (
        {"auth_method": "tls_client_auth"},  # no subject DN
        {"auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "garbage"},
        {"auth_method": "self_signed_tls_client_auth"},  # no certificates
        {"token_binding": "bearer"},
    ):
        response = http.post("/admin/clients", json={"name": "x", "scopes": ["orders:read"],
                                                     **body})
        assert response.status_code == 422, (body, response.text)

    response = http.patch(f"/admin/clients/{client_id}", json={"token_binding": "dpop"})
    assert response.status_code == 200 and response.json()["token_binding"] == "dpop"
    other = certs["other"].subject
    response = http.patch(f"/admin/clients/{client_id}",
                          json={"tls_client_auth_subject_dn": other})
    assert response.json()["tls_client_auth_subject_dn"] == other
    assert http.get(f"/admin/clients/{client_id}").json()["token_binding"] == "dpop"
    audit = http.get("/admin/audit").json()["items"]
    changes = [r["changes"] for r in audit if r["target"] == client_id]
    assert {"token_binding": {"from": "mtls", "to": "dpop"}} in changes
    assert {"tls_client_auth_subject_dn": {"from": certs["batch"].subject, "to": other}} in changes
    created = next(r for r in audit if r["target"] == client_id and r["action"] == "client.create")
    assert created["changes"]["token_binding"] == "mtls"


def test_cli_registers_an_mtls_client(admin_cli_env, capsys, certs):
    from issuer.cli import main

    capsys.readouterr()
    assert main(["clients", "create", "--name", "batch", "--scope", "orders:read",
                 "--auth-method", "tls_client_auth", "--tls-client-auth-subject-dn",
                 certs["batch"].subject, "--token-binding", "mtls", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["token_binding"] == "mtls" and "client_secret" not in view
    assert view["tls_client_auth_subject_dn"] == certs["batch"].subject
    jwks_file = admin_cli_env / "certs.json"
    jwks_file.write_text(json.dumps({"keys": [certs["self"].jwk()]}))
    assert main(["clients", "create", "--name", "self", "--scope", "orders:read",
                 "--auth-method", "self_signed_tls_client_auth", "--jwks-file",
                 str(jwks_file), "--json"]) == 0
    self_view = json.loads(capsys.readouterr().out)
    assert self_view["auth_method"] == "self_signed_tls_client_auth"
    assert self_view["jwks"]["keys"][0]["x5c"] == certs["self"].jwk()["x5c"]
    assert main(["clients", "update", view["client_id"], "--token-binding", "dpop",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["token_binding"] == "dpop"
    assert main(["clients", "show", view["client_id"]]) == 0
    assert "token_binding" in capsys.readouterr().out


# --- certificate-bound tokens (RFC 8705 §3) ---------------------------------------


def test_certificate_bound_token_for_a_secret_client(proxy, clients, certs):
    response = proxy.post("/oauth2/token", data=CC, headers={ALB: certs["batch"].alb()},
                          **basic(clients["secret_mtls"]))
    token = claims(response)
    assert token["cnf"] == {"x5t#S256": certs["batch"].thumbprint}
    assert response.json()["token_type"] == "Bearer"  # RFC 8705 keeps the bearer scheme


def test_mtls_client_without_a_certificate_is_refused(proxy, clients):
    # RFC 8705 §3.4 leaves it to the server: an error or an unbound token. An error.
    response = proxy.post("/oauth2/token", data=CC, **basic(clients["secret_mtls"]))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_certificate_header_from_an_untrusted_peer_is_ignored(stranger, clients, certs):
    headers = {ALB: certs["batch"].alb()}
    response = stranger.post("/oauth2/token", data=CC, headers=headers,
                             **basic(clients["secret_mtls"]))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    client_id, _ = clients["pki"]
    response = stranger.post("/oauth2/token", data={**CC, "client_id": client_id},
                             headers=headers)
    assert response.status_code == 401 and response.json() == WRONG_SECRET_BODY


def test_two_certificate_headers_are_ignored(proxy, clients, certs):
    headers = [(ALB, certs["other"].alb()), (ALB, certs["batch"].alb())]
    response = proxy.post("/oauth2/token", data=CC, headers=headers,
                          **basic(clients["secret_mtls"]))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_unreadable_certificate_header(proxy, clients):
    response = proxy.post("/oauth2/token", data=CC, headers={ALB: "not%20a%20certificate"},
                          **basic(clients["secret_mtls"]))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    client_id, _ = clients["pki"]
    response = proxy.post("/oauth2/token", data={**CC, "client_id": client_id},
                          headers={ALB: "garbage"})
    assert response.status_code == 401 and response.json() == WRONG_SECRET_BODY


def test_bearer_client_with_a_certificate_gets_an_unbound_token(proxy, clients, certs):
    response = proxy.post("/oauth2/token", data=CC, headers={ALB: certs["batch"].alb()},
                          **basic(clients["secret_bearer"]))
    assert "cnf" not in claims(response)


def test_mtls_client_may_not_send_a_dpop_proof(proxy, clients, certs):
    key = generate_private_key("ES256")
    proof = make_proof(key, "ES256", method="POST", url=ISSUER_URL + "/oauth2/token",
                       iat=time.time())
    response = proxy.post("/oauth2/token", data=CC,
                          headers={ALB: certs["batch"].alb(), "DPoP": proof},
                          **basic(clients["secret_mtls"]))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_alb_passthrough_chain_binds_the_leaf(proxy, clients, certs):
    headers = {ALB: certs["batch"].alb(certs["ca"])}
    token = claims(proxy.post("/oauth2/token", data=CC, headers=headers,
                              **basic(clients["secret_mtls"])))
    assert token["cnf"] == {"x5t#S256": certs["batch"].thumbprint}


# --- mTLS client authentication (RFC 8705 §2) ---------------------------------------


def test_self_signed_tls_client_auth(proxy, clients, certs):
    client_id, secret = clients["self_signed"]
    assert secret is None
    form = {**CC, "client_id": client_id}
    token = claims(proxy.post("/oauth2/token", data=form, headers={ALB: certs["self"].alb()}))
    assert token["client_id"] == client_id
    assert token["cnf"] == {"x5t#S256": certs["self"].thumbprint}
    # Same subject, another certificate: not the registered one.
    for other in (certs["self2"], certs["batch"]):
        response = proxy.post("/oauth2/token", data=form, headers={ALB: other.alb()})
        assert response.status_code == 401 and response.json() == WRONG_SECRET_BODY
    response = proxy.post("/oauth2/token", data=form)  # no certificate at all
    assert response.status_code == 401 and response.json() == WRONG_SECRET_BODY


def test_tls_client_auth_by_subject_dn(proxy, clients, certs):
    client_id, _ = clients["pki"]
    form = {**CC, "client_id": client_id}
    token = claims(proxy.post("/oauth2/token", data=form, headers={ALB: certs["batch"].alb()}))
    assert token["cnf"] == {"x5t#S256": certs["batch"].thumbprint}
    response = proxy.post("/oauth2/token", data=form, headers={ALB: certs["other"].alb()})
    assert response.status_code == 401 and response.json() == WRONG_SECRET_BODY
    unbound_id, _ = clients["pki_unbound"]
    token = claims(proxy.post("/oauth2/token", data={**CC, "client_id": unbound_id},
                              headers={ALB: certs["batch"].alb()}))
    assert "cnf" not in token  # authenticated by certificate, token_binding none


def test_a_certificate_never_authenticates_a_secret_client(proxy, clients, certs):
    client_id, _ = clients["secret_bearer"]
    response = proxy.post("/oauth2/token", data={**CC, "client_id": client_id},
                          headers={ALB: certs["batch"].alb()})
    assert response.status_code == 401 and response.json() == WRONG_SECRET_BODY


def test_a_secret_never_authenticates_an_mtls_client(proxy, clients, certs):
    client_id, _ = clients["pki"]
    response = proxy.post("/oauth2/token", headers={ALB: certs["batch"].alb()},
                          data={**CC, "client_id": client_id, "client_secret": "anything"})
    assert response.status_code == 401 and response.json() == WRONG_SECRET_BODY


def test_introspection_shows_the_certificate_binding(proxy, clients, certs):
    client_id, _ = clients["pki"]
    headers = {ALB: certs["batch"].alb()}
    form = {**CC, "client_id": client_id}
    token = proxy.post("/oauth2/token", data=form, headers=headers).json()["access_token"]
    answer = proxy.post("/oauth2/introspect", headers=headers,
                        data={"client_id": client_id, "token": token}).json()
    assert answer["active"] is True
    assert answer["cnf"] == {"x5t#S256": certs["batch"].thumbprint}
    assert answer["token_type"] == "Bearer"


def test_metadata_advertises_mtls(proxy):
    doc = proxy.get("/.well-known/oauth-authorization-server").json()
    assert doc["tls_client_certificate_bound_access_tokens"] is True
    methods = doc["token_endpoint_auth_methods_supported"]
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(methods)
    assert methods == doc["introspection_endpoint_auth_methods_supported"]


# --- the Envoy header and the settings ----------------------------------------------


def test_xfcc_header(db_kind, databases, policy_file, certs):
    issuer = make_issuer(
        databases.new_url(db_kind), policy_file,
        ISSUER_TRUSTED_PROXIES="10.0.0.5", ISSUER_CLIENT_CERT_HEADER="X-Forwarded-Client-Cert",
    )
    try:
        client_id = issuer.client(
            ["orders:read"], auth_method="tls_client_auth",
            tls_client_auth_subject_dn=certs["batch"].subject,
        ).client.client_id
        form = {**CC, "client_id": client_id}
        with TestClient(issuer.app(), client=PROXY) as http:
            one = {"X-Forwarded-Client-Cert": certs["batch"].xfcc()}
            assert claims(http.post("/oauth2/token", data=form, headers=one))["sub"] == client_id
            # An element the client appended itself: two elements, refused.
            two = {"X-Forwarded-Client-Cert": certs["other"].xfcc() + "," + certs["batch"].xfcc()}
            response = http.post("/oauth2/token", data=form, headers=two)
            assert response.status_code == 401 and response.json() == WRONG_SECRET_BODY
    finally:
        issuer.services.engine.dispose()


def test_xfcc_parsing(certs):
    element = certs["batch"].xfcc()
    assert PresentedCertificate(element, "xfcc").thumbprint == certs["batch"].thumbprint
    quoted_comma = 'Subject="CN=a,O=b";' + element  # commas inside quotes are not elements
    assert PresentedCertificate(quoted_comma, "xfcc").thumbprint == certs["batch"].thumbprint
    for bad in ("", "By=x;Hash=y", element + "," + element, 'Cert="unterminated',
                'Cert="%ZZ"'):
        with pytest.raises(ValueError):
            xfcc_certificate(bad)


def test_certificate_header_settings():
    base = {"ISSUER_URL": ISSUER_URL}
    settings = load_settings({**base, "ISSUER_TRUSTED_PROXIES": "10.0.0.1",
                              "ISSUER_CLIENT_CERT_HEADER": "X-Forwarded-Client-Cert"},
                             env_file=None)
    assert (settings.client_cert_header, settings.client_cert_format) == (
        "x-forwarded-client-cert", "xfcc")
    for env, message in (
        ({"ISSUER_CLIENT_CERT_HEADER": ALB}, "ISSUER_TRUSTED_PROXIES"),
        ({"ISSUER_CLIENT_CERT_HEADER": "bad header", "ISSUER_TRUSTED_PROXIES": "10.0.0.1"},
         "not an HTTP header name"),
        ({"ISSUER_CLIENT_CERT_HEADER": ALB, "ISSUER_TRUSTED_PROXIES": "10.0.0.1",
          "ISSUER_CLIENT_CERT_FORMAT": "der"}, "ISSUER_CLIENT_CERT_FORMAT"),
        ({"ISSUER_CLIENT_CERT_FORMAT": "xfcc"}, "ISSUER_CLIENT_CERT_HEADER"),
    ):
        with pytest.raises(SettingsError, match=message):
            load_settings({**base, **env}, env_file=None)


# --- under Lambda: API Gateway's event ---------------------------------------------


class _Context:
    function_name = "tollgate-issuer"
    aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:tollgate-issuer"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self):
        return 30_000


def _context() -> Any:
    return _Context()  # what Mangum reads of a LambdaContext


def _event(version: str, body: str, headers: dict, cert_pem: str | None, source_ip: str):
    if version == "2.0":
        return lambda_event("POST", "/oauth2/token", body, headers, cert_pem, source_ip=source_ip)
    cert = {"clientCert": {"clientCertPem": cert_pem, "subjectDN": "ignored"}} if cert_pem else {}
    headers = {"content-type": "application/x-www-form-urlencoded", "host": "auth.example.test",
               **headers}
    return {  # REST API (payload 1.0)
        "resource": "/oauth2/token", "path": "/oauth2/token", "httpMethod": "POST",
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "body": body, "isBase64Encoded": False,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc", "stage": "prod",
            "resourcePath": "/oauth2/token", "httpMethod": "POST", "path": "/prod/oauth2/token",
            "requestId": "r1", "identity": {"sourceIp": source_ip, **cert},
        },
    }


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_api_gateway_event_certificate(issuer, clients, certs, version):
    handler = Mangum(issuer.app(), lifespan="off")
    client_id, _ = clients["pki"]
    body = f"grant_type=client_credentials&client_id={client_id}"
    answer = handler(_event(version, body, {}, certs["batch"].pem, "198.51.100.7"), _context())
    assert answer["statusCode"] == 200, answer["body"]
    token = parse_compact(json.loads(answer["body"])["access_token"]).claims
    assert token["cnf"] == {"x5t#S256": certs["batch"].thumbprint}
    # No certificate in the event: refused, even with the header from a trusted address
    # (under Lambda the header is the client's to write; API Gateway passes it through).
    spoofed = {ALB.lower(): certs["batch"].alb()}
    answer = handler(_event(version, body, spoofed, None, "10.0.0.5"), _context())
    assert answer["statusCode"] == 401, answer["body"]
    assert json.loads(answer["body"]) == WRONG_SECRET_BODY
