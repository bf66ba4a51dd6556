"""Sender-constrained tokens at the authorizer (authorizer/binding.py): RFC 8705 §3
certificate-bound and RFC 9449 §7 DPoP-bound tokens on API Gateway's recorded REQUEST
event shapes (REST and HTTP API payload 2.0, tests/vectors), each refusal with its
reason code, on the first sight of a token and on every repeat (the token cache never
skips the proof)."""

from __future__ import annotations

import copy

import pytest
from helpers.client_certs import make_cert

from authorizer.binding import encode_path
from authorizer.responses import policy_allows
from authorizer.settings import ConfigError, Settings
from shared.dpop import jwk_thumbprint, make_proof
from shared.jwa import generate_private_key
from shared.mtls import cert_thumbprint

REST = "powertools-request"  # GET /request, stage test, domain 3npb9j1tlk.execute-api...
HTTP = "powertools-v2"  # POST /merchants, stage $default, domain id.execute-api...
URLS = {
    REST: "https://3npb9j1tlk.execute-api.us-west-1.amazonaws.com/test/request",
    HTTP: "https://id.execute-api.us-east-1.amazonaws.com/merchants",
    "go-request": "https://api.example.com/request",  # no domainName: needs the setting
    "go-v2": "https://id.execute-api.us-east-1.amazonaws.com/my/path",
}
METHODS = {REST: "GET", HTTP: "POST", "go-request": "GET", "go-v2": "POST"}
SCOPES = {REST: "orders:read", HTTP: "orders:write", "go-request": "orders:read",
          "go-v2": "orders:write"}


@pytest.fixture(scope="module")
def cert():
    return make_cert("client-1").pem


@pytest.fixture(scope="module")
def other_cert():
    return make_cert("thief").pem


@pytest.fixture(scope="module")
def dpop_key():
    return generate_private_key("ES256")


def event(events, name: str, authorization: str | None, *, dpop=None, cert=None,
          keep_cert: bool = False, **context) -> dict:
    """The recorded event with this Authorization, DPoP header(s) and client certificate
    (None: the clientCert object removed, as API Gateway sends without mutual TLS)."""
    e = events(name).with_authorization(authorization)
    headers = e["headers"]
    multi = e.get("multiValueHeaders")
    for key in [k for k in headers if k.lower() == "dpop"]:
        del headers[key]
    if dpop is not None:
        values = dpop if isinstance(dpop, list) else [dpop]
        if e.get("version") == "2.0":
            headers["dpop"] = ",".join(values)  # payload 2.0 joins duplicates with commas
        else:
            headers["DPoP"] = values[-1]
            if isinstance(multi, dict):
                multi["DPoP"] = values
    rc = e["requestContext"]
    holder = rc["authentication"] if e.get("version") == "2.0" else rc["identity"]
    if cert is not None:
        holder["clientCert"] = copy.deepcopy(holder.get("clientCert") or {})
        holder["clientCert"]["clientCertPem"] = cert
    elif not keep_cert:
        holder.pop("clientCert", None)
    rc.update(context)
    return e


class Client:
    """A DPoP client: its key, proofs for a URL, and the harness that decides."""

    def __init__(self, harness, key, name: str):
        self.h, self.key, self.name = harness, key, name
        self.jkt = jwk_thumbprint(key, "ES256")

    def token(self, **claims) -> str:
        claims.setdefault("cnf", {"jkt": self.jkt})
        return self.h.token(SCOPES[self.name], **claims)

    def proof(self, token: str | None, *, url=None, method=None, iat=None, key=None, **kw):
        return make_proof(key or self.key, "ES256", method=method or METHODS[self.name],
                          url=url or URLS[self.name],
                          iat=self.h.wall() if iat is None else iat, access_token=token, **kw)


def decide(harness, e) -> tuple[str, str, dict | None]:
    """(decision, reason, response) of one event through the Lambda contract."""
    try:
        response = harness.handler(e)
    except Exception as exc:
        assert str(exc) == "Unauthorized"
        response = None
    line = harness.last()
    return line["decision"], line["reason"], response


# -- DPoP (RFC 9449 §7) ----------------------------------------------------------------

@pytest.mark.parametrize("name", [REST, HTTP, "go-v2"])
def test_dpop_token_with_its_proof_is_allowed_every_time(harness, events, dpop_key, name):
    c = Client(harness, dpop_key, name)
    token = c.token()
    for _ in range(3):  # first sight, then cache hits: each with a fresh proof
        decision, reason, response = decide(
            harness, event(events, name, "DPoP " + token, dpop=c.proof(token)))
        assert (decision, reason) == ("allow", "granted")
        assert response["context"]["cnf_kind"] == "jkt"
        assert response["context"]["cnf_thumbprint"] == c.jkt
    assert len(harness.authorizer._tokens) == 1  # verified once, proof checked three times


@pytest.mark.parametrize("name", [REST, HTTP])
def test_dpop_repeat_without_proof_is_refused_after_an_allow(harness, events, dpop_key, name):
    """Cache safety: the token is in the token cache; the missing proof still refuses."""
    c = Client(harness, dpop_key, name)
    token = c.token()
    assert decide(harness, event(events, name, "DPoP " + token, dpop=c.proof(token)))[0] == (
        "allow")
    assert decide(harness, event(events, name, "DPoP " + token))[:2] == (
        "unauthorized", "dpop_proof_missing")
    assert harness.last()["client_id"] == "client-1"  # the refusal names whose token it was


@pytest.mark.parametrize("name", [REST, HTTP])
def test_dpop_proof_replayed_is_refused(harness, events, dpop_key, name):
    c = Client(harness, dpop_key, name)
    token = c.token()
    proof = c.proof(token)
    assert decide(harness, event(events, name, "DPoP " + token, dpop=proof))[1] == "granted"
    harness.wall.advance(30)  # still within the 60 s window
    assert decide(harness, event(events, name, "DPoP " + token, dpop=proof))[:2] == (
        "unauthorized", "dpop_replay")


def test_replayed_proof_is_stale_once_the_window_is_over(harness, events, dpop_key):
    c = Client(harness, dpop_key, REST)
    token = c.token(exp=int(harness.wall()) + 3600)
    proof = c.proof(token)
    assert decide(harness, event(events, REST, "DPoP " + token, dpop=proof))[1] == "granted"
    harness.wall.advance(66)  # max_age 60 + leeway 5
    assert decide(harness, event(events, REST, "DPoP " + token, dpop=proof))[1] == "dpop_stale"


def test_dpop_max_age_setting(make_harness, events, dpop_key):
    h = make_harness(env={"AUTHORIZER_DPOP_MAX_AGE": "10"})
    c = Client(h, dpop_key, REST)
    token = c.token()
    old = c.proof(token, iat=h.wall() - 16)
    assert decide(h, event(events, REST, "DPoP " + token, dpop=old))[1] == "dpop_stale"
    fresh = c.proof(token, iat=h.wall() - 14)
    assert decide(h, event(events, REST, "DPoP " + token, dpop=fresh))[1] == "granted"


@pytest.mark.parametrize("name", [REST, HTTP])
def test_dpop_token_as_bearer_is_refused_first_and_on_repeat(harness, events, dpop_key, name):
    c = Client(harness, dpop_key, name)
    token = c.token()
    for _ in range(2):
        assert decide(harness, event(events, name, "Bearer " + token, dpop=c.proof(token)))[
            :2] == ("unauthorized", "bound_token_as_bearer")


@pytest.mark.parametrize("cnf", ["jkt", "x5t"])
@pytest.mark.parametrize("scheme", ["Bearer", "DPoP"])
def test_bound_token_on_a_token_authorizer_is_refused(harness, events, dpop_key, cert, cnf,
                                                      scheme):
    c = Client(harness, dpop_key, "powertools-token")
    value = {"jkt": c.jkt} if cnf == "jkt" else {"x5t#S256": cert_thumbprint(cert)}
    token = harness.token("orders:read", cnf=value)
    e = events("powertools-token").with_authorization(f"{scheme} {token}")
    assert decide(harness, e)[:2] == ("unauthorized", "bound_token_on_token_event")


def test_unbound_token_under_dpop_is_refused(harness, events, dpop_key):
    c = Client(harness, dpop_key, REST)
    token = harness.token("orders:read")
    e = event(events, REST, "DPoP " + token, dpop=c.proof(token))
    assert decide(harness, e)[:2] == ("unauthorized", "dpop_key_mismatch")
    # the same token as a bearer token is what it is: allowed, with no cnf in the context
    decision, _, response = decide(harness, event(events, REST, "Bearer " + token))
    assert decision == "allow" and "cnf_kind" not in response["context"]


@pytest.mark.parametrize(("change", "code"), [
    ({"method": "POST"}, "dpop_htm_mismatch"),
    ({"url": "https://3npb9j1tlk.execute-api.us-west-1.amazonaws.com/test/orders/1"},
     "dpop_htu_mismatch"),
    ({"url": "https://3npb9j1tlk.execute-api.us-west-1.amazonaws.com/request"},
     "dpop_htu_mismatch"),  # the stage is part of the default endpoint's URL
    ({"iat": -120}, "dpop_stale"),
    ({"iat": +60}, "dpop_stale"),
    ({"no_ath": True}, "dpop_ath_mismatch"),
    ({"other_key": True}, "dpop_key_mismatch"),
    ({"extra_header": {"typ": "JWT"}}, "dpop_bad_typ"),
])
def test_dpop_proof_refusals_through_the_event(harness, events, dpop_key, change, code):
    c = Client(harness, dpop_key, REST)
    token = c.token()
    kw = dict(change)
    if "iat" in kw:
        kw["iat"] = harness.wall() + kw["iat"]
    if kw.pop("other_key", False):
        kw["key"] = generate_private_key("ES256")
    proof = c.proof(None if kw.pop("no_ath", False) else token, **kw)
    assert decide(harness, event(events, REST, "DPoP " + token, dpop=proof))[:2] == (
        "unauthorized", code)


def test_two_dpop_headers_are_refused(harness, events, dpop_key):
    c = Client(harness, dpop_key, REST)
    token = c.token()
    e = event(events, REST, "DPoP " + token, dpop=[c.proof(token), c.proof(token)])
    assert decide(harness, e)[:2] == ("unauthorized", "dpop_malformed")
    c2 = Client(harness, dpop_key, HTTP)
    token2 = c2.token()
    e2 = event(events, HTTP, "DPoP " + token2, dpop=[c2.proof(token2), c2.proof(token2)])
    assert decide(harness, e2)[:2] == ("unauthorized", "dpop_malformed")


def test_dpop_header_name_is_case_insensitive(harness, events, dpop_key):
    c = Client(harness, dpop_key, REST)
    token = c.token()
    e = event(events, REST, "DPoP " + token)
    e["headers"]["dPoP"] = c.proof(token)
    assert decide(harness, e)[1] == "granted"


# -- the public URL (htu) -----------------------------------------------------------------

def test_no_domain_name_and_no_setting_refuses_the_proof(harness, events, dpop_key):
    c = Client(harness, dpop_key, "go-request")
    token = c.token()
    e = event(events, "go-request", "DPoP " + token, dpop=c.proof(token))
    assert decide(harness, e)[:2] == ("unauthorized", "dpop_htu_mismatch")


def test_public_url_setting_is_the_base_of_every_htu(make_harness, events, dpop_key):
    h = make_harness(env={"AUTHORIZER_PUBLIC_URL": "https://api.example.com/v1/"})
    c = Client(h, dpop_key, REST)
    token = c.token()
    # a custom domain with the API mapped under /v1: the stage is not in the URL
    ok = c.proof(token, url="https://api.example.com/v1/request")
    assert decide(h, event(events, REST, "DPoP " + token, dpop=ok))[1] == "granted"
    default = c.proof(token)  # the default endpoint's URL is not what clients call now
    assert decide(h, event(events, REST, "DPoP " + token, dpop=default))[1] == (
        "dpop_htu_mismatch")


def test_custom_domain_without_setting_has_no_stage_in_its_url(harness, events, dpop_key):
    c = Client(harness, dpop_key, REST)
    token = c.token()
    e = event(events, REST, "DPoP " + token,
              dpop=c.proof(token, url="https://api.example.com/request"),
              domainName="api.example.com")
    assert decide(harness, e)[1] == "granted"
    e = event(events, REST, "DPoP " + token,
              dpop=c.proof(token, url="https://api.example.com/test/request"),
              domainName="api.example.com")
    assert decide(harness, e)[1] == "dpop_htu_mismatch"


def test_http_api_named_stage_is_in_the_default_endpoint_url(harness, events, dpop_key):
    c = Client(harness, dpop_key, HTTP)
    token = c.token()
    e = event(events, HTTP, "DPoP " + token,
              dpop=c.proof(token, url="https://id.execute-api.us-east-1.amazonaws.com/v2/merchants"),
              stage="v2")
    e["requestContext"]["http"]["path"] = "/v2/merchants"
    e["rawPath"] = "/v2/merchants"
    assert decide(harness, e)[1] == "granted"


def test_encode_path():
    assert encode_path("/orders/1") == "/orders/1"
    assert encode_path("/a b/é") == "/a%20b/%C3%A9"
    assert encode_path("/a%20b") == "/a%20b"


@pytest.mark.parametrize("value", ["api.example.com", "ftp://api.example.com",
                                   "https://api.example.com/v1?x=1", "https://u@h/",
                                   "https://", "https:///v1"])
def test_bad_public_url_setting_fails_the_cold_start(value):
    with pytest.raises(ConfigError, match="AUTHORIZER_PUBLIC_URL"):
        Settings.from_env({"AUTHORIZER_ISSUER": "https://i", "AUTHORIZER_AUDIENCE": "a",
                           "AUTHORIZER_PUBLIC_URL": value}, cwd="/nonexistent")


def test_public_url_setting_read():
    s = Settings.from_env({"AUTHORIZER_ISSUER": "https://i", "AUTHORIZER_AUDIENCE": "a",
                           "AUTHORIZER_PUBLIC_URL": "https://api.example.com/v1/"},
                          cwd="/nonexistent")
    assert (s.public_url, s.dpop_max_age) == ("https://api.example.com/v1", 60)


# -- certificate-bound (RFC 8705 §3) -------------------------------------------------------

@pytest.mark.parametrize("name", [REST, HTTP, "go-request", "go-v2"])
def test_certificate_bound_token_with_its_certificate(harness, events, cert, name):
    token = harness.token(SCOPES[name], cnf={"x5t#S256": cert_thumbprint(cert)})
    for _ in range(2):
        decision, reason, response = decide(
            harness, event(events, name, "Bearer " + token, cert=cert))
        assert (decision, reason) == ("allow", "granted")
        assert response["context"]["cnf_kind"] == "x5t#S256"
        assert response["context"]["cnf_thumbprint"] == cert_thumbprint(cert)


@pytest.mark.parametrize("name", [REST, HTTP])
def test_certificate_bound_token_refusals_first_and_after_an_allow(harness, events, cert,
                                                                     other_cert, name):
    token = harness.token(SCOPES[name], cnf={"x5t#S256": cert_thumbprint(cert)})
    assert decide(harness, event(events, name, "Bearer " + token))[:2] == (
        "unauthorized", "cnf_cert_missing")
    assert decide(harness, event(events, name, "Bearer " + token, cert=cert))[1] == "granted"
    # the token is cached now: another certificate, or none, is still refused
    assert decide(harness, event(events, name, "Bearer " + token, cert=other_cert))[:2] == (
        "unauthorized", "cnf_cert_mismatch")
    assert decide(harness, event(events, name, "Bearer " + token))[:2] == (
        "unauthorized", "cnf_cert_missing")
    assert decide(harness, event(events, name, "Bearer " + token, cert=""))[1] == (
        "cnf_cert_missing")


def test_recorded_placeholder_certificate_is_a_mismatch(harness, events, cert):
    token = harness.token("orders:read", cnf={"x5t#S256": cert_thumbprint(cert)})
    for _ in range(2):  # the second time from the per-instance thumbprint memo
        e = event(events, REST, "Bearer " + token, keep_cert=True)  # "CERT_CONTENT"
        assert decide(harness, e)[:2] == ("unauthorized", "cnf_cert_mismatch")
    e = event(events, REST, "Bearer " + token)
    e["requestContext"]["identity"]["clientCert"] = {"clientCertPem": ["not", "text"]}
    assert decide(harness, e)[:2] == ("unauthorized", "cnf_cert_mismatch")


def test_certificate_bound_token_under_dpop_is_refused(harness, events, cert, dpop_key):
    c = Client(harness, dpop_key, REST)
    token = harness.token("orders:read", cnf={"x5t#S256": cert_thumbprint(cert)})
    e = event(events, REST, "DPoP " + token, cert=cert, dpop=c.proof(token))
    assert decide(harness, e)[:2] == ("unauthorized", "dpop_key_mismatch")


def test_token_bound_both_ways_needs_both(harness, events, cert, other_cert, dpop_key):
    c = Client(harness, dpop_key, REST)
    token = c.token(cnf={"jkt": c.jkt, "x5t#S256": cert_thumbprint(cert)})
    ok = event(events, REST, "DPoP " + token, cert=cert, dpop=c.proof(token))
    decision, _, response = decide(harness, ok)
    assert decision == "allow"
    assert response["context"]["cnf_kind"] == "jkt x5t#S256"
    bad = event(events, REST, "DPoP " + token, cert=other_cert, dpop=c.proof(token))
    assert decide(harness, bad)[1] == "cnf_cert_mismatch"


@pytest.mark.parametrize("cnf", [
    "not-an-object", [], {}, {"jwk": {"kty": "EC"}}, {"jkt": 5}, {"jkt": "short"},
    {"x5t#S256": "A" * 44}, {"x5t#S256": "+" * 43},
])
def test_cnf_this_authorizer_cannot_check_is_bad_claim(harness, events, cnf):
    token = harness.token("orders:read", cnf=cnf)
    assert decide(harness, event(events, REST, "Bearer " + token))[:2] == (
        "unauthorized", "bad_claim")
    assert len(harness.authorizer._tokens) == 0  # never cached


def test_iam_policy_of_a_bound_token_is_the_usual_one(harness, events, cert):
    token = harness.token("orders:read", cnf={"x5t#S256": cert_thumbprint(cert)})
    e = event(events, REST, "Bearer " + token, cert=cert)
    _, _, response = decide(harness, e)
    assert policy_allows(response, e["methodArn"])
