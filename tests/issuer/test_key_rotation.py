"""Signing-key rotation on an injected clock (no sleeps).

Over a whole lifecycle (rotate by the admin API, then by the scheduled job) every token
verifies with the shared verifier against the published JWKS until it expires, a
verifier holding a JWKS for the cache TTL never meets an unknown kid, and no token is
signed by a key that was not in a JWKS snapshot taken at least the TTL earlier."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_admin import ADMIN, bearer, clocked_issuer, token_for
from helpers.issuer_env import ISSUER_URL, ORDERS

from issuer.keys.admin import rotate_if_due
from issuer.keys.lifecycle import KeySchedule
from issuer.oauth.token_lifetime import MAX_TOKEN_LIFETIME
from shared.claims import AccessTokenRules
from shared.errors import TokenError
from shared.jwk import PRIVATE_JWK_MEMBERS, KeySet
from shared.verify import AccessTokenVerifier

TTL = 300
RULES = AccessTokenRules(issuer=ISSUER_URL, audiences={ORDERS})
PRIVATE = PRIVATE_JWK_MEMBERS | {"private_key", "private_key_encrypted"}


@dataclass
class Issued:
    at: float
    kid: str
    token: str
    exp: float


class World:
    """The issuer, a clock, and what verifiers saw: JWKS snapshots and issued tokens."""

    def __init__(self, issuer, clock, http, reader, admin):
        self.issuer, self.clock, self.http = issuer, clock, http
        self.reader, self.admin = reader, admin
        self.snapshots: list[tuple[float, dict]] = []
        self.tokens: list[Issued] = []
        self.cached: tuple[float, KeySet] | None = None  # an authorizer's JWKS cache

    def now(self) -> float:
        return self.clock().timestamp()

    def jwks(self) -> dict:
        doc = self.http.get("/.well-known/jwks.json").json()
        self.snapshots.append((self.now(), doc))
        return doc

    def issue(self) -> Issued:
        token = token_for(self.http, self.reader.client.client_id, self.reader.client_secret)
        verified = self.verify_cached(token)
        issued = Issued(self.now(), verified.claims["kid"], token, verified.exp)
        self.tokens.append(issued)
        return issued

    def verify_cached(self, token: str):
        """As an authorizer would: a JWKS fetched at most TTL ago, no refetch on a miss."""
        if self.cached is None or self.now() - self.cached[0] >= TTL:
            self.cached = (self.now(), KeySet.from_jwks(self.jwks()))
        header_kid = _kid(token)
        verified = AccessTokenVerifier(RULES, self.cached[1].get).verify(token, self.now())
        verified.claims["kid"] = header_kid
        return verified

    def check_live_tokens(self) -> None:
        keys = KeySet.from_jwks(self.jwks())
        verifier = AccessTokenVerifier(RULES, keys.get)
        for issued in self.tokens:
            if issued.exp > self.now():
                verifier.verify(issued.token, self.now())  # raises if its key left early
            else:
                with pytest.raises(TokenError):
                    verifier.verify(issued.token, self.now())

    def admin_headers(self) -> dict[str, str]:
        return bearer(token_for(self.http, self.admin.client.client_id, self.admin.client_secret))

    def run(self, seconds: float, step: float) -> None:
        end = self.now() + seconds
        while self.now() < end:
            self.clock.advance(step)
            self.issue()
            self.check_live_tokens()


def _kid(token: str) -> str:
    import base64
    import json

    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]


@pytest.fixture
def world(db_kind, databases, policy_file):
    issuer, clock = clocked_issuer(databases.new_url(db_kind), policy_file)
    with TestClient(issuer.app()) as http:
        reader = issuer.client(["orders:read"], name="reader")
        admin = issuer.client([ADMIN], name="admin")
        w = World(issuer, clock, http, reader, admin)
        w.jwks()
        clock.advance(TTL)  # the first key, too, signs only once published for the TTL
        yield w
    issuer.services.engine.dispose()


def statuses(world: World) -> dict[str, str]:
    keys = world.http.get("/admin/keys", headers=world.admin_headers()).json()["items"]
    return {k["kid"]: k["status"] for k in keys}


def test_rotation_lifecycle(world):
    first = world.issue().kid
    world.run(900, 60)

    response = world.http.post("/admin/keys/rotate", headers=world.admin_headers())
    assert response.status_code == 201, response.text
    second = response.json()["key"]["kid"]
    assert response.json()["key"]["status"] == "next"
    again = world.http.post("/admin/keys/rotate", headers=world.admin_headers())
    assert again.status_code == 200 and again.json()["key"]["kid"] == second  # one pending

    # Published at once, not signing until it has been published for the TTL.
    assert second in {k["kid"] for k in world.jwks()["keys"]}
    world.run(TTL - 60, 60)
    assert {t.kid for t in world.tokens} == {first}
    world.run(120, 60)
    assert world.tokens[-1].kid == second
    assert statuses(world) == {first: "retiring", second: "active"}

    # The retiring key stays published while its tokens live, and then some.
    world.run(3 * 3600, 300)
    assert first in {k["kid"] for k in world.jwks()["keys"]}
    world.run(MAX_TOKEN_LIFETIME + TTL - 3 * 3600, 1800)
    assert statuses(world) == {first: "retired", second: "active"}
    assert first not in {k["kid"] for k in world.jwks()["keys"]}

    # The scheduled job: nothing due yet, then due after ISSUER_KEY_ROTATION_DAYS.
    settings, kek = world.issuer.settings, world.issuer.services.kek
    schedule, alg = KeySchedule.from_settings(settings), settings.signing_alg
    with world.issuer.services.sessions() as session:
        report = rotate_if_due(session, schedule, kek, alg, world.clock())
        assert report.rotation is None and report.reason == "not due"
        world.clock.advance(settings.key_rotation_days * 86400)
        report = rotate_if_due(session, schedule, kek, alg, world.clock())
        assert report.rotation is not None and report.rotation.created
        third = report.rotation.key.kid
    world.issuer.services.key_store.invalidate()
    world.cached = None  # a month passed: any verifier has refetched by now
    world.jwks()
    world.run(TTL + 60, 60)
    assert world.tokens[-1].kid == third
    assert statuses(world)[third] == "active"

    assert_never_signed_by_an_unpublished_key(world)
    audit = world.http.get("/admin/audit", headers=world.admin_headers()).json()["items"]
    assert [r["action"] for r in audit[:2]] == ["key.rotate", "key.rotate"]
    assert audit[0]["actor"] == "system:key-schedule"
    assert audit[1]["actor"] == world.admin.client.client_id


def assert_never_signed_by_an_unpublished_key(world: World) -> None:
    for issued in world.tokens:
        published_early = [
            at for at, doc in world.snapshots
            if at <= issued.at - TTL and issued.kid in {k["kid"] for k in doc["keys"]}
        ]
        assert published_early, f"token at {issued.at} signed by {issued.kid} unpublished"


def test_key_listing_is_public_metadata_only(world):
    world.http.post("/admin/keys/rotate", headers=world.admin_headers())
    response = world.http.get("/admin/keys", headers=world.admin_headers())
    assert response.status_code == 200
    keys = response.json()["items"]
    assert [k["status"] for k in keys] == ["next", "active"]
    for key in keys:
        assert not PRIVATE & set(key)
        assert {"kid", "alg", "status", "created_at", "activated_at", "retiring_at",
                "retired_at"} <= set(key)
    pending = keys[0]
    assert pending["activates_at"] is not None and pending["activated_at"] is None
    assert "PRIVATE" not in response.text and "private" not in response.text
