"""Federated client authentication at the token endpoint (RFC 7523 §2.2, §3 with a
trusted external issuer; docs/federation.md): an external issuer of the test's own
keys, each §3 rule and each mapping rule refused with `invalid_client` and its logged
reason, the abuse cases (a subject of another issuer, alg none, HS256 keyed with the
issuer's public key, another audience), replay with and without reuse allowed, rotated
keys picked up after the cooldown, the throttle, and the issued token's `act`."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from helpers.external_issuer import DROP, ExternalIssuer, JwksServer, assertion_form
from helpers.issuer_env import ISSUER_URL, ORDERS
from helpers.mint import forge_hmac, forge_none, make_key, public_pem, sign_raw
from sqlalchemy import event

from issuer.federation.jwks import UNKNOWN_KID_COOLDOWN
from issuer.oauth.throttle import FailureThrottle
from shared.jws import parse_compact

TOKEN_ENDPOINT = ISSUER_URL + "/oauth2/token"
GITHUB = "https://token.actions.githubusercontent.com"
KUBERNETES = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
REPO_MAIN = "repo:octo-org/octo-repo:ref:refs/heads/main"


@pytest.fixture(scope="module")
def fed(admin_env):
    """(issuer, clock, admin http, token http): `token http` sends no admin bearer."""
    issuer, clock, admin_http, _admin = admin_env
    with TestClient(issuer.app()) as http:
        yield issuer, clock, admin_http, http


def trust(admin_http, ext: ExternalIssuer, **fields):
    body = {"issuer": ext.iss, "jwks": ext.jwks(), "algorithms": [ext.alg], **fields}
    response = admin_http.post("/admin/trusted-issuers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def federated_client(admin_http, *pairs, scopes=("orders:read",)):
    response = admin_http.post("/admin/clients", json={
        "name": "workload", "scopes": list(scopes), "auth_method": "federated",
        "federated_identities": [{"issuer": i, "subject": s} for i, s in pairs],
    })
    assert response.status_code == 201, response.text
    assert "client_secret" not in response.json()
    return response.json()["client_id"]


def failures(caplog):
    return [json.loads(r.getMessage()) for r in caplog.records
            if '"client_authentication_failed"' in r.getMessage()]


def refused(http, caplog, form, reason: str):
    caplog.clear()
    with caplog.at_level(logging.INFO):
        response = http.post("/oauth2/token", data=form)
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "invalid_client",
                               "error_description": "client authentication failed"}
    logged = failures(caplog)
    assert [line["reason"] for line in logged] == [reason]
    assert logged[0]["method"] == "federated"  # never handed to private_key_jwt
    return logged[0]


@pytest.fixture(scope="module")
def github(fed):
    """A GitHub-shaped issuer (RS256, reused tokens) and a client for main of one repo."""
    _, _, admin_http, _ = fed
    ext = ExternalIssuer(GITHUB)
    trust(admin_http, ext, allow_reuse=True)
    client_id = federated_client(admin_http, (GITHUB, REPO_MAIN))
    return ext, client_id


def now(fed) -> float:
    return fed[1]().timestamp()


def test_a_trusted_issuers_token_gets_the_clients_token(fed, github, caplog):
    _, _, _, http = fed
    ext, client_id = github
    with caplog.at_level(logging.INFO, logger="issuer.tokens"):
        response = http.post("/oauth2/token", data=assertion_form(
            ext.token(REPO_MAIN, TOKEN_ENDPOINT, now(fed))))
    assert response.status_code == 200, response.text
    claims = parse_compact(response.json()["access_token"]).claims
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["aud"] == ORDERS
    assert claims["act"] == {"iss": GITHUB, "sub": REPO_MAIN}  # RFC 8693 §4.1
    issued = [json.loads(r.getMessage()) for r in caplog.records
              if '"token_issued"' in r.getMessage()]
    assert issued[-1]["auth_method"] == "federated"
    assert (issued[-1]["federated_iss"], issued[-1]["federated_sub"]) == (GITHUB, REPO_MAIN)


def test_client_id_may_be_sent_and_must_match(fed, github, caplog):
    _, _, _, http = fed
    ext, client_id = github
    token = ext.token(REPO_MAIN, TOKEN_ENDPOINT, now(fed))
    ok = http.post("/oauth2/token", data=assertion_form(token, client_id=client_id))
    assert ok.status_code == 200, ok.text
    refused(http, caplog, assertion_form(token, client_id="c_someoneelse"), "client_id_mismatch")


def test_secret_clients_are_not_disturbed(fed):
    issuer, _, _, http = fed
    new = issuer.client(["orders:read"], name="secret")
    response = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                         auth=(new.client.client_id, new.client_secret))
    assert response.status_code == 200
    assert "act" not in parse_compact(response.json()["access_token"]).claims


@pytest.mark.parametrize(("claims", "reason"), [
    ({"aud": "https://api.elsewhere.test"}, "wrong_audience"),  # item 3: another audience
    ({"aud": [ISSUER_URL]}, "wrong_audience"),  # our issuer URL is not the configured aud
    ({"aud": DROP}, "wrong_audience"),
    ({"exp": DROP}, "exp_missing"),  # item 4
    ({"exp": "soon"}, "exp_not_a_number"),
    ({"exp": True}, "exp_not_a_number"),
    ({"nbf": 10**9 * 5}, "nbf_in_future"),  # item 5
    ({"iat": DROP}, "iat_missing"),  # item 6
    ({"sub": DROP}, "sub_missing"),
    ({"sub": "repo:octo-org/octo-repo:ref:refs/heads/dev"}, "unknown_subject"),  # item 2
])
def test_each_claim_rule(fed, github, caplog, claims, reason):
    _, _, _, http = fed
    ext, _ = github
    token = ext.token(REPO_MAIN, TOKEN_ENDPOINT, now(fed), **claims)
    refused(http, caplog, assertion_form(token), reason)


def test_time_rules_with_leeway(fed, github, caplog):
    http = fed[3]
    ext, _ = github
    t = now(fed)
    # item 4: expired (past exp plus the 30 s leeway)
    refused(http, caplog, assertion_form(ext.token(REPO_MAIN, TOKEN_ENDPOINT, t - 400,
                                                   lifetime=300)), "expired")
    # item 6: issued in the future beyond the leeway
    refused(http, caplog, assertion_form(ext.token(REPO_MAIN, TOKEN_ENDPOINT, t,
                                                   iat=int(t) + 120)), "iat_in_future")
    # the issuer's maximum age (3600 s default): an hour-old token that is still valid
    old = ext.token(REPO_MAIN, TOKEN_ENDPOINT, t - 3700, lifetime=7200)
    refused(http, caplog, assertion_form(old), "too_old")
    # within the leeway both ways: accepted
    ok = ext.token(REPO_MAIN, TOKEN_ENDPOINT, t + 20, lifetime=300)
    assert http.post("/oauth2/token", data=assertion_form(ok)).status_code == 200


def test_unknown_issuer(fed, caplog):
    _, _, _, http = fed
    stranger = ExternalIssuer("https://token.actions.githubusercontent.com.evil.test")
    refused(http, caplog, assertion_form(stranger.token(REPO_MAIN, TOKEN_ENDPOINT, now(fed))),
            "unknown_issuer")


def test_signature_rules(fed, github, caplog):
    _, _, _, http = fed
    ext, _ = github
    t = now(fed)
    private, jwk = ext.signing_key
    # Signed by another key under the issuer's kid: item 9.
    imposter, _ = make_key("RS256")
    body = {"iss": GITHUB, "sub": REPO_MAIN, "aud": TOKEN_ENDPOINT, "iat": int(t),
            "exp": int(t) + 300, "jti": "x1"}
    forged = sign_raw(imposter, "RS256", {"alg": "RS256", "kid": jwk["kid"]}, body)
    refused(http, caplog, assertion_form(forged), "bad_signature")
    refused(http, caplog, assertion_form(
        ext.token(REPO_MAIN, TOKEN_ENDPOINT, t, header={"kid": "not-a-kid"})), "unknown_kid")
    # alg none (any spelling) and HS256 keyed with the issuer's public key (CVE-2016-10555)
    refused(http, caplog, assertion_form(forge_none(body, kid=jwk["kid"])), "alg_not_allowed")
    refused(http, caplog, assertion_form(forge_none(body, alg="None", kid=jwk["kid"])),
            "alg_not_allowed")
    refused(http, caplog, assertion_form(forge_hmac(public_pem(private), body, kid=jwk["kid"])),
            "alg_not_allowed")
    # An algorithm the issuer does not use (its list is RS256), even correctly signed.
    es_key, es_jwk = make_key("ES256")
    refused(http, caplog, assertion_form(
        sign_raw(es_key, "ES256", {"alg": "ES256", "kid": es_jwk["kid"]}, body)),
        "alg_not_allowed")
    crit = sign_raw(private, "RS256", {"alg": "RS256", "kid": jwk["kid"], "crit": ["exp"]}, body)
    refused(http, caplog, assertion_form(crit), "crit_unsupported")


def test_wrong_assertion_type(fed, github, caplog):
    _, _, _, http = fed
    ext, _ = github
    form = assertion_form(ext.token(REPO_MAIN, TOKEN_ENDPOINT, now(fed)))
    form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    refused(http, caplog, form, "unsupported_assertion_type")


def test_a_subject_registered_under_another_issuer_is_unknown(fed, caplog):
    """Issuer A's token claiming the subject registered under issuer B maps to nothing:
    the mapping is the exact (iss, sub) pair, never the subject alone."""
    _, _, admin_http, http = fed
    a = ExternalIssuer("https://issuer-a.example.test")
    b = ExternalIssuer("https://issuer-b.example.test")
    trust(admin_http, a)
    trust(admin_http, b)
    federated_client(admin_http, (b.iss, "system:serviceaccount:prod:deployer"))
    token = a.token("system:serviceaccount:prod:deployer", TOKEN_ENDPOINT, now(fed))
    refused(http, caplog, assertion_form(token), "unknown_subject")
    # and B's own token for it works
    good = b.token("system:serviceaccount:prod:deployer", TOKEN_ENDPOINT, now(fed))
    assert http.post("/oauth2/token", data=assertion_form(good)).status_code == 200


def test_replay_refused_unless_the_issuer_allows_reuse(fed, github, caplog):
    _, _, admin_http, http = fed
    once = ExternalIssuer("https://once.example.test", alg="ES256")
    trust(admin_http, once)  # allow_reuse defaults to false
    federated_client(admin_http, (once.iss, "svc"))
    token = once.token("svc", TOKEN_ENDPOINT, now(fed))
    assert http.post("/oauth2/token", data=assertion_form(token)).status_code == 200
    refused(http, caplog, assertion_form(token), "replayed")
    # No jti: the token's hash is the replay key.
    bare = once.token("svc", TOKEN_ENDPOINT, now(fed), jti=DROP)
    assert http.post("/oauth2/token", data=assertion_form(bare)).status_code == 200
    refused(http, caplog, assertion_form(bare), "replayed")
    # GitHub-shaped issuer registered with allow_reuse: the same token works twice.
    ext, _ = github
    reused = ext.token(REPO_MAIN, TOKEN_ENDPOINT, now(fed))
    for _ in range(2):
        assert http.post("/oauth2/token", data=assertion_form(reused)).status_code == 200


def test_configured_audience(fed, caplog):
    _, _, admin_http, http = fed
    ext = ExternalIssuer("https://aud.example.test")
    trust(admin_http, ext, audience="tollgate", allow_reuse=True)
    federated_client(admin_http, (ext.iss, "svc"))
    assert http.post("/oauth2/token", data=assertion_form(
        ext.token("svc", ["other", "tollgate"], now(fed)))).status_code == 200
    refused(http, caplog, assertion_form(ext.token("svc", TOKEN_ENDPOINT, now(fed))),
            "wrong_audience")


def test_disabled_client_and_deleted_client(fed, caplog):
    _, _, admin_http, http = fed
    ext = ExternalIssuer("https://disable.example.test")
    trust(admin_http, ext, allow_reuse=True)
    client_id = federated_client(admin_http, (ext.iss, "svc"))
    token = ext.token("svc", TOKEN_ENDPOINT, now(fed))
    assert admin_http.patch(f"/admin/clients/{client_id}", json={"enabled": False}
                            ).status_code == 200
    refused(http, caplog, assertion_form(token), "disabled")
    assert admin_http.delete(f"/admin/clients/{client_id}").status_code == 204
    refused(http, caplog, assertion_form(token), "unknown_subject")


def test_rotated_external_keys_are_picked_up_after_the_cooldown(fed, caplog):
    _, clock, admin_http, http = fed
    ext = ExternalIssuer("https://rotating.example.test")
    with JwksServer(ext) as server:
        trust(admin_http, ext, jwks=None, jwks_uri=server.uri, allow_reuse=True)
        federated_client(admin_http, (ext.iss, "svc"))
        assert http.post("/oauth2/token", data=assertion_form(
            ext.token("svc", TOKEN_ENDPOINT, now(fed)))).status_code == 200
        assert server.fetches == 1
        # The issuer rotates (new key only). Within the cooldown of the first fetch, an
        # unknown kid does not refetch: refused.
        ext.rotate()
        refused(http, caplog, assertion_form(ext.token("svc", TOKEN_ENDPOINT, now(fed))),
                "unknown_kid")
        assert server.fetches == 1
        # A flood of made-up kids costs nothing more.
        for n in range(5):
            refused(http, caplog, assertion_form(ext.token(
                "svc", TOKEN_ENDPOINT, now(fed), header={"kid": f"made-up-{n}"})), "unknown_kid")
        assert server.fetches == 1
        clock.advance(UNKNOWN_KID_COOLDOWN + 1)
        assert http.post("/oauth2/token", data=assertion_form(
            ext.token("svc", TOKEN_ENDPOINT, now(fed)))).status_code == 200
        assert server.fetches == 2


def test_issuer_keys_unavailable(fed, caplog):
    _, clock, admin_http, http = fed
    ext = ExternalIssuer("https://down.example.test")
    with JwksServer(ext) as server:
        server.status = 503
        trust(admin_http, ext, jwks=None, jwks_uri=server.uri)
        federated_client(admin_http, (ext.iss, "svc"))
        refused(http, caplog, assertion_form(ext.token("svc", TOKEN_ENDPOINT, now(fed))),
                "issuer_keys_unavailable")
        # A document with duplicate members is refused as strictly as a token.
        server.status = 200
        server.body = b'{"keys": [], "keys": []}'
        clock.advance(UNKNOWN_KID_COOLDOWN + 1)
        refused(http, caplog, assertion_form(ext.token("svc", TOKEN_ENDPOINT, now(fed))),
                "issuer_keys_unavailable")
        server.body = None
        clock.advance(UNKNOWN_KID_COOLDOWN + 1)
        assert http.post("/oauth2/token", data=assertion_form(
            ext.token("svc", TOKEN_ENDPOINT, now(fed)))).status_code == 200


def test_failures_meet_the_throttle(databases, policy_file, caplog):
    """Federated failures are counted like every method's (issuer/oauth/throttle.py):
    past the limit 429; a good assertion is never refused by it."""
    from helpers.issuer_admin import ADMIN, bearer, token_for
    from helpers.issuer_env import make_issuer

    issuer = make_issuer(databases.new_url("sqlite"), policy_file,
                         throttle=FailureThrottle(limit=3, window=60))
    ext = ExternalIssuer("https://throttled.example.test")
    try:
        with TestClient(issuer.app()) as http:
            admin = issuer.client([ADMIN], name="admin")
            auth = bearer(token_for(http, admin.client.client_id, admin.client_secret))
            assert http.post("/admin/trusted-issuers", headers=auth, json={
                "issuer": ext.iss, "jwks": ext.jwks(), "allow_reuse": True}).status_code == 201
            assert http.post("/admin/clients", headers=auth, json={
                "name": "w", "scopes": ["orders:read"], "auth_method": "federated",
                "federated_identities": [{"issuer": ext.iss, "subject": "svc"}]},
            ).status_code == 201
            t = issuer.services.clock().timestamp()
            bad = assertion_form(ext.token("svc", "https://elsewhere.test", t))
            statuses = [http.post("/oauth2/token", data=bad).status_code for _ in range(4)]
            assert statuses == [401, 401, 401, 429]
            good = assertion_form(ext.token("svc", TOKEN_ENDPOINT, t))
            assert http.post("/oauth2/token", data=good).status_code == 200
    finally:
        issuer.services.engine.dispose()


def test_dispatch_by_iss_parses_once_and_never_crosses_over(fed, github, caplog, monkeypatch):
    """An assertion whose iss is a URI is the federated method's, any other
    private_key_jwt's; the choice reads the one parse of the request, and neither path
    accepts the other's clients."""
    import shared.jws  # issuer/oauth/client_auth.py imports parse_compact at its first use

    _, _, _, http = fed
    ext, client_id = github
    calls = []
    real = shared.jws.parse_compact
    monkeypatch.setattr(shared.jws, "parse_compact", lambda t: calls.append(t) or real(t))
    ok = http.post("/oauth2/token", data=assertion_form(
        ext.token(REPO_MAIN, TOKEN_ENDPOINT, now(fed))))
    assert ok.status_code == 200 and len(calls) == 1
    # The federated client's id as iss and sub, signed by the trusted issuer's key: a
    # private_key_jwt assertion for a client that has no keys: refused there.
    caplog.clear()
    with caplog.at_level(logging.INFO):
        crossed = http.post("/oauth2/token", data=assertion_form(
            ext.token(client_id, TOKEN_ENDPOINT, now(fed), iss=client_id)))
    assert crossed.status_code == 401
    assert [(f["method"], f["reason"]) for f in failures(caplog)] == [
        ("private_key_jwt", "unknown_client")]


def test_a_page_of_clients_reads_every_federated_clients_pairs_in_one_query(fed, github):
    # GET /admin/clients lists a page of clients; a federated client's pairs live in
    # their own table (no ORM relationship). One query per federated client on the page
    # would be up to a page's worth of round trips per listing.
    issuer, _, admin_http, _ = fed
    made = {federated_client(admin_http, (GITHUB, f"repo:octo-org/repo-{n}:ref:refs/heads/main"),
                             (GITHUB, f"repo:octo-org/repo-{n}:ref:refs/heads/dev")): n
            for n in range(4)}
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = issuer.services.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = admin_http.get("/admin/clients", params={"limit": 100})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200, response.text
    listed = {item["client_id"]: item for item in response.json()["items"]}
    for client_id, n in made.items():
        assert listed[client_id]["federated_identities"] == [
            {"issuer": GITHUB, "subject": f"repo:octo-org/repo-{n}:ref:refs/heads/dev"},
            {"issuer": GITHUB, "subject": f"repo:octo-org/repo-{n}:ref:refs/heads/main"},
        ]
    # Secret clients on the same page carry no pairs at all.
    assert all("federated_identities" not in item for item in listed.values()
               if item["auth_method"] != "federated")
    reads = [s for s in statements if "FROM federated_identities" in s]
    assert len(reads) == 1, reads
    # The same view the client's own page shows.
    one = next(iter(made))
    assert admin_http.get(f"/admin/clients/{one}").json() == listed[one]
