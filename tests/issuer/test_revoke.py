"""POST /oauth2/revoke (RFC 7009) and client-wide revocation (disable, delete, secret
rotation without grace): what is revoked, what is left alone, and how long it is kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers.issuer_admin import bearer, token_for
from helpers.issuer_env import ISSUER_URL
from sqlalchemy import func, select

from issuer.audit import Actor
from issuer.clients import admin as client_admin
from issuer.oauth.revocation import VERIFIER_MAX_LEEWAY, revoke_client
from issuer.oauth.token_lifetime import MAX_TOKEN_LIFETIME
from issuer.store.models import Client, ClientRevocation
from issuer.store.revocation_tables import RevokedToken
from shared.jws import parse_compact


def new_client(env, name, scopes=("orders:read",)):
    new = env[0].client(list(scopes), name=name)
    return new.client.client_id, new.client_secret


@pytest.fixture(scope="module")
def alice(env):
    return new_client(env, "alice")


@pytest.fixture(scope="module")
def bob(env):
    return new_client(env, "bob")


def revoke(http, caller, token, **extra):
    return http.post("/oauth2/revoke", data={"token": token, **extra}, auth=caller)


def active(http, owner, token) -> bool:
    return http.post("/oauth2/introspect", data={"token": token}, auth=owner).json()["active"]


def count(issuer, model) -> int:
    with issuer.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_revoke_own_token(env, alice):
    _, _, http = env
    token, other = token_for(http, *alice), token_for(http, *alice)
    response = revoke(http, alice, token, token_type_hint="access_token")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert not active(http, alice, token)
    assert active(http, alice, other)  # only that token
    assert revoke(http, alice, token).status_code == 200  # idempotent (§2.2)


def test_refresh_token_hint_still_finds_the_access_token(env, alice):
    """§2.1: a wrong hint extends the search; never unsupported_token_type (§2.2.1)."""
    _, _, http = env
    token = token_for(http, *alice)
    assert revoke(http, alice, token, token_type_hint="refresh_token").status_code == 200
    assert not active(http, alice, token)
    assert revoke(http, alice, token, token_type_hint="something_else").status_code == 200


def test_another_clients_token_is_left_alone(env, alice, bob):
    _, _, http = env
    bobs = token_for(http, *bob)
    before = count(env[0], RevokedToken)
    response = revoke(http, alice, bobs)
    assert response.status_code == 200 and response.content == b""  # nothing leaked
    assert active(http, bob, bobs)
    assert count(env[0], RevokedToken) == before


def test_admin_may_revoke_any_token(env, bob):
    _, _, http = env
    admin = new_client(env, "admin", ("issuer:admin",))
    bobs = token_for(http, *bob)
    assert revoke(http, admin, bobs).status_code == 200
    assert not active(http, bob, bobs)


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_invalid_tokens_are_200(env, alice, token):
    before = count(env[0], RevokedToken)
    assert revoke(env[2], alice, token).status_code == 200
    assert count(env[0], RevokedToken) == before


def test_expired_token_is_200_and_not_stored(env, alice):
    issuer, clock, http = env
    token = token_for(http, *alice)
    clock.advance(issuer.settings.token_lifetime)
    before = count(issuer, RevokedToken)
    assert revoke(http, alice, token).status_code == 200
    assert count(issuer, RevokedToken) == before


def test_token_required_and_client_authentication_required(env, alice):
    _, _, http = env
    missing = http.post("/oauth2/revoke", data={}, auth=alice)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    token = token_for(http, *alice)
    for auth in (None, (alice[0], "wrong")):
        refused = http.post("/oauth2/revoke", data={"token": token}, auth=auth)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert active(http, alice, token)


def test_revoked_jti_kept_until_exp_plus_the_largest_leeway(env, alice):
    """A verifier with the largest leeway accepts a token until exp + 300 s (RFC 7519
    §4.1.4): the record, and the list entry, outlive the token by that much."""
    issuer, clock, http = env
    token = token_for(http, *alice)
    exp = parse_compact(token).claims["exp"]
    revoke(http, alice, token)
    jti = parse_compact(token).claims["jti"]
    moments = (exp, exp + VERIFIER_MAX_LEEWAY - 1)
    clock.advance(exp - clock().timestamp())
    for moment in moments:
        clock.advance(moment - clock().timestamp())
        revoke(http, alice, token_for(http, *alice))  # any write prunes what is no longer needed
        with issuer.services.sessions() as session:
            assert session.get(RevokedToken, jti) is not None, moment - exp
        listed = parse_compact(http.get("/.well-known/revocations.jwt").text).claims["jtis"]
        assert listed[jti] == exp
    clock.advance(1)  # exp + leeway: no verifier accepts the token any more
    revoke(http, alice, token_for(http, *alice))
    with issuer.services.sessions() as session:
        assert session.get(RevokedToken, jti) is None
        assert all(row.expires_at > clock() for row in session.scalars(select(RevokedToken)))
    assert jti not in parse_compact(http.get("/.well-known/revocations.jwt").text).claims["jtis"]


def test_issuer_leeway_bound_is_the_authorizers():
    from authorizer.settings import MAX_LEEWAY

    assert VERIFIER_MAX_LEEWAY == MAX_LEEWAY


# -- client-wide revocation --------------------------------------------------------------

ACTOR = Actor(id="test", source="local")


def _client(session, client_id) -> Client:
    return session.get(Client, client_id)


def test_disable_revokes_and_reenable_issues_fresh_tokens(env):
    issuer, clock, http = env
    carol = new_client(env, "carol")
    old = token_for(http, *carol)
    with issuer.services.sessions() as session:
        client_admin.update(session, issuer.services.policy, _client(session, carol[0]),
                            {"enabled": False}, ACTOR, clock())
        row = session.get(ClientRevocation, carol[0])
        assert row.reason == "disabled"
        # Past the longest token lifetime and the verifiers' largest leeway (plus
        # `stale_for`, the client cache TTL, which the admin API and the CLI give).
        lasts = MAX_TOKEN_LIFETIME + VERIFIER_MAX_LEEWAY
        assert row.expires_at == row.issued_before + timedelta(seconds=lasts)
        client_admin.update(session, issuer.services.policy, _client(session, carol[0]),
                            {"enabled": True}, ACTOR, clock())
    fresh = token_for(http, *carol)  # the same second as the revocation
    assert not active(http, carol, old)
    assert active(http, carol, fresh)


def test_rotation_without_grace_revokes_with_grace_does_not(env):
    issuer, clock, http = env
    dave = new_client(env, "dave")
    before_graceful = token_for(http, *dave)
    with issuer.services.sessions() as session:
        rotated = client_admin.rotate_secret(session, issuer.services.hasher,
                                             _client(session, dave[0]), 3600, ACTOR, clock())
    assert active(http, dave, before_graceful)
    with issuer.services.sessions() as session:
        assert session.get(ClientRevocation, dave[0]) is None
    dave = (dave[0], rotated.client_secret)
    old = token_for(http, *dave)
    with issuer.services.sessions() as session:
        rotated = client_admin.rotate_secret(session, issuer.services.hasher,
                                             _client(session, dave[0]), 0, ACTOR, clock())
    dave = (dave[0], rotated.client_secret)
    fresh = token_for(http, *dave)
    assert not active(http, dave, old)
    assert not active(http, dave, before_graceful)
    assert active(http, dave, fresh)


def test_delete_over_the_admin_api_revokes(env):
    issuer, _, http = env
    admin = new_client(env, "deleter", ("issuer:admin",))
    erin = new_client(env, "erin")
    token = token_for(http, *erin)
    admin_token = token_for(http, *admin)
    assert http.delete(f"/admin/clients/{erin[0]}", headers=bearer(admin_token)).status_code == 204
    with issuer.services.sessions() as session:
        assert session.get(ClientRevocation, erin[0]).reason == "deleted"
    body = http.post("/oauth2/introspect", data={"token": token}, auth=admin).json()
    assert body == {"active": False}


def test_disable_over_the_admin_api_revokes(env):
    _, _, http = env
    admin = new_client(env, "disabler", ("issuer:admin",))
    frank = new_client(env, "frank")
    token = token_for(http, *frank)
    response = http.patch(f"/admin/clients/{frank[0]}", json={"enabled": False},
                          headers=bearer(token_for(http, *admin)))
    assert response.status_code == 200
    assert http.post("/oauth2/introspect", data={"token": token},
                     auth=admin).json() == {"active": False}


def test_client_revocation_generations_only_grow_and_the_record_expires(env):
    issuer, clock, _ = env
    with issuer.services.sessions() as session:
        first = revoke_client(session, "c_gone", "deleted", clock())
        session.commit()
    with issuer.services.sessions() as session:
        # Even dated earlier (another process's clock), a later revocation is above.
        second = revoke_client(session, "c_gone", "deleted", clock() - timedelta(seconds=60))
        session.commit()
        assert second > first
        assert session.get(ClientRevocation, "c_gone").generation == second
    clock.advance(MAX_TOKEN_LIFETIME + VERIFIER_MAX_LEEWAY + 1)
    gina = new_client(env, "gina")
    token = token_for(env[2], *gina)
    revoke(env[2], gina, token)  # a write prunes
    with issuer.services.sessions() as session:
        assert session.get(ClientRevocation, "c_gone") is None
        # A revocation after the prune still numbers above every earlier one.
        assert revoke_client(session, "c_gone", "deleted", clock()) > second
        session.rollback()


def test_metadata_advertises_revocation(env):
    doc = env[2].get("/.well-known/oauth-authorization-server").json()
    assert doc["revocation_endpoint"] == ISSUER_URL + "/oauth2/revoke"
    assert "client_secret_basic" in doc["revocation_endpoint_auth_methods_supported"]
