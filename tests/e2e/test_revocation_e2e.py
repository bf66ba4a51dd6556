"""Revocation end to end: the real issuer app (in-process) revokes, the real authorizer
(its cold-start build) learns it from the signed list within the list TTL and refuses the
token, other tokens still pass; a forged list changes nothing. Clocks are injected."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_admin import clocked_issuer, token_for
from helpers.issuer_env import ISSUER_URL, ORDERS, write_policy
from helpers.mint import make_key, raw_token, sign_raw

from authorizer.coldstart import build_authorizer
from authorizer.log import DecisionLog
from authorizer.settings import MAX_LEEWAY, Settings
from issuer.audit import Actor
from issuer.clients import admin as client_admin
from issuer.oauth.access_token import mint_access_token
from issuer.store.models import Client
from shared.jws import parse_compact
from shared.policy import load_policy
from shared.revocation_list import client_key

TTL = 30
LIST_URI = ISSUER_URL + "/.well-known/revocations.jwt"
ARN = "arn:aws:execute-api:eu-west-1:123456789012:api1/prod/GET/orders/7"


class Monotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(tmp_path, request):
    leeway = getattr(request, "param", None)
    policy_file = write_policy(tmp_path)
    issuer, wall = clocked_issuer(f"sqlite:///{tmp_path / 'issuer.db'}", policy_file)
    with TestClient(issuer.app()) as http:
        tamper: dict[str, bytes] = {}
        fetched: list[str] = []

        def fetcher(uri: str) -> bytes:
            # The authorizer's GET, answered by the issuer app instead of the network
            # (or by a tampered body, standing in for a compromised cache or network).
            fetched.append(uri)
            if uri in tamper:
                return tamper[uri]
            answer = http.get(uri.removeprefix(ISSUER_URL))
            assert answer.status_code == 200
            return answer.content

        monotonic = Monotonic()
        lines: list[str] = []
        environ = {"AUTHORIZER_ISSUER": ISSUER_URL, "AUTHORIZER_AUDIENCE": ORDERS,
                   "AUTHORIZER_REVOCATION_TTL": str(TTL)}
        if leeway is not None:
            environ["AUTHORIZER_LEEWAY"] = str(leeway)
        settings = Settings.from_env(environ, cwd="/nonexistent")
        assert settings.revocation_uri == LIST_URI
        authorizer = build_authorizer(
            settings, fetcher=fetcher, clock=monotonic, wall_clock=lambda: wall().timestamp(),
            log=DecisionLog(lines.append), policy=load_policy(policy_file))
        yield issuer, wall, http, authorizer, monotonic, tamper, fetched, lines
    issuer.services.engine.dispose()


def call(authorizer, token: str) -> str:
    event = {"type": "TOKEN", "authorizationToken": "Bearer " + token, "methodArn": ARN}
    outcome = authorizer.evaluate(event)
    return outcome.reason


def new_client(issuer, name):
    new = issuer.client(["orders:read"], name=name)
    return new.client.client_id, new.client_secret


def test_revoked_at_the_issuer_refused_by_the_authorizer(world):
    issuer, wall, http, authorizer, monotonic, _, fetched, _ = world
    alice, bob = new_client(issuer, "alice"), new_client(issuer, "bob")
    revoked, kept, bobs = token_for(http, *alice), token_for(http, *alice), token_for(http, *bob)
    assert [call(authorizer, t) for t in (revoked, kept, bobs)] == ["granted"] * 3
    assert fetched == [ISSUER_URL + "/.well-known/jwks.json", LIST_URI]

    assert http.post("/oauth2/revoke", data={"token": revoked}, auth=alice).status_code == 200
    # The exposure window: until the list is refetched, the authorizer has not heard.
    monotonic.now += TTL - 1
    wall.advance(TTL - 1)
    assert call(authorizer, revoked) == "granted"
    monotonic.now += 1
    wall.advance(1)
    assert call(authorizer, revoked) == "revoked"  # a token cache hit, refused
    assert call(authorizer, kept) == "granted"
    assert call(authorizer, bobs) == "granted"
    assert fetched.count(LIST_URI) == 2  # once per TTL, not per request

    # Disabling a client revokes every token it holds, at the authorizer too.
    with issuer.services.sessions() as session:
        client_admin.update(session, issuer.services.policy, session.get(Client, bob[0]),
                            {"enabled": False}, Actor(id="test", source="local"), wall())
    monotonic.now += TTL
    wall.advance(TTL)
    assert call(authorizer, bobs) == "revoked"
    assert call(authorizer, kept) == "granted"
    # ... though the public list does not name bob: only a hash of his id (issue 15).
    published = http.get("/.well-known/revocations.jwt").text
    assert list(parse_compact(published).claims["clients"]) == [client_key(bob[0])]
    assert bob[0] not in published and bob[0] not in json.dumps(parse_compact(published).claims)


def _forgeries(issuer, wall):
    services = issuer.services
    now = int(wall().timestamp())
    with services.sessions() as session:
        signer = services.key_store.signer(session, wall())
    empty = {"iss": ISSUER_URL, "iat": now, "exp": now + 300, "jtis": {}, "clients": {}}
    header = {"alg": signer.alg, "typ": "revocation-list+jwt", "kid": signer.kid}
    attacker, _ = make_key(signer.alg)
    return {
        "signed_by_another_key": sign_raw(attacker, signer.alg, header, empty),
        "unsigned": raw_token({**header, "alg": "none"}, empty, b""),
        "wrong_issuer": sign_raw(signer.private_key, signer.alg, header,
                                 {**empty, "iss": "https://evil.test"}),
        "an_access_token": token_for_any(issuer),
    }


def token_for_any(issuer):
    # A genuine token of this issuer offered as the list: typ at+jwt, never adopted.
    services = issuer.services
    with services.sessions() as session:
        signer = services.key_store.signer(session, services.clock())
    return mint_access_token(signer, issuer=ISSUER_URL, client_id="x", audience=ORDERS,
                             scope="orders:read", lifetime=300,
                             now=int(services.clock().timestamp())).token


@pytest.mark.parametrize("forgery", ["signed_by_another_key", "unsigned", "wrong_issuer",
                                     "an_access_token"])
def test_forged_list_is_ignored(world, forgery):
    issuer, wall, http, authorizer, monotonic, tamper, _, lines = world
    alice = new_client(issuer, "alice")
    revoked, kept = token_for(http, *alice), token_for(http, *alice)
    http.post("/oauth2/revoke", data={"token": revoked}, auth=alice)
    assert call(authorizer, revoked) == "revoked"
    # The forged list would un-revoke the token (it is empty) or revoke everything.
    tamper[LIST_URI] = _forgeries(issuer, wall)[forgery].encode()
    monotonic.now += TTL
    wall.advance(1)
    assert call(authorizer, revoked) == "revoked"  # the last good list still holds
    assert call(authorizer, kept) == "granted"
    assert any('"revocation_list_refused"' in line for line in lines)


@pytest.mark.parametrize("world", [MAX_LEEWAY], indirect=True)
def test_revoked_token_refused_for_as_long_as_the_largest_leeway_accepts_it(world):
    """An authorizer with AUTHORIZER_LEEWAY at its maximum accepts a token until
    exp + 300 s (RFC 7519 §4.1.4): the revocation must hold that long."""
    issuer, wall, http, authorizer, monotonic, _, _, _ = world
    alice = new_client(issuer, "alice")
    token = token_for(http, *alice)
    exp = parse_compact(token).claims["exp"]
    assert http.post("/oauth2/revoke", data={"token": token}, auth=alice).status_code == 200
    for moment in (exp - 1, exp, exp + MAX_LEEWAY // 2, exp + MAX_LEEWAY - 1):
        wall.advance(moment - wall().timestamp())
        monotonic.now += TTL
        outcome = authorizer.evaluate(
            {"type": "TOKEN", "authorizationToken": "Bearer " + token, "methodArn": ARN}
        )
        assert outcome.reason == "revoked", moment - exp
    wall.advance(1)
    monotonic.now += TTL
    assert call(authorizer, token) == "expired"  # exp + leeway: refused as expired


@pytest.mark.parametrize("change", ["disable", "rotate"])
def test_stale_issuer_process_tokens_are_refused_fresh_ones_granted(world, change):
    """Another issuer process serving the client from its cache mints after the change:
    refused at the authorizer; the token fetched here right after is granted at once."""
    from issuer.http.app import create_app
    from issuer.oauth.throttle import FailureThrottle
    from issuer.services import build_services

    issuer, wall, http, authorizer, monotonic, _, _, _ = world
    second = build_services(issuer.settings, issuer.services.engine,
                            FailureThrottle(limit=1_000_000), clock=issuer.services.clock)
    with TestClient(create_app(issuer.settings, second)) as other:
        cid, secret = new_client(issuer, "flapping")
        old_secret = secret
        before = token_for(http, cid, secret)
        token_for(other, cid, secret)  # cached in the other process
        actor = Actor(id="test", source="local")
        with issuer.services.sessions() as session:
            client = session.get(Client, cid)
            if change == "disable":
                client_admin.update(session, issuer.services.policy, client,
                                    {"enabled": False}, actor, wall())
                client_admin.update(session, issuer.services.policy, session.get(Client, cid),
                                    {"enabled": True}, actor, wall())
            else:
                secret = client_admin.rotate_secret(session, issuer.services.hasher, client, 0,
                                                    actor, wall()).client_secret
        stale = token_for(other, cid, old_secret)  # its cached record still takes it
        fresh = token_for(http, cid, secret)
        monotonic.now += TTL
        assert call(authorizer, fresh) == "granted"
        assert call(authorizer, before) == "revoked"
        assert call(authorizer, stale) == "revoked"


def test_client_ids_are_random_enough_for_a_plain_hash():
    """The public list names clients by SHA-256 of their id, not a keyed hash
    (docs/revocation.md): sound only while every id is 128 random bits made by the
    issuer. A change of id scheme (ids chosen by people, federated names) fails here,
    and then needs a keyed hash instead."""
    from issuer.clients.registry import new_client_id

    ids = {new_client_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"c_[A-Za-z0-9_-]{22}", cid) for cid in ids)  # 16 random bytes
