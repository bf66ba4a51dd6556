"""GET /.well-known/revocations.jwt: a JWS signed with the active key, verifiable with the
published JWKS, holding exactly the revocations still in force."""

from __future__ import annotations

import json

import pytest
from helpers.issuer_admin import token_for
from helpers.issuer_env import ISSUER_URL, ORDERS

from issuer.oauth.revocation import (
    LIST_CACHE_SECONDS,
    LIST_LIFETIME,
    MAX_JTIS_PER_CLIENT,
    MAX_LISTED_JTIS,
    VERIFIER_MAX_LEEWAY,
    revoke_client,
)
from shared.claims import AccessTokenRules
from shared.errors import TokenError
from shared.jwk import KeySet
from shared.jws import parse_compact
from shared.revocation_list import MAX_LIST_BYTES, client_key, parse_revocation_list
from shared.verify import AccessTokenVerifier


def fetch(http):
    response = http.get("/.well-known/revocations.jwt")
    assert response.status_code == 200
    keys = KeySet.from_jwks(http.get("/.well-known/jwks.json").json())
    return response, keys


def test_empty_list_is_signed_and_short_lived(env):
    _, clock, http = env
    response, keys = fetch(http)
    assert response.headers["content-type"] == "application/jwt"
    assert response.headers["cache-control"] == "public, max-age=30"
    compact = parse_compact(response.text)
    assert compact.header["typ"] == "revocation-list+jwt"
    assert compact.header["kid"] in {key.kid for key in keys.keys}
    now = clock().timestamp()
    seq = compact.claims["seq"]
    assert type(seq) is int and seq >= 0
    assert compact.claims == {"iss": ISSUER_URL, "iat": int(now), "exp": int(now) + LIST_LIFETIME,
                              "seq": seq, "jtis": {}, "clients": {}}
    parsed = parse_revocation_list(response.content, keys.get, ISSUER_URL, now)
    assert parsed.jtis == {} and parsed.clients == {}


def test_revocations_appear_until_they_expire(env):
    issuer, clock, http = env
    new = issuer.client(["orders:read"], name="listed")
    caller = (new.client.client_id, new.client_secret)
    token = token_for(http, *caller)
    claims = parse_compact(token).claims
    assert http.post("/oauth2/revoke", data={"token": token}, auth=caller).status_code == 200
    with issuer.services.sessions() as session:
        generation = revoke_client(session, "c_deleted_one", "deleted", clock())
        session.commit()
    response, keys = fetch(http)
    listed = parse_revocation_list(response.content, keys.get, ISSUER_URL, clock().timestamp())
    assert listed.jtis == {claims["jti"]: claims["exp"]}
    assert listed.clients == {client_key("c_deleted_one"): generation}
    assert "c_deleted_one" not in response.text  # no client id in clear (nor in the JWS)
    assert "c_deleted_one" not in parse_compact(response.text).claims["clients"]

    # Expired, but inside the largest leeway a verifier may apply: still listed.
    clock.advance(claims["exp"] + VERIFIER_MAX_LEEWAY - 1 - clock().timestamp())
    response, keys = fetch(http)
    listed = parse_revocation_list(response.content, keys.get, ISSUER_URL, clock().timestamp())
    assert listed.jtis == {claims["jti"]: claims["exp"]}
    clock.advance(LIST_CACHE_SECONDS)  # past exp + leeway, and the list's cache
    response, keys = fetch(http)
    listed = parse_revocation_list(response.content, keys.get, ISSUER_URL, clock().timestamp())
    assert listed.jtis == {}
    assert client_key("c_deleted_one") in listed.clients  # kept for the longest token lifetime


def test_the_list_never_passes_for_an_access_token(env):
    _, clock, http = env
    response, keys = fetch(http)
    rules = AccessTokenRules(issuer=ISSUER_URL, audiences={ORDERS, ISSUER_URL})
    with pytest.raises(TokenError) as refused:
        AccessTokenVerifier(rules, keys.get).verify(response.text, clock().timestamp())
    assert refused.value.code == "wrong_typ"


# -- bounded whatever a client does (a client revoking its own tokens in a loop) --------


def _revoke_many(http, caller, n):
    tokens = []
    for _ in range(n):
        token = token_for(http, *caller)
        assert http.post("/oauth2/revoke", data={"token": token}, auth=caller).status_code == 200
        tokens.append(token)
    return tokens


def _active(http, caller, token):
    return http.post("/oauth2/introspect", data={"token": token}, auth=caller).json()["active"]


def test_one_client_cannot_grow_the_list_past_a_sixteenth_of_the_authorizers_cap(env):
    issuer, _clock, http = env
    new = issuer.client(["orders:read"], name="revoker")
    revoker = (new.client.client_id, new.client_secret)
    other = issuer.client(["orders:read"], name="bystander")
    bystander = (other.client.client_id, other.client_secret)
    kept = token_for(http, *bystander)
    empty = len(fetch(http)[0].content)

    # Up to the per-client bound: one record per token, the list grows by each.
    tokens = _revoke_many(http, revoker, MAX_JTIS_PER_CLIENT)
    full = fetch(http)[0]
    listed = parse_compact(full.text, max_bytes=MAX_LIST_BYTES).claims
    assert sum(1 for t in tokens if parse_compact(t).claims["jti"] in listed["jtis"]) == len(tokens)
    share = len(full.content) - empty
    assert share <= MAX_LIST_BYTES // 16, share

    # One more: the client's records collapse into one client-wide revocation.
    tokens += _revoke_many(http, revoker, 1)
    body = fetch(http)[0]
    listed = parse_compact(body.text, max_bytes=MAX_LIST_BYTES).claims
    assert not any(parse_compact(t).claims["jti"] in listed["jtis"] for t in tokens)
    assert set(listed["clients"]) >= {client_key(revoker[0])}
    assert revoker[0] not in json.dumps(listed)  # the client is named by its key only
    assert len(body.content) < empty + 200
    # Every token it revoked stays revoked (now by generation), at the issuer...
    assert not any(_active(http, revoker, t) for t in tokens[:: len(tokens) // 8])
    assert not _active(http, revoker, tokens[-1])
    # ... while the token it gets next, and other clients' tokens, are valid.
    assert _active(http, revoker, token_for(http, *revoker))
    assert _active(http, bystander, kept)
    with issuer.services.sessions() as session:
        assert _records(session, revoker[0]) == 0


def _records(session, client_id=None):
    from sqlalchemy import func, select

    from issuer.store.revocation_tables import RevokedToken

    query = select(func.count()).select_from(RevokedToken)
    if client_id is not None:
        query = query.where(RevokedToken.client_id == client_id)
    return session.scalar(query)


def test_many_clients_together_stay_under_the_global_bound(env, monkeypatch):
    """Past MAX_LISTED_JTIS records in all, the client with the most collapses (here
    with small bounds, so the test stays fast)."""
    import issuer.oauth.revocation as revocation

    issuer, clock, http = env
    monkeypatch.setattr(revocation, "MAX_JTIS_PER_CLIENT", 4)
    with issuer.services.sessions() as session:
        revocation.prune(session, clock())
        session.commit()
        baseline = _records(session)
    monkeypatch.setattr(revocation, "MAX_LISTED_JTIS", baseline + 6)
    clients = []
    for n in range(4):
        new = issuer.client(["orders:read"], name=f"many-{n}")
        clients.append((new.client.client_id, new.client_secret))
    for caller in clients:
        _revoke_many(http, caller, 3)
        with issuer.services.sessions() as session:
            assert _records(session) <= baseline + 6
    with issuer.services.sessions() as session:
        assert _records(session) <= baseline + 6
        collapsed = [c for c, _ in clients if _records(session, c) == 0]
    assert collapsed  # the largest ones were collapsed


def test_the_global_bound_keeps_the_whole_list_far_below_the_cap():
    """Arithmetic on the bounds: MAX_LISTED_JTIS records of this issuer's jtis (22
    characters) and a thousand client-wide records, signed, stay under a quarter of the
    authorizer's cap."""
    import secrets

    from shared.b64 import b64url_encode

    jtis = {secrets.token_urlsafe(16): 1_800_000_000 for _ in range(MAX_LISTED_JTIS)}
    clients = {"c_" + secrets.token_urlsafe(16): 1_800_000_000_000_000 for _ in range(1000)}
    claims = {"iss": ISSUER_URL, "iat": 1, "exp": 2, "seq": 1, "jtis": jtis, "clients": clients}
    payload = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    assert len(payload) + 600 < MAX_LIST_BYTES // 4  # 600: header and an RSA-4096 signature


# -- the sequence number: every change makes a strictly newer list ---------------------


def test_every_revocation_makes_a_strictly_newer_list(env):
    issuer, clock, http = env
    new = issuer.client(["orders:read"], name="seq")
    caller = (new.client.client_id, new.client_secret)
    seqs = [parse_compact(fetch(http)[0].text).claims["seq"]]
    for _ in range(3):  # within one second: iat alone could not tell these lists apart
        _revoke_many(http, caller, 1)
        seqs.append(parse_compact(fetch(http)[0].text).claims["seq"])
    with issuer.services.sessions() as session:
        revoke_client(session, caller[0], "disabled", clock())
        session.commit()
    seqs.append(parse_compact(fetch(http)[0].text).claims["seq"])
    assert seqs == sorted(set(seqs)), seqs


# -- the cost of an unauthenticated GET ---------------------------------------------------


def test_gets_within_the_cache_window_cost_one_build(env, monkeypatch):
    from sqlalchemy import event

    import shared.jws

    issuer, clock, http = env
    new = issuer.client(["orders:read"], name="cached")
    caller = (new.client.client_id, new.client_secret)
    _revoke_many(http, caller, 3)  # a list with some records
    clock.advance(LIST_CACHE_SECONDS)  # nothing cached
    signatures, statements = [], []
    # revocation_list() imports encode_compact when it signs: patched where it is read.
    real_encode = shared.jws.encode_compact
    monkeypatch.setattr(shared.jws, "encode_compact",
                        lambda *a, **k: signatures.append(1) or real_encode(*a, **k))

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = issuer.services.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        first = http.get("/.well-known/revocations.jwt").content
        one_build = len(statements)
        assert one_build >= 1 and signatures == [1]
        bodies = {http.get("/.well-known/revocations.jwt").content for _ in range(20)}
        assert bodies == {first}
        assert len(statements) == one_build and signatures == [1]  # nothing more
        clock.advance(LIST_CACHE_SECONDS)  # the window is over: one more build
        http.get("/.well-known/revocations.jwt")
        assert signatures == [1, 1]
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_revocation_in_this_process_is_served_at_once(env):
    issuer, _clock, http = env
    new = issuer.client(["orders:read"], name="fresh")
    caller = (new.client.client_id, new.client_secret)
    http.get("/.well-known/revocations.jwt")  # cached now
    token = _revoke_many(http, caller, 1)[0]
    body = http.get("/.well-known/revocations.jwt").text
    listed = parse_compact(body, max_bytes=MAX_LIST_BYTES).claims["jtis"]
    assert parse_compact(token).claims["jti"] in listed
