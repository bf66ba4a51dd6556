"""private_key_jwt (RFC 7523 §2.2, §3) at the token endpoint: RS256 and ES256 assertions
work; replayed, expired, wrong-aud, none/HS*, unknown-kid, wrong iss/sub assertions are
`invalid_client` with the wrong-secret body (docs/threat-model.md §2); registration rules."""

from __future__ import annotations

import threading

import pytest
from helpers.client_assertion import JWT_BEARER, assertion_form, client_assertion
from helpers.issuer_env import ISSUER_URL, ORDERS
from helpers.mint import DROP, forge_hmac, forge_none, make_key, public_pem
from sqlalchemy import func, select

from issuer.clients.registry import ClientError, check_auth_method
from issuer.oauth.client_auth import TokenRequest
from issuer.oauth.errors import InvalidClient
from issuer.oauth.private_key_jwt import LEEWAY, PrivateKeyJwt
from issuer.store.replay_tables import ClientAssertionJti
from shared.jws import parse_compact

TOKEN_ENDPOINT = ISSUER_URL + "/oauth2/token"


@pytest.fixture(scope="module")
def keys():
    return {alg: make_key(alg, kid=f"{alg.lower()}-1") for alg in ("RS256", "ES256", "EdDSA")}


@pytest.fixture(scope="module")
def jwt_client(env, keys):
    issuer, _, _ = env
    jwks = {"keys": [jwk for _, jwk in keys.values()]}
    new = issuer.client(["orders:read"], auth_method="private_key_jwt", jwks=jwks, name="pkjwt")
    assert new.client_secret is None and new.client.secret_hash is None
    return new.client.client_id


@pytest.fixture
def assertion(env, keys, jwt_client):
    _, clock, _ = env

    def make(alg: str = "RS256", **kwargs) -> str:
        private, jwk = keys[alg]
        kwargs.setdefault("kid", jwk["kid"])
        kwargs.setdefault("audience", TOKEN_ENDPOINT)
        return client_assertion(private, alg, jwt_client, now=clock().timestamp(), **kwargs)

    return make


def post(http, form):
    return http.post("/oauth2/token", data=form)


def refused_like_a_wrong_secret(http, response):
    wrong = http.post("/oauth2/token", data={"grant_type": "client_credentials",
                                             "client_id": "c_nobody", "client_secret": "x"})
    assert response.status_code == 401, response.text
    assert response.json() == wrong.json() == {
        "error": "invalid_client", "error_description": "client authentication failed"}
    assert response.headers["www-authenticate"] == wrong.headers["www-authenticate"]


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_assertion_gets_a_token(env, assertion, jwt_client, alg):
    _, _, http = env
    response = post(http, assertion_form(assertion(alg)))
    assert response.status_code == 200, response.text
    claims = parse_compact(response.json()["access_token"]).claims
    assert claims["sub"] == claims["client_id"] == jwt_client
    assert claims["aud"] == ORDERS


@pytest.mark.parametrize("audience", [ISSUER_URL, [ISSUER_URL, "https://elsewhere.test"]])
def test_issuer_url_is_an_accepted_audience(env, assertion, audience):
    assert post(env[2], assertion_form(assertion(audience=audience))).status_code == 200


def test_client_id_parameter_may_name_the_same_client(env, assertion, jwt_client):
    form = assertion_form(assertion(), client_id=jwt_client)
    assert post(env[2], form).status_code == 200


def test_replayed_assertion_is_refused(env, assertion):
    _, _, http = env
    once = assertion()
    assert post(http, assertion_form(once)).status_code == 200
    refused_like_a_wrong_secret(http, post(http, assertion_form(once)))


def test_replay_is_refused_even_after_a_failed_grant(env, assertion):
    """The jti is spent when the client is authenticated, whatever the grant decides."""
    _, _, http = env
    once = assertion()
    assert post(http, assertion_form(once, scope="billing:read")).status_code == 400
    refused_like_a_wrong_secret(http, post(http, assertion_form(once)))


def _bad_assertions(make, keys, jwt_client, now):
    rsa, rsa_jwk = keys["RS256"]
    other, _ = make_key("RS256", kid=rsa_jwk["kid"])  # same kid, a key the client never had
    good = {"iss": jwt_client, "sub": jwt_client, "aud": TOKEN_ENDPOINT,
            "exp": int(now) + 60, "jti": "j-" + str(now)}
    return {
        "expired": make(exp=int(now) - 60),
        "expired_long_ago": make(exp=int(now) - 3600, iat=int(now) - 3700),
        "exp_missing": make(exp=DROP),
        "exp_a_string": make(exp=str(int(now) + 60)),
        "exp_too_far": make(exp=int(now) + 3600),
        "iat_in_future": make(iat=int(now) + 600),
        "nbf_in_future": make(nbf=int(now) + 600),
        "jti_missing": make(jti=DROP),
        "jti_empty": make(jti=""),
        "wrong_aud": make(audience="https://api.example.test/orders"),
        "aud_missing": make(aud=DROP),
        "wrong_iss": make(iss="c_someone_else"),
        "wrong_sub": make(sub="c_someone_else"),
        "iss_not_a_client": make(iss="../../etc", sub="../../etc"),
        "unknown_kid": make(kid="not-registered"),
        "no_kid_several_keys": make(kid=None),
        "other_key_same_kid": client_assertion(other, "RS256", jwt_client, TOKEN_ENDPOINT, now,
                                               kid=rsa_jwk["kid"]),
        "alg_none": forge_none(good, kid=rsa_jwk["kid"]),
        "alg_None": forge_none(good, alg="None", kid=rsa_jwk["kid"]),
        "hs256_with_public_key_bytes": forge_hmac(public_pem(rsa), good, kid=rsa_jwk["kid"]),
        "hs512_with_public_key_bytes": forge_hmac(public_pem(rsa), good, "HS512",
                                                  kid=rsa_jwk["kid"]),
        "alg_swapped_to_es256": make(header={"alg": "ES256"}),
        "crit": make(header={"crit": ["exp"]}),
        "truncated_signature": make()[:-6],
        "not_a_jwt": "not.a.jwt",
    }


BAD = [
    "expired", "expired_long_ago", "exp_missing", "exp_a_string", "exp_too_far",
    "iat_in_future", "nbf_in_future", "jti_missing", "jti_empty", "wrong_aud", "aud_missing",
    "wrong_iss", "wrong_sub", "iss_not_a_client", "unknown_kid", "no_kid_several_keys",
    "other_key_same_kid", "alg_none", "alg_None", "hs256_with_public_key_bytes",
    "hs512_with_public_key_bytes", "alg_swapped_to_es256", "crit", "truncated_signature",
    "not_a_jwt",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_assertion_is_invalid_client(env, assertion, keys, jwt_client, case):
    _, clock, http = env
    bad = _bad_assertions(assertion, keys, jwt_client, clock().timestamp())[case]
    refused_like_a_wrong_secret(http, post(http, assertion_form(bad)))


def test_wrong_assertion_type_is_invalid_client(env, assertion):
    form = assertion_form(assertion())
    form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    refused_like_a_wrong_secret(env[2], post(env[2], form))
    refused_like_a_wrong_secret(env[2], post(env[2], {"grant_type": "client_credentials",
                                                      "client_assertion_type": JWT_BEARER}))


def test_client_id_naming_another_client_is_invalid_client(env, assertion):
    form = assertion_form(assertion(), client_id="c_someone_else")
    refused_like_a_wrong_secret(env[2], post(env[2], form))


def test_combined_with_a_secret_is_invalid_request(env, assertion, jwt_client):
    _, _, http = env
    with_post = assertion_form(assertion(), client_id=jwt_client, client_secret="x")
    with_basic = http.post("/oauth2/token", data=assertion_form(assertion()),
                           auth=(jwt_client, "x"))
    for response in (post(http, with_post), with_basic):
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


def test_methods_do_not_cross(env, keys):
    """A secret never authenticates a private_key_jwt client, nor an assertion a secret
    client (even one signed with a key it might have published somewhere)."""
    issuer, clock, http = env
    private, jwk = keys["ES256"]
    secret_client = issuer.client(["orders:read"], name="secret")
    sid = secret_client.client.client_id
    forged = client_assertion(private, "ES256", sid, TOKEN_ENDPOINT, clock().timestamp(),
                              kid=jwk["kid"])
    refused_like_a_wrong_secret(http, post(http, assertion_form(forged)))
    jwt_only = issuer.client(["orders:read"], name="jwt", auth_method="private_key_jwt",
                             jwks={"keys": [jwk]})
    guess = {"grant_type": "client_credentials", "client_id": jwt_only.client.client_id,
             "client_secret": ""}
    refused_like_a_wrong_secret(http, post(http, guess))


def test_disabled_client_is_refused(env, keys):
    issuer, clock, http = env
    private, jwk = keys["ES256"]
    new = issuer.client(["orders:read"], name="off", auth_method="private_key_jwt",
                        jwks={"keys": [jwk]})
    with issuer.services.sessions() as session:
        session.merge(new.client).enabled = False
        session.commit()
    made = client_assertion(private, "ES256", new.client.client_id, TOKEN_ENDPOINT,
                            clock().timestamp())
    refused_like_a_wrong_secret(http, post(http, assertion_form(made)))


def test_single_key_without_kid(env, keys):
    issuer, clock, http = env
    private, jwk = keys["ES256"]
    bare = {k: v for k, v in jwk.items() if k != "kid"}
    new = issuer.client(["orders:read"], name="bare", auth_method="private_key_jwt",
                        jwks={"keys": [bare]})
    made = client_assertion(private, "ES256", new.client.client_id, TOKEN_ENDPOINT,
                            clock().timestamp())
    assert post(http, assertion_form(made)).status_code == 200


def test_concurrent_replays_exactly_one_wins(env, keys, jwt_client):
    """The replay store's primary key decides: of many requests racing with one
    assertion, one is authenticated, the others are invalid_client."""
    issuer, clock, _ = env
    services = issuer.services
    private, jwk = keys["ES256"]
    once = client_assertion(private, "ES256", jwt_client, TOKEN_ENDPOINT, clock().timestamp(),
                            kid=jwk["kid"])
    request = TokenRequest(form=assertion_form(once), authorization=None)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def attempt():
        with services.sessions() as session:
            barrier.wait()
            try:
                services.authenticator.authenticate(request, session)
                outcomes.append("ok")
            except InvalidClient as exc:
                outcomes.append(exc.debug or "")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] + ["replayed"] * 7


def test_spent_jtis_are_pruned_after_expiry(env, keys, jwt_client):
    issuer, clock, _ = env
    services = issuer.services
    method = PrivateKeyJwt(ISSUER_URL, TOKEN_ENDPOINT, clock=clock, leeway=5)
    private, jwk = keys["ES256"]

    def authenticate():
        made = client_assertion(private, "ES256", jwt_client, TOKEN_ENDPOINT,
                                clock().timestamp(), kid=jwk["kid"])
        with services.sessions() as session:
            method.authenticate(TokenRequest(assertion_form(made), None), session)

    def stored():
        with services.sessions() as session:
            return session.scalar(select(func.count()).select_from(ClientAssertionJti))

    authenticate()
    assert stored() >= 1
    clock.advance(120 + LEEWAY + 1)  # past every assertion's exp + leeway made so far
    authenticate()
    assert stored() == 1  # only the new one


def test_metadata_advertises_private_key_jwt(env):
    doc = env[2].get("/.well-known/oauth-authorization-server").json()
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    algs = doc["token_endpoint_auth_signing_alg_values_supported"]
    assert {"RS256", "ES256", "PS256", "EdDSA"} <= set(algs)
    assert not any(alg.upper().startswith("HS") or alg.lower() == "none" for alg in algs)


# -- registration ----------------------------------------------------------------------


def test_registration_rules(keys):
    _, rsa_jwk = keys["RS256"]
    _, ec_jwk = keys["ES256"]
    bare = [{k: v for k, v in jwk.items() if k != "kid"} for jwk in (rsa_jwk, ec_jwk)]
    private_jwk = {**ec_jwk, "d": "AAAA"}
    cases = {
        "secret client with keys": ("client_secret", {"keys": [ec_jwk]}),
        "unknown method": ("client_secret_jwt", None),
        "no jwks": ("private_key_jwt", None),
        "not a JWK Set": ("private_key_jwt", {"kty": "EC"}),
        "empty": ("private_key_jwt", {"keys": []}),
        "private member": ("private_key_jwt", {"keys": [private_jwk]}),
        "symmetric": ("private_key_jwt", {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        "several without kid": ("private_key_jwt", {"keys": bare}),
        "duplicate kid": ("private_key_jwt", {"keys": [ec_jwk, ec_jwk]}),
        "encryption key": ("private_key_jwt", {"keys": [{**ec_jwk, "use": "enc"}]}),
    }
    for name, (method, jwks) in cases.items():
        with pytest.raises(ClientError):
            check_auth_method(method, jwks)
            pytest.fail(name)
    assert check_auth_method("client_secret", None) is None
    assert check_auth_method("private_key_jwt", {"keys": [ec_jwk]}) == {"keys": [ec_jwk]}


def test_cli_registers_a_private_key_jwt_client(tmp_path, monkeypatch, policy_file, capsys,
                                                keys):
    import json

    from issuer.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("ISSUER_KEY_ENCRYPTION_KEY", "ISSUER_ENV", "ISSUER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ISSUER_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("POLICY_FILE", str(policy_file))
    assert main(["db", "upgrade"]) == 0
    jwks_file = tmp_path / "client-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [keys["ES256"][1]]}))
    capsys.readouterr()
    argv = ["clients", "create", "--name", "signer", "--scope", "orders:read",
            "--auth-method", "private_key_jwt", "--jwks-file", str(jwks_file), "--json"]
    assert main(argv) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["auth_method"] == "private_key_jwt"
    assert created["jwks"] == {"keys": [keys["ES256"][1]]}
    assert "client_secret" not in created
    # A private key file is refused with a message, and nothing is registered.
    jwks_file.write_text(json.dumps({"keys": [{**keys["ES256"][1], "d": "AAAA"}]}))
    assert main(argv) != 0
    assert "private key material" in capsys.readouterr().err
