"""Rotating a private_key_jwt client's public keys (PATCH `jwks`, `clients update
--jwks-file`): the new keys authenticate at once, a dropped key no longer does, the keys
are checked as on registration, a secret client cannot get keys, and the audit record
names the keys (kid or thumbprint) without copying them."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from helpers.client_assertion import assertion_form, client_assertion
from helpers.issuer_admin import db_state
from helpers.issuer_env import ISSUER_URL
from helpers.mint import make_key

from issuer.cli import main
from shared.jwk import thumbprint

TOKEN_ENDPOINT = ISSUER_URL + "/oauth2/token"


@pytest.fixture(scope="module")
def env(admin_env):
    """(issuer, clock, http) where `http` is the admin's, plus `http.bare`: a client of
    the same services without the admin's bearer, for token requests (a bearer there
    would be a second authentication method)."""
    issuer, clock, http, _admin = admin_env
    with TestClient(issuer.app()) as bare:
        http.bare = bare
        yield issuer, clock, http


def _client(http, *jwk):
    response = http.post("/admin/clients", json={
        "name": "signer", "scopes": ["orders:read"], "auth_method": "private_key_jwt",
        "jwks": {"keys": list(jwk)}})
    assert response.status_code == 201, response.text
    return response.json()["client_id"]


def _token_status(env, cid, key, alg="ES256") -> int:
    _issuer, clock, http = env
    private, jwk = key
    assertion = client_assertion(private, alg, cid, TOKEN_ENDPOINT, clock().timestamp(),
                                 kid=jwk.get("kid"))
    return http.bare.post("/oauth2/token", data=assertion_form(assertion)).status_code


def test_rotation_old_and_new_then_new_only(env):
    _issuer, _clock, http = env
    old, new = make_key("ES256", kid="k-old"), make_key("ES256", kid="k-new")
    cid = _client(http, old[1])
    assert _token_status(env, cid, old) == 200  # the client's record is cached now
    assert _token_status(env, cid, new) == 401

    both = http.patch(f"/admin/clients/{cid}", json={"jwks": {"keys": [old[1], new[1]]}})
    assert both.status_code == 200, both.text
    assert [k["kid"] for k in both.json()["jwks"]["keys"]] == ["k-old", "k-new"]
    assert _token_status(env, cid, old) == 200 and _token_status(env, cid, new) == 200

    assert http.patch(f"/admin/clients/{cid}", json={"jwks": {"keys": [new[1]]}}).status_code \
        == 200
    assert _token_status(env, cid, new) == 200
    assert _token_status(env, cid, old) == 401  # at once: the cached record was dropped

    records = http.get("/admin/audit", params={"limit": 2}).json()["items"]
    assert [r["changes"]["jwks"] for r in records] == [
        {"from": ["k-old", "k-new"], "to": ["k-new"]},
        {"from": ["k-old"], "to": ["k-old", "k-new"]},
    ]
    assert all(r["action"] == "client.update" and r["target"] == cid for r in records)
    assert new[1]["x"] not in json.dumps(records)  # names the keys, does not copy them


def test_a_key_without_kid_is_named_by_its_thumbprint(env):
    _issuer, _clock, http = env
    first, second = make_key("ES256", kid="k-1"), make_key("ES256")
    second[1].pop("kid")
    cid = _client(http, first[1])
    assert http.patch(f"/admin/clients/{cid}", json={"jwks": {"keys": [second[1]]}}
                      ).status_code == 200
    change = http.get("/admin/audit", params={"limit": 1}).json()["items"][0]["changes"]
    assert change["jwks"] == {"from": ["k-1"], "to": [thumbprint(second[1])]}
    assert _token_status(env, cid, second) == 200


@pytest.mark.parametrize("jwks, message", [
    ({"keys": []}, "1 to"),
    ({"keys": "nope"}, "JWK Set"),
    ({"nokeys": []}, "JWK Set"),
    ("for encryption", "not usable"),
    ({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}, "private key material"),
    ("private", "private key material"),
    ("two without kid", "every key needs a kid"),
])
def test_bad_keys_are_refused_and_change_nothing(env, issuer_state, jwks, message):
    _issuer, _clock, http = env
    good = make_key("ES256", kid="k-good")
    cid = _client(http, good[1])
    if jwks == "for encryption":
        jwks = {"keys": [make_key("ES256", kid="k-enc")[1] | {"use": "enc"}]}
    elif jwks == "private":
        private = make_key("ES256", kid="k-p")[1] | {"d": "AAAA"}
        jwks = {"keys": [private]}
    elif jwks == "two without kid":
        a, b = make_key("ES256")[1], make_key("ES256")[1]
        a.pop("kid"), b.pop("kid")
        jwks = {"keys": [a, b]}
    before = issuer_state()
    response = http.patch(f"/admin/clients/{cid}", json={"jwks": jwks})
    assert response.status_code == 422, response.text
    assert message in response.text
    assert issuer_state() == before
    assert _token_status(env, cid, good) == 200


def test_a_secret_client_gets_no_keys(env, issuer_state):
    _issuer, _clock, http = env
    created = http.post("/admin/clients", json={"name": "s", "scopes": ["orders:read"]}).json()
    before = issuer_state()
    response = http.patch(f"/admin/clients/{created['client_id']}",
                          json={"jwks": {"keys": [make_key("ES256", kid="k")[1]]}})
    assert response.status_code == 422
    assert "only for auth_method private_key_jwt" in response.text
    assert issuer_state() == before


def test_null_jwks_is_refused(env):
    _issuer, _clock, http = env
    cid = _client(http, make_key("ES256", kid="k-n")[1])
    response = http.patch(f"/admin/clients/{cid}", json={"jwks": None})
    assert response.status_code == 422 and "cannot be null" in response.text


@pytest.fixture
def issuer_state(env):
    issuer, _clock, _http = env
    return lambda: db_state(issuer)


def test_cli_update_jwks_file(admin_cli_env, capsys):
    tmp_path = admin_cli_env
    old, new = make_key("ES256", kid="c-old"), make_key("ES256", kid="c-new")
    (tmp_path / "old.json").write_text(json.dumps({"keys": [old[1]]}))
    (tmp_path / "new.json").write_text(json.dumps({"keys": [new[1]]}))
    capsys.readouterr()
    assert main(["clients", "create", "--name", "cli-signer", "--scope", "orders:read",
                 "--auth-method", "private_key_jwt", "--jwks-file", "old.json", "--json"]) == 0
    cid = json.loads(capsys.readouterr().out)["client_id"]
    assert main(["clients", "update", cid, "--jwks-file", "new.json", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [k["kid"] for k in shown["jwks"]["keys"]] == ["c-new"]
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["clients", "update", cid, "--jwks-file", "bad.json"]) == 2
    assert "not a JSON JWK Set" in capsys.readouterr().err
