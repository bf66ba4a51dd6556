"""The authorizer's revocation list: which documents are adopted, how often they are
fetched, and that listed tokens are refused (`revoked`) on cache hits as on misses."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from helpers.mint import make_key, public_pem, raw_token, sign_raw, signing_input

from authorizer import revocation
from authorizer.coldstart import build_authorizer
from authorizer.log import DecisionLog
from authorizer.revocation import NO_LIST_RETRY, RevocationCache
from authorizer.settings import ConfigError, Settings
from shared.b64 import b64url_encode
from shared.errors import KeySetError, TokenError
from shared.jwk import KeySet
from shared.jws import parse_compact
from shared.revocation_list import MAX_LIST_BYTES, client_key, parse_revocation_list

ISSUER = "https://issuer.example.com"  # as in conftest.py
AUDIENCE = "https://api.example.com/orders"
TYP = "revocation-list+jwt"


def signed_list(key, *, iat, jtis=None, clients=None, raw_clients=None, lifetime=300,
                kid="rsa-1", alg="RS256", typ=TYP, seq=None, **extra):
    """`clients` by client id, published as the issuer does (`client_key`); `raw_clients`
    as given."""
    header = {"alg": alg, "typ": typ, "kid": kid}
    if raw_clients is None:
        raw_clients = {client_key(cid): gen for cid, gen in (clients or {}).items()}
    claims = {"iss": ISSUER, "iat": iat, "exp": iat + lifetime,
              "seq": iat if seq is None else seq, "jtis": jtis or {},
              "clients": raw_clients, **extra}
    return sign_raw(key, alg, header, claims).encode()


class ListServer:
    """The revocation list fetcher: serves `body` (or fails while `down`), counting."""

    def __init__(self, body: bytes | None = None) -> None:
        self.body = body
        self.down = False
        self.calls = 0

    def __call__(self, uri: str) -> bytes:
        self.calls += 1
        if self.down or self.body is None:
            raise KeySetError("revocation list fetch failed: connection refused")
        return self.body


@pytest.fixture
def keys(rsa_key):
    return KeySet.from_jwks({"keys": [rsa_key[1]]})


# -- adopting a document -----------------------------------------------------------------


def test_good_list_is_adopted(rsa_key, keys):
    body = signed_list(rsa_key[0], iat=1000, seq=7, jtis={"j1": 2000}, clients={"c1": 990})
    parsed = parse_revocation_list(body, keys.get, ISSUER, now=1001)
    assert parsed.jtis == {"j1": 2000} and parsed.iat == 1000 and parsed.seq == 7
    assert parsed.clients == {"0PYxyh3bqNs7z8ueBXzcmA": 990}


# SHA-256("c1") = d0f631ca1ddba8db3bcfcb9e057cdc98d0379f1b..., its first 16 bytes in base64url.
# Pinned: the issuer and every authorizer must compute the same key.
def test_client_key_is_sha256_cut_to_128_bits_base64url():
    assert client_key("c1") == "0PYxyh3bqNs7z8ueBXzcmA"
    assert len(client_key("c_" + "x" * 22)) == 22
    assert client_key("\ud800") != client_key("\ud801")  # a lone surrogate: no exception


def hmac_list(secret: bytes, header: dict, claims: dict) -> bytes:
    """Key confusion (CVE-2016-10555): HMAC keyed with the public key's PEM bytes."""
    data = signing_input(header, claims)
    return data + b"." + b64url_encode(hmac.new(secret, data, hashlib.sha256).digest()).encode()


def _bad_documents(private):
    other, _ = make_key("RS256", kid="rsa-1")  # right kid, wrong key
    good = {"iss": ISSUER, "iat": 1000, "exp": 1300, "seq": 1, "jtis": {}, "clients": {}}
    header = {"alg": "RS256", "typ": TYP, "kid": "rsa-1"}
    return {
        "signed_by_another_key": (signed_list(other, iat=1000), "bad_signature"),
        "unsigned": (raw_token({**header, "alg": "none"}, good, b"").encode(), "alg_not_allowed"),
        "hs256_with_public_key": (hmac_list(public_pem(private), {**header, "alg": "HS256"},
                                            good), "alg_not_allowed"),
        "unknown_kid": (signed_list(private, iat=1000, kid="nope"), "unknown_kid"),
        "wrong_issuer": (signed_list(private, iat=1000, iss="https://evil.test"), "wrong_issuer"),
        "access_token_typ": (signed_list(private, iat=1000, typ="at+jwt"), "wrong_typ"),
        "no_typ": (sign_raw(private, "RS256", {"alg": "RS256", "kid": "rsa-1"}, good).encode(),
                   "wrong_typ"),
        "expired": (signed_list(private, iat=500, lifetime=300), "expired"),
        "from_the_future": (signed_list(private, iat=2000), "not_yet_valid"),
        "jtis_a_list": (signed_list(private, iat=1000, jtis=["j1"]), "bad_claim"),
        "clients_with_strings": (signed_list(private, iat=1000, clients={"c": "990"}),
                                 "bad_claim"),
        # An issuer from before client keys: ids in clear would silently match nothing.
        "clients_in_clear": (signed_list(private, iat=1000, raw_clients={"c_abc": 5}),
                             "bad_claim"),
        "client_key_not_canonical": (signed_list(private, iat=1000,
                                                 raw_clients={"0PYxyh3bqNs7z8ueBXzcmB": 5}),
                                     "bad_claim"),
        "exp_missing": (sign_raw(private, "RS256", header, {**good, "exp": None}).encode(),
                        "bad_claim"),
        "crit": (sign_raw(private, "RS256", {**header, "crit": ["x"]}, good).encode(),
                 "crit_unsupported"),
        "clients_with_floats": (signed_list(private, iat=1000, clients={"c": 9.5}), "bad_claim"),
        "seq_missing": (sign_raw(private, "RS256", header, {**good, "seq": None}).encode(),
                        "bad_claim"),
        "seq_a_float": (signed_list(private, iat=1000, seq=1.5), "bad_claim"),
        "seq_a_bool": (signed_list(private, iat=1000, seq=True), "bad_claim"),
        "seq_negative": (signed_list(private, iat=1000, seq=-1), "bad_claim"),
        "not_a_jws": (b"<html>502 Bad Gateway</html>", "malformed"),
        "json": (json.dumps(good).encode(), "malformed"),
        "too_large": (b"a" * (MAX_LIST_BYTES + 1), "too_large"),
    }


@pytest.mark.parametrize("case", ["signed_by_another_key", "unsigned", "hs256_with_public_key",
                                  "unknown_kid", "wrong_issuer", "access_token_typ", "no_typ",
                                  "expired", "from_the_future", "jtis_a_list",
                                  "clients_with_strings", "clients_in_clear",
                                  "client_key_not_canonical", "exp_missing", "crit", "not_a_jws",
                                  "clients_with_floats", "seq_missing", "seq_a_float",
                                  "seq_a_bool", "seq_negative",
                                  "json", "too_large"])
def test_untrusted_documents_are_refused(rsa_key, keys, case):
    body, code = _bad_documents(rsa_key[0])[case]
    with pytest.raises(TokenError) as refused:
        parse_revocation_list(body, keys.get, ISSUER, now=1001)
    assert refused.value.code == code


# -- the cache ---------------------------------------------------------------------------


def make_cache(rsa_key, server, fake_clock, ttl=30, wall=1000.0, fail_closed=True):
    keys = KeySet.from_jwks({"keys": [rsa_key[1]]})
    clock, wall_clock, events = fake_clock(), fake_clock(wall), []
    cache = RevocationCache(uri=ISSUER + "/.well-known/revocations.jwt", issuer=ISSUER,
                            key_lookup=keys.get, ttl=ttl, fetcher=server, clock=clock,
                            wall_clock=wall_clock, log=lambda *a, **k: events.append((a, k)),
                            fail_closed=fail_closed)
    return cache, clock, wall_clock, events


def test_refresh_at_most_once_per_ttl(rsa_key, fake_clock):
    server = ListServer(signed_list(rsa_key[0], iat=1000, jtis={"j1": 5000}))
    cache, clock, _, _ = make_cache(rsa_key, server, fake_clock)
    assert server.calls == 0  # nothing at construction: no network at cold start
    assert cache.revoked("c", "j1", 900) and server.calls == 1
    for _ in range(100):
        cache.revoked("c", "j2", 900)
    assert server.calls == 1
    clock.advance(30)
    cache.revoked("c", "j2", 900)
    assert server.calls == 2


def test_rules_of_the_check(rsa_key, fake_clock):
    server = ListServer(signed_list(rsa_key[0], iat=1000, jtis={"j1": 5000},
                                    clients={"gone": 990}))
    cache, _, _, _ = make_cache(rsa_key, server, fake_clock)
    assert cache.revoked("any", "j1", 995)  # listed jti
    assert cache.revoked("gone", "j9", 989)  # minted from an older client record
    assert cache.revoked("gone", "j9", 0)  # no `gen` claim: the oldest
    assert cache.revoked("gone", None, 0)
    assert cache.revoked("gone", "j9", "990")  # not an integer: cannot show it is newer
    assert not cache.revoked("gone", "j9", 990)  # minted after the revocation
    assert not cache.revoked("gone", "j9", 991)
    assert not cache.revoked("other", "j2", 0)


def test_client_keys_are_remembered_per_client_and_bounded(rsa_key, fake_clock, monkeypatch):
    """The hash is paid once per client id, not per decision; the memo never grows past
    MAX_CLIENT_KEYS (ids come from verified tokens, but the bound does not rely on it)."""
    server = ListServer(signed_list(rsa_key[0], iat=1000, clients={"gone": 990}))
    cache, _, _, _ = make_cache(rsa_key, server, fake_clock)
    hashed = []
    monkeypatch.setattr(revocation, "client_key", lambda cid: hashed.append(cid) or client_key(cid))
    for _ in range(3):
        assert cache.revoked("gone", "j", 0) and not cache.revoked("kept", "j", 0)
    assert hashed == ["gone", "kept"]
    monkeypatch.setattr(revocation, "MAX_CLIENT_KEYS", 4)
    for i in range(10):
        cache.revoked(f"c{i}", "j", 0)
        assert len(cache._client_keys) <= 4
    assert cache.revoked("gone", "j", 0)  # forgotten, hashed again: same answer


def test_issuer_down_keeps_the_last_good_list(rsa_key, fake_clock):
    server = ListServer(signed_list(rsa_key[0], iat=1000, jtis={"j1": 5000}))
    cache, clock, _, events = make_cache(rsa_key, server, fake_clock)
    assert cache.revoked("c", "j1", 900)
    server.down = True
    clock.advance(30)
    assert cache.revoked("c", "j1", 900) and server.calls == 2
    assert events[-1][0][:2] == ("error", "revocation_list_fetch_failed")
    clock.advance(10)
    cache.revoked("c", "j1", 900)
    assert server.calls == 2  # a failure waits a TTL too: one bounded wait per TTL


def test_forged_stale_and_older_lists_are_ignored(rsa_key, fake_clock):
    private = rsa_key[0]
    server = ListServer(signed_list(private, iat=1000, jtis={"j1": 5000}))
    cache, clock, wall, events = make_cache(rsa_key, server, fake_clock)
    assert cache.revoked("c", "j1", 900)
    forged_by, _ = make_key("RS256", kid="rsa-1")
    for body in (signed_list(forged_by, iat=1010),  # would un-revoke j1
                 signed_list(private, iat=1010, iss="https://evil.test"),
                 raw_token({"alg": "none", "typ": TYP}, {"iss": ISSUER}, b"").encode()):
        server.body = body
        clock.advance(30)
        wall.advance(30)
        assert cache.revoked("c", "j1", 900)
        assert events[-1][0][:2] == ("error", "revocation_list_refused")
    server.body = signed_list(private, iat=990)  # genuine, but older than the list held
    clock.advance(30)
    assert cache.revoked("c", "j1", 900)
    assert events[-1][0][:2] == ("warning", "revocation_list_not_newer")
    server.body = signed_list(private, iat=int(wall()), jtis={})  # a newer genuine list
    clock.advance(30)
    assert not cache.revoked("c", "j1", 900)


def test_a_list_of_the_same_second_replaces_only_with_a_higher_seq(rsa_key, fake_clock):
    """Two genuine lists signed in the same second: `iat` cannot order them, `seq` does.
    Replaying the older one (a cache, an attacker on the path) rolls nothing back."""
    private = rsa_key[0]
    older = signed_list(private, iat=1000, seq=41, jtis={})
    newer = signed_list(private, iat=1000, seq=42, jtis={"j1": 5000})
    server = ListServer(newer)
    cache, clock, _, events = make_cache(rsa_key, server, fake_clock)
    assert cache.revoked("c", "j1", 0)
    for body, event in ((older, "revocation_list_not_newer"), (newer, None)):
        server.body = body
        clock.advance(30)
        assert cache.revoked("c", "j1", 0)
        assert cache.current.seq == 42
        if event:
            assert events[-1][0][:2] == ("warning", event)
    server.body = signed_list(private, iat=1000, seq=43, jtis={})  # strictly newer
    clock.advance(30)
    assert not cache.revoked("c", "j1", 0)


def test_a_held_list_is_never_forgotten(rsa_key, fake_clock):
    """Unreachable issuer, a list too large, a refused one, the held list's own exp
    passed: the held list keeps refusing, and each failure is an error line."""
    server = ListServer(signed_list(rsa_key[0], iat=1000, jtis={"j1": 5000},
                                    clients={"gone": 7}))
    cache, clock, wall, events = make_cache(rsa_key, server, fake_clock)
    assert cache.revoked("c", "j1", 0)

    def too_large(uri):
        raise KeySetError(f"revocation list larger than {MAX_LIST_BYTES} bytes")

    for fetcher in (too_large, ListServer(b"garbage"), ListServer(None)):
        cache._fetch = fetcher
        clock.advance(30)
        wall.advance(600)  # the held list's exp (iat + 300) is long past
        assert cache.revoked("c", "j1", 0) and cache.revoked("gone", "j2", 6)
        assert events[-1][0][0] == "error"
        assert events[-1][1]["serving"] == 2


def test_no_list_yet_fail_closed_refuses_everything_and_retries_soon(rsa_key, fake_clock):
    server = ListServer(None)
    cache, clock, _, events = make_cache(rsa_key, server, fake_clock)
    with pytest.raises(TokenError) as refused:
        cache.revoked("c", "j1", 0)
    assert refused.value.code == "revocation_unavailable"
    assert events[-1][0][:2] == ("error", "revocation_list_fetch_failed")
    clock.advance(NO_LIST_RETRY)  # not a whole TTL: it refuses everything meanwhile
    with pytest.raises(TokenError):
        cache.revoked("c", "j1", 0)
    assert server.calls == 2
    server.body = signed_list(rsa_key[0], iat=1000)
    clock.advance(NO_LIST_RETRY)
    assert not cache.revoked("c", "j1", 0)
    clock.advance(NO_LIST_RETRY)
    cache.revoked("c", "j1", 0)
    assert server.calls == 3  # a list held: back to one refresh per TTL


def test_no_list_yet_fail_open_refuses_nothing(rsa_key, fake_clock):
    cache, _, _, events = make_cache(rsa_key, ListServer(None), fake_clock, fail_closed=False)
    assert not cache.revoked("c", "j1", 0)
    assert events[-1][0][:2] == ("error", "revocation_list_fetch_failed")


# -- in the decision ---------------------------------------------------------------------


def test_cached_token_is_refused_once_listed(make_harness, rsa_key, policy, events):
    h = make_harness()  # keys, clocks and the token minting of the other authorizer tests
    server = ListServer(None)
    environ = {"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE,
               "AUTHORIZER_REVOCATION_TTL": "10"}
    h.authorizer = build_authorizer(
        Settings.from_env({**environ, "AUTHORIZER_REVOCATION_FAIL": "open"}, cwd="/nonexistent"),
        fetcher=h.issuer, clock=h.clock, wall_clock=h.wall, log=DecisionLog(h.out.write),
        policy=policy, revocation_fetcher=server)
    event = events("powertools-token")
    revoked, kept = h.token(), h.token()
    assert h.handler(event.with_token(revoked))["principalId"] == "client-1"
    assert h.handler(event.with_token(kept))
    assert server.calls == 1  # tried once (nothing served yet), not per request
    jti = parse_compact(revoked).claims["jti"]
    server.body = signed_list(rsa_key[0], iat=int(h.wall()), jtis={jti: int(h.wall()) + 300})
    h.handler(event.with_token(revoked))  # still inside the TTL: no list yet, fail open
    h.clock.advance(10)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        h.handler(event.with_token(revoked))  # a token cache hit, refused all the same
    assert h.last()["reason"] == "revoked"
    assert h.handler(event.with_token(kept))  # other tokens still pass
    assert server.calls == 2


def test_fail_closed_by_default_until_a_list_arrives(make_harness, rsa_key, policy, events):
    h = make_harness()
    server = ListServer(None)
    environ = {"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE}
    h.authorizer = build_authorizer(
        Settings.from_env(environ, cwd="/nonexistent"), fetcher=h.issuer, clock=h.clock,
        wall_clock=h.wall, log=DecisionLog(h.out.write), policy=policy,
        revocation_fetcher=server)
    event = events("powertools-token")
    token = h.token()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        h.handler(event.with_token(token))
    assert h.last()["reason"] == "revocation_unavailable"
    server.body = signed_list(rsa_key[0], iat=int(h.wall()))
    h.clock.advance(NO_LIST_RETRY)
    assert h.handler(event.with_token(token))["principalId"] == "client-1"


def test_an_issuer_token_with_an_old_generation_is_refused(make_harness, policy, events,
                                                            rsa_key):
    h = make_harness()
    list_ = signed_list(rsa_key[0], iat=int(h.wall()), clients={"client-1": 50})
    h.authorizer = build_authorizer(
        Settings.from_env({"AUTHORIZER_ISSUER": ISSUER, "AUTHORIZER_AUDIENCE": AUDIENCE},
                          cwd="/nonexistent"),
        fetcher=h.issuer, clock=h.clock, wall_clock=h.wall, log=DecisionLog(h.out.write),
        policy=policy, revocation_fetcher=ListServer(list_))
    event = events("powertools-token")
    for claims, reason in (({}, "revoked"), ({"gen": 49}, "revoked"), ({"gen": "50"}, "revoked"),
                           ({"gen": 50}, "granted"), ({"gen": 51}, "granted")):
        h.authorizer.evaluate(event.with_token(h.token(**claims)))
        assert h.authorizer.evaluate(event.with_token(h.token(**claims))).reason == reason


# -- settings ----------------------------------------------------------------------------


def settings(**env):
    return Settings.from_env({"AUTHORIZER_ISSUER": ISSUER + "/", "AUTHORIZER_AUDIENCE": AUDIENCE,
                              **env}, cwd="/nonexistent")


def test_settings():
    default = settings()
    assert default.revocation_uri == ISSUER + "/.well-known/revocations.jwt"
    assert default.revocation_ttl == 30
    assert settings(AUTHORIZER_REVOCATION_URI="off").revocation_uri is None
    assert settings(AUTHORIZER_REVOCATION_URI="").revocation_uri is None
    assert settings(AUTHORIZER_REVOCATION_TTL="5").revocation_ttl == 5
    assert default.revocation_fail == "closed"
    assert settings(AUTHORIZER_REVOCATION_FAIL="open").revocation_fail == "open"
    assert settings(AUTHORIZER_REVOCATION_FAIL=" Closed ").revocation_fail == "closed"
    # No egress for keys: no list either, unless asked for.
    no_egress = {"AUTHORIZER_JWKS_URI": "off", "AUTHORIZER_JWKS_FILE": "/keys.json"}
    assert settings(**no_egress).revocation_uri is None
    assert settings(**no_egress, AUTHORIZER_REVOCATION_URI="https://x.test/r.jwt").revocation_uri
    for bad in ({"AUTHORIZER_REVOCATION_URI": "file:///etc/passwd"},
                {"AUTHORIZER_REVOCATION_TTL": "0"}, {"AUTHORIZER_REVOCATION_TTL": "soon"},
                {"AUTHORIZER_REVOCATION_FAIL": "maybe"}):
        with pytest.raises(ConfigError):
            settings(**bad)
