"""DPoP at the token endpoint (RFC 9449): a valid proof gets a DPoP-bound token
(`token_type: DPoP`, `cnf.jkt`, §5 and §6.1); every check of §4.3 refuses with
`invalid_dpop_proof` (§5) naming it; a proof is accepted once (§11.1, across processes
sharing the database); a client registered `token_binding: dpop` must send one (§5.2);
server nonces (§8) when ISSUER_DPOP_NONCE=on; introspection shows `cnf.jkt` (§6.2)."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_admin import clocked_issuer
from helpers.issuer_env import ISSUER_URL

from issuer.http.app import create_app
from issuer.services import build_services
from issuer.store.engine import make_engine
from shared.dpop import jwk_thumbprint, make_proof
from shared.jwa import generate_private_key
from shared.jws import parse_compact

HTU = ISSUER_URL + "/oauth2/token"
CC = {"grant_type": "client_credentials"}


@pytest.fixture(scope="module")
def env(db_kind, databases, policy_file):
    issuer, clock = clocked_issuer(databases.new_url(db_kind), policy_file)
    with TestClient(issuer.app()) as http:
        yield issuer, clock, http
    issuer.services.engine.dispose()


@pytest.fixture(scope="module")
def key():
    return generate_private_key("ES256")


@pytest.fixture(scope="module")
def clients(env):
    issuer, _, _ = env
    bearer = issuer.client(["orders:read"], name="bearer")
    dpop = issuer.client(["orders:read"], name="dpop", token_binding="dpop")
    return {
        "bearer": (bearer.client.client_id, bearer.client_secret),
        "dpop": (dpop.client.client_id, dpop.client_secret),
    }


@pytest.fixture
def proof(env, key):
    _, clock, _ = env

    def make(**kwargs):
        kwargs.setdefault("method", "POST")
        kwargs.setdefault("url", HTU)
        kwargs.setdefault("iat", clock().timestamp())
        return make_proof(kwargs.pop("key", key), kwargs.pop("alg", "ES256"), **kwargs)

    return make


def post(http, client, proofs=(), **extra):
    headers = [("DPoP", p) for p in proofs]
    return http.post("/oauth2/token", data={**CC, **extra}, auth=client, headers=headers)


def refused(response, code: str, error: str = "invalid_dpop_proof"):
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == error, body
    if error == "invalid_dpop_proof":
        assert body["error_description"].endswith(code), body
    assert response.headers["cache-control"] == "no-store"


def test_a_proof_gets_a_dpop_bound_token(env, clients, proof, key):
    _, _, http = env
    response = post(http, clients["bearer"], [proof()])
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    claims = parse_compact(response.json()["access_token"]).claims
    assert claims["cnf"] == {"jkt": jwk_thumbprint(key, "ES256")}
    assert "dpop-nonce" not in response.headers  # nonces off by default


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES384", "EdDSA"])
def test_every_advertised_algorithm(env, clients, proof, alg):
    other = generate_private_key(alg)
    response = post(env[2], clients["dpop"], [proof(key=other, alg=alg)])
    assert response.status_code == 200, response.text
    assert parse_compact(response.json()["access_token"]).claims["cnf"] == {
        "jkt": jwk_thumbprint(other, alg)}


def test_client_registered_for_dpop_must_send_a_proof(env, clients):
    refused(post(env[2], clients["dpop"]), "dpop_proof_missing")


def test_bearer_client_without_a_proof_gets_a_bearer_token(env, clients):
    response = post(env[2], clients["bearer"])
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in parse_compact(response.json()["access_token"]).claims


def _swap_header(proof: str, **header) -> str:
    head, rest = proof.split(".", 1)
    decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    decoded.update(header)
    encoded = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return encoded + "." + rest


def test_each_check_of_section_4_3(env, clients, proof, key):
    """RFC 9449 §4.3 items 1-11, each on its own, with the code it is refused with."""
    _, clock, http = env
    client = clients["dpop"]
    now = clock().timestamp()
    good = proof()
    cases = {
        "dpop_several": [proof(), proof()],  # item 1: more than one DPoP header
        "dpop_malformed": ["not.a.jwt"],  # item 2
        "dpop_bad_typ": [proof(extra_header={"typ": "JWT"})],  # item 4
        "dpop_bad_alg": [_swap_header(good, alg="HS256")],  # item 5: symmetric
        "dpop_bad_key": [proof(extra_header={"jwk": {"kty": "oct", "k": "c2VjcmV0"}})],
        "dpop_bad_signature": [good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")],
        "dpop_htm_mismatch": [proof(method="GET")],  # item 8
        "dpop_htu_mismatch": [proof(url=ISSUER_URL + "/oauth2/introspect")],  # item 9
        "dpop_stale": [proof(iat=now - 600)],  # item 11: too old
    }
    for code, proofs in cases.items():
        refused(post(http, client, proofs), code)
    refused(post(http, client, [proof(iat=now + 600)]), "dpop_stale")  # from the future
    refused(post(http, client, [proof(url="https://elsewhere.test/oauth2/token")]),
            "dpop_htu_mismatch")
    refused(post(http, client, [proof(extra_claims={"jti": 5})]), "dpop_malformed")
    # A JWK with private members in the header (item 7): a leaked key, refused.
    private = {**json.loads(base64.urlsafe_b64decode(good.split(".")[0] + "==="))["jwk"],
               "d": "AAAA"}
    refused(post(http, client, [proof(extra_header={"jwk": private})]), "dpop_bad_key")
    # The htu comparison ignores query and fragment (item 9) and normalises case/port.
    assert post(http, client, [proof(url=HTU + "?x=1#f")]).status_code == 200
    assert post(http, client, [proof(url=HTU.replace("https://issuer", "HTTPS://ISSUER")
                                     .replace(".test", ".test:443"))]).status_code == 200


def test_a_proof_is_accepted_once(env, clients, proof):
    _, clock, http = env
    once = proof()
    assert post(http, clients["dpop"], [once]).status_code == 200
    refused(post(http, clients["dpop"], [once]), "dpop_replay")
    refused(post(http, clients["bearer"], [once]), "dpop_replay")  # any client
    clock.advance(120)  # past the window: stale now, whatever the replay store holds
    refused(post(http, clients["dpop"], [once]), "dpop_stale")


def test_replay_is_refused_by_another_process(env, clients, proof, databases, db_kind):
    """The replay store is the database: a second issuer process (another worker or
    Lambda instance) on the same database refuses a proof the first accepted."""
    issuer, clock, http = env
    engine = make_engine(str(issuer.services.engine.url.render_as_string(hide_password=False)))
    other = build_services(issuer.settings, engine, issuer.services.throttle, clock=clock)
    try:
        with TestClient(create_app(issuer.settings, other)) as second:
            once = proof()
            assert post(http, clients["dpop"], [once]).status_code == 200
            refused(post(second, clients["dpop"], [once]), "dpop_replay")
    finally:
        engine.dispose()


def test_proof_not_spent_when_client_authentication_fails(env, clients, proof):
    _, _, http = env
    once = proof()
    client_id, _ = clients["dpop"]
    response = post(http, (client_id, "wrong secret"), [once])
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert post(http, clients["dpop"], [once]).status_code == 200


def test_introspection_shows_the_key_binding(env, clients, proof, key):
    _, _, http = env
    token = post(http, clients["dpop"], [proof()]).json()["access_token"]
    answer = http.post("/oauth2/introspect", data={"token": token}, auth=clients["dpop"]).json()
    assert answer["active"] is True
    assert answer["cnf"] == {"jkt": jwk_thumbprint(key, "ES256")}
    assert answer["token_type"] == "DPoP"
    bearer = post(http, clients["bearer"]).json()["access_token"]
    answer = http.post("/oauth2/introspect", data={"token": bearer},
                       auth=clients["bearer"]).json()
    assert "cnf" not in answer and answer["token_type"] == "Bearer"


def test_metadata_advertises_dpop(env):
    doc = env[2].get("/.well-known/oauth-authorization-server").json()
    assert doc["dpop_signing_alg_values_supported"] == [
        "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"]
    assert "none" not in doc["dpop_signing_alg_values_supported"]


def test_dpop_settings():
    from issuer.settings import SettingsError, load_settings

    base = {"ISSUER_URL": ISSUER_URL}
    settings = load_settings({**base, "ISSUER_DPOP_NONCE": "on", "ISSUER_DPOP_MAX_AGE": "30"},
                             env_file=None)
    assert (settings.dpop_nonce, settings.dpop_max_age) == (True, 30)
    assert load_settings(base, env_file=None).dpop_nonce is False
    for env in ({"ISSUER_DPOP_NONCE": "maybe"}, {"ISSUER_DPOP_MAX_AGE": "0"},
                {"ISSUER_DPOP_MAX_AGE": "3600"}):
        with pytest.raises(SettingsError):
            load_settings({**base, **env}, env_file=None)


# --- server nonces (RFC 9449 §8) ----------------------------------------------------


@pytest.fixture(scope="module")
def nonce_env(db_kind, databases, policy_file):
    issuer, clock = clocked_issuer(databases.new_url(db_kind), policy_file,
                                   ISSUER_DPOP_NONCE="on")
    client = issuer.client(["orders:read"], token_binding="dpop")
    with TestClient(issuer.app()) as http:
        yield clock, http, (client.client.client_id, client.client_secret)
    issuer.services.engine.dispose()


def test_server_nonce(nonce_env, key):
    clock, http, client = nonce_env

    def proof(nonce=None):
        return make_proof(key, "ES256", method="POST", url=HTU, iat=clock().timestamp(),
                          nonce=nonce)

    first = post(http, client, [proof()])  # no nonce yet: told which one to use
    refused(first, "", error="use_dpop_nonce")
    nonce = first.headers["dpop-nonce"]
    answer = post(http, client, [proof(nonce)])
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "DPoP"
    assert answer.headers["dpop-nonce"]  # the nonce for the next proof (§8.2)
    refused(post(http, client, [proof("forged" + nonce[6:])]), "", error="use_dpop_nonce")
    clock.advance(30)  # within its slot and the next: still good
    assert post(http, client, [proof(nonce)]).status_code == 200
    clock.advance(130)  # past both slots (60 s each): expired
    expired = post(http, client, [proof(nonce)])
    refused(expired, "", error="use_dpop_nonce")
    assert expired.headers["dpop-nonce"] != nonce
