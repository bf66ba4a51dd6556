"""Trusted issuers and federated identities, administered (docs/federation.md): the
admin API's verbs and rules (exact iss, keys by jwks_uri or inline jwks, algorithms
never none or HS*, audience default, maximum age, reuse), each change audited; the
mapping rules at registration (an untrusted issuer refused, two clients claiming one
external identity refused with 409); where a jwks_uri may point in production."""

from __future__ import annotations

import ipaddress
import logging

import pytest
from helpers.external_issuer import ExternalIssuer
from helpers.issuer_env import ISSUER_URL

from issuer.federation.jwks import UriPolicy, UriRefused, fetch_jwks
from issuer.settings import load_settings

TOKEN_ENDPOINT = ISSUER_URL + "/oauth2/token"


@pytest.fixture(scope="module")
def ext():
    return ExternalIssuer("https://kubernetes.example.test")


def add(http, **body):
    return http.post("/admin/trusted-issuers", json=body)


def last_audit(http):
    return http.get("/admin/audit?limit=1").json()["items"][0]


def test_add_show_list_update_remove_with_audit(admin_env, ext):
    _issuer, _clock, http, admin = admin_env
    created = add(http, issuer=ext.iss, jwks=ext.jwks())
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["id"].startswith("ti_")
    assert view["issuer"] == ext.iss and view["jwks"] == ext.jwks()
    assert view["algorithms"] == ["RS256"]  # the default
    assert view["audience"] == TOKEN_ENDPOINT and view["audience_default"] is True
    assert (view["max_token_age"], view["allow_reuse"]) == (3600, False)
    record = last_audit(http)
    assert (record["action"], record["target"], record["actor"]) == (
        "trusted_issuer.create", view["id"], admin.client.client_id)
    assert record["changes"]["jwks"] == [ext.jwks()["keys"][0]["kid"]]  # keys by name only

    tid = view["id"]
    assert http.get(f"/admin/trusted-issuers/{tid}").json() == view
    listed = http.get("/admin/trusted-issuers").json()
    assert view in listed["items"] and listed["next_cursor"] is None

    changed = http.patch(f"/admin/trusted-issuers/{tid}",
                         json={"allow_reuse": True, "audience": "tollgate"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["allow_reuse"] is True and changed.json()["audience"] == "tollgate"
    record = last_audit(http)
    assert record["action"] == "trusted_issuer.update"
    assert record["changes"] == {"allow_reuse": {"from": False, "to": True},
                                 "audience": {"from": None, "to": "tollgate"}}
    back = http.patch(f"/admin/trusted-issuers/{tid}", json={"audience": None}).json()
    assert back["audience"] == TOKEN_ENDPOINT and back["audience_default"] is True

    assert http.delete(f"/admin/trusted-issuers/{tid}").status_code == 204
    assert last_audit(http)["action"] == "trusted_issuer.delete"
    assert http.get(f"/admin/trusted-issuers/{tid}").status_code == 404


@pytest.mark.parametrize(("body", "fragment"), [
    ({"algorithms": ["none"]}, "never none or HS*"),
    ({"algorithms": ["HS256"]}, "never none or HS*"),
    ({"algorithms": ["RS256", "HS512"]}, "never none or HS*"),
    ({"issuer": "kubernetes"}, "must be a URI"),  # could be a client id: never
    ({"issuer": ISSUER_URL}, "this issuer itself"),
    ({"jwks": None}, "exactly one of jwks_uri and jwks"),
    ({"jwks_uri": "https://kubernetes.example.test/jwks"}, "exactly one of jwks_uri and jwks"),
    ({"algorithms": ["ES256"]}, "no key of jwks signs with one of the algorithms"),
])
def test_rules(admin_env, ext, body, fragment):
    http = admin_env[2]
    response = add(http, **{"issuer": "https://rules.example.test", "jwks": ext.jwks(), **body})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert fragment in response.json()["error_description"]


def test_private_key_material_and_bad_keys_refused(admin_env):
    http = admin_env[2]
    leaked = {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}
    response = add(http, issuer="https://leak.example.test", jwks=leaked)
    assert response.status_code == 422
    assert "private key material" in response.json()["error_description"]
    weak = {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "tiny"}]}
    response = add(http, issuer="https://weak.example.test", jwks=weak)
    assert response.status_code == 422 and "not usable" in response.json()["error_description"]


def test_strict_body(admin_env, ext):
    http = admin_env[2]
    response = add(http, issuer="https://strict.example.test", jwks=ext.jwks(), alow_reuse=True)
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    response = add(http, issuer="https://strict.example.test", jwks=ext.jwks(),
                   max_token_age="3600")
    assert response.status_code == 422


def test_issuer_is_unique_and_immutable(admin_env):
    http = admin_env[2]
    ext = ExternalIssuer("https://unique.example.test")
    tid = add(http, issuer=ext.iss, jwks=ext.jwks()).json()["id"]
    again = add(http, issuer=ext.iss, jwks=ext.jwks())
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    renamed = http.patch(f"/admin/trusted-issuers/{tid}", json={"issuer": "https://x.test"})
    assert renamed.status_code == 422  # not a field of the update


def test_federated_client_registration_rules(admin_env):
    """The mapping rules: exact pairs under trusted issuers; a pair names one client."""
    http = admin_env[2]
    ext = ExternalIssuer("https://mapping.example.test")
    tid = add(http, issuer=ext.iss, jwks=ext.jwks()).json()["id"]
    pair = {"issuer": ext.iss, "subject": "system:serviceaccount:payments:api"}

    def register(**body):
        return http.post("/admin/clients", json={
            "name": "w", "scopes": ["orders:read"], "auth_method": "federated", **body})

    first = register(federated_identities=[pair])
    assert first.status_code == 201, first.text
    client_id = first.json()["client_id"]
    assert first.json()["federated_identities"] == [pair]
    assert "client_secret" not in first.json()
    # A second client claiming the same external identity: refused, nothing written.
    second = register(federated_identities=[pair])
    assert second.status_code == 409, second.text
    assert second.json()["error"] == "conflict"
    assert client_id in second.json()["error_description"]
    # An issuer that is not trusted.
    untrusted = register(federated_identities=[{"issuer": "https://nope.test", "subject": "x"}])
    assert untrusted.status_code == 422
    assert "not a trusted issuer" in untrusted.json()["error_description"]
    # Federated without identities; identities on a secret client; a key on a federated one.
    assert register().status_code == 422
    secret = http.post("/admin/clients", json={"name": "s", "scopes": ["orders:read"],
                                               "federated_identities": [pair]})
    assert secret.status_code == 422
    assert register(federated_identities=[pair], jwks=ext.jwks()).status_code == 422

    # The trusted issuer cannot go while a client's identity names it.
    busy = http.delete(f"/admin/trusted-issuers/{tid}")
    assert busy.status_code == 409 and "federated identit" in busy.json()["error_description"]
    # PATCH replaces the pairs (audited); the freed pair can be taken by another client.
    other = {"issuer": ext.iss, "subject": "system:serviceaccount:payments:worker"}
    changed = http.patch(f"/admin/clients/{client_id}", json={"federated_identities": [other]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["federated_identities"] == [other]
    record = http.get("/admin/audit?limit=1").json()["items"][0]
    assert record["changes"]["federated_identities"] == {"from": [pair], "to": [other]}
    assert register(federated_identities=[pair]).status_code == 201
    taken = http.patch(f"/admin/clients/{client_id}", json={"federated_identities": [pair]})
    assert taken.status_code == 409


def test_deleting_a_client_frees_its_identities(admin_env):
    http = admin_env[2]
    ext = ExternalIssuer("https://cascade.example.test")
    tid = add(http, issuer=ext.iss, jwks=ext.jwks()).json()["id"]
    pair = {"issuer": ext.iss, "subject": "spiffe://example.test/ns/prod/sa/api"}
    client_id = http.post("/admin/clients", json={
        "name": "w", "scopes": ["orders:read"], "auth_method": "federated",
        "federated_identities": [pair]}).json()["client_id"]
    assert http.delete(f"/admin/clients/{client_id}").status_code == 204
    assert http.delete(f"/admin/trusted-issuers/{tid}").status_code == 204


# -- where a jwks_uri may point ----------------------------------------------------------

PRODUCTION = UriPolicy(https_only=True, allow_private=False)
PRODUCTION_PRIVATE = UriPolicy(https_only=True, allow_private=True)


@pytest.mark.parametrize("uri", [
    "http://keys.example.com/jwks",  # https only
    "https://127.0.0.1/jwks",
    "https://10.1.2.3/jwks",
    "https://192.168.0.10/jwks",
    "https://100.64.0.1/jwks",  # RFC 6598 shared
    "https://[::1]/jwks",
    "https://[fd00::1]/jwks",
    "https://[::ffff:10.0.0.1]/jwks",  # IPv4-mapped private
    "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
    "https://0.0.0.0/jwks",
    "https://localhost/jwks",
    "https://user:pw@keys.example.com/jwks",
])
def test_production_refuses_private_and_plain_uris(uri):
    with pytest.raises(UriRefused):
        PRODUCTION.check_uri(uri)


def test_allow_private_still_refuses_link_local_and_http():
    assert PRODUCTION_PRIVATE.check_uri("https://10.1.2.3/jwks")[1] == "10.1.2.3"
    for uri in ("https://169.254.169.254/", "https://[fe80::1]/", "http://10.1.2.3/"):
        with pytest.raises(UriRefused):
            PRODUCTION_PRIVATE.check_uri(uri)


def test_every_resolved_address_is_checked(monkeypatch):
    """A name resolving to one public and one private address is refused: which one a
    connection would get is not ours to choose (DNS rebinding)."""
    import socket

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in ("93.184.215.14", "10.0.0.7")]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(UriRefused, match=r"10\.0\.0\.7"):
        fetch_jwks("https://keys.example.com/jwks", PRODUCTION)
    assert [str(a) for a in PRODUCTION_PRIVATE.resolve("keys.example.com", 443)] == [
        "93.184.215.14", "10.0.0.7"]
    assert ipaddress.ip_address("93.184.215.14").is_global


def test_policy_follows_the_settings(policy_file, monkeypatch):
    base = {"ISSUER_URL": "https://issuer.example.com", "POLICY_FILE": str(policy_file),
            "ISSUER_DATABASE_URL": "postgresql+psycopg://u@db:5432/t",
            "ISSUER_KEY_ENCRYPTION_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}
    dev = load_settings({**base}, env_file=None)
    assert UriPolicy.from_settings(dev) == UriPolicy(https_only=False, allow_private=True)
    prod = load_settings({**base, "ISSUER_ENV": "production"}, env_file=None)
    assert UriPolicy.from_settings(prod) == PRODUCTION
    allowed = load_settings({**base, "ISSUER_ENV": "production",
                             "ISSUER_FEDERATION_ALLOW_PRIVATE": "on"}, env_file=None)
    assert UriPolicy.from_settings(allowed) == PRODUCTION_PRIVATE


def test_a_private_jwks_uri_is_refused_in_production(databases, policy_file, caplog):
    """End to end: an issuer in production refuses to register a loopback jwks_uri, and a
    name that resolves to loopback at fetch time gets no keys (issuer_keys_unavailable)."""
    from fastapi.testclient import TestClient
    from helpers.issuer_admin import ADMIN, bearer, token_for
    from helpers.issuer_env import make_issuer

    issuer = make_issuer(databases.new_url("sqlite"), policy_file, ISSUER_ENV="production")
    try:
        with TestClient(issuer.app(), base_url="https://testserver") as http:
            admin = issuer.client([ADMIN], name="admin")
            auth = bearer(token_for(http, admin.client.client_id, admin.client_secret))
            for uri in ("https://127.0.0.1:8443/jwks", "http://keys.example.com/jwks",
                        "https://169.254.169.254/latest/meta-data/"):
                response = http.post("/admin/trusted-issuers", headers=auth, json={
                    "issuer": "https://prod.example.test", "jwks_uri": uri})
                assert response.status_code == 422, (uri, response.text)
            # A public-looking name that resolves to loopback: registered, never fetched.
            ext = ExternalIssuer("https://prod.example.test")
            assert http.post("/admin/trusted-issuers", headers=auth, json={
                "issuer": ext.iss, "jwks_uri": "https://localtest.me/jwks"}).status_code == 201
            assert http.post("/admin/clients", headers=auth, json={
                "name": "w", "scopes": ["orders:read"], "auth_method": "federated",
                "federated_identities": [{"issuer": ext.iss, "subject": "svc"}]},
            ).status_code == 201
            import socket
            real = socket.getaddrinfo
            try:
                socket.getaddrinfo = lambda host, port, *a, **k: [
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
                from helpers.external_issuer import assertion_form
                t = issuer.services.clock().timestamp()
                with caplog.at_level(logging.INFO):
                    response = http.post("/oauth2/token", data=assertion_form(
                        ext.token("svc", TOKEN_ENDPOINT, t)))
            finally:
                socket.getaddrinfo = real
            assert response.status_code == 401
            messages = [r.getMessage() for r in caplog.records]
            assert any('"trusted_issuer_jwks_failed"' in m and "127.0.0.1" in m
                       for m in messages)
            assert any('"reason": "issuer_keys_unavailable"' in m for m in messages)
    finally:
        issuer.services.engine.dispose()


@pytest.mark.parametrize("path", [
    "/admin/clients/c_%00",
    "/admin/trusted-issuers/ti_%00",
    "/admin/trusted-issuers/ti_" + "x" * 100,
])
def test_an_id_of_a_shape_never_made_is_404(admin_env, path):
    """Not looked up: PostgreSQL refuses a NUL, which would be a 503."""
    http = admin_env[2]
    response = http.get(path)
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"


def test_control_characters_are_refused_not_stored(admin_env, ext):
    """A rule (422) on either database: on PostgreSQL a NUL reaching the database would be a
    503, on SQLite it would be stored."""
    http = admin_env[2]
    trusted = http.post("/admin/trusted-issuers", json={
        "issuer": "https://nul-audience.example", "jwks": ext.jwks(), "algorithms": [ext.alg],
        "audience": "a\u0000b"})
    assert trusted.status_code == 422 and "no control characters" in trusted.text
    named = http.post("/admin/clients", json={"name": "n\u0000", "scopes": ["orders:read"]})
    assert named.status_code == 422 and "no control characters" in named.text
    identity = http.post("/admin/clients", json={
        "name": "workload", "scopes": ["orders:read"], "auth_method": "federated",
        "federated_identities": [{"issuer": "https://x\u0000", "subject": "s"}]})
    assert identity.status_code == 422 and "no control characters" in identity.text
