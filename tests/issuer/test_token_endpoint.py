"""POST /oauth2/token: success, every RFC 6749 §5.2 error, and the rules of
docs/threat-model.md §2 (unknown vs wrong secret alike, repeated parameters, two auth
methods, non-form and oversized bodies, garbage scopes). Runs on SQLite and, when
configured, PostgreSQL."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote

import jwt
import pytest
from helpers.issuer_env import BILLING, ISSUER_URL, ORDERS
from sqlalchemy import update

from issuer.store.models import Client

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CC = "grant_type=client_credentials"
Q_ORDERS, Q_BILLING, Q_ISSUER = (quote(u, safe="") for u in (ORDERS, BILLING, ISSUER_URL))


def basic(client_id: str, secret: str, *, encode: bool = False) -> dict[str, str]:
    if encode:  # RFC 6749 §2.3.1 form-urlencoding before base64
        client_id, secret = quote(client_id, safe=""), quote(secret, safe="")
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def post_form(http, body: str, headers: dict[str, str] | None = None):
    return http.post("/oauth2/token", content=body.encode(), headers={**FORM, **(headers or {})})


def claims_of(response) -> tuple[dict, dict]:
    token = response.json()["access_token"]
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def assert_error(response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"
    assert "Traceback" not in response.text


# --- success -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["basic", "basic-urlencoded", "post"])
def test_issues_rfc9068_token(http, reader, method):
    cid, secret = reader.client.client_id, reader.client_secret
    body = CC + "&scope=orders%3Aread"
    headers = {}
    if method == "post":
        body += f"&client_id={cid}&client_secret={secret}"
    else:
        headers = basic(cid, secret, encode=method == "basic-urlencoded")
    response = post_form(http, body, headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    payload = response.json()
    assert set(payload) == {"access_token", "token_type", "expires_in", "scope"}
    assert payload["token_type"] == "Bearer"
    assert payload["expires_in"] == 3600
    assert payload["scope"] == "orders:read"
    header, claims = claims_of(response)
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == ISSUER_URL
    assert claims["sub"] == claims["client_id"] == cid
    assert claims["aud"] == ORDERS
    assert claims["scope"] == "orders:read"
    assert claims["exp"] - claims["iat"] == 3600
    assert set(claims) == {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"}


def test_each_token_has_its_own_jti(http, reader):
    auth = basic(reader.client.client_id, reader.client_secret)
    jtis = {claims_of(post_form(http, CC, auth))[1]["jti"]
            for _ in range(3)}
    assert len(jtis) == 3


@pytest.mark.parametrize(
    ("extra", "aud", "scope"),
    [
        ("", ORDERS, "orders:read orders:write"),  # defaults of the first audience
        (f"&resource={Q_BILLING}", BILLING, "billing:read"),
        (f"&audience={Q_BILLING}", BILLING, "billing:read"),
        (f"&resource={Q_ORDERS}&scope=orders%3Awrite", ORDERS, "orders:write"),
    ],
    ids=["default", "resource", "audience", "resource+scope"],
)
def test_audience_selection(http, reader, extra, aud, scope):
    auth = basic(reader.client.client_id, reader.client_secret)
    response = post_form(http, CC + extra, auth)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == scope
    assert claims_of(response)[1]["aud"] == aud


def test_admin_scope_gets_the_issuer_as_audience(http, issuer):
    admin = issuer.client(["issuer:admin"], name="admin")
    auth = basic(admin.client.client_id, admin.client_secret)
    for body in (CC, CC + "&scope=issuer%3Aadmin"):
        response = post_form(http, body, auth)
        assert response.status_code == 200, response.text
        assert claims_of(response)[1]["aud"] == ISSUER_URL
        assert response.json()["scope"] == "issuer:admin"


def test_client_lifetime_is_used(http, issuer):
    short = issuer.client(["orders:read"], token_lifetime=120)
    response = post_form(
        http, CC, basic(short.client.client_id, short.client_secret)
    )
    assert response.json()["expires_in"] == 120
    _, claims = claims_of(response)
    assert claims["exp"] - claims["iat"] == 120


def test_issued_token_is_logged_without_token_or_secret(http, reader, caplog):
    with caplog.at_level(logging.INFO, logger="issuer.tokens"):
        response = post_form(
            http, CC,
            basic(reader.client.client_id, reader.client_secret),
        )
    token = response.json()["access_token"]
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "issuer.tokens"]
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "token_issued"
    assert line["client_id"] == reader.client.client_id
    assert line["jti"] == claims_of(response)[1]["jti"]
    assert line["aud"] == ORDERS and line["scope"] == "orders:read orders:write"
    assert token not in caplog.text and reader.client_secret not in caplog.text


# --- client authentication: docs/threat-model.md §2 ---------------------------------------


def test_unknown_client_and_wrong_secret_answer_alike(http, reader):
    wrong = post_form(http, CC, basic(reader.client.client_id, "x" * 43))
    unknown = post_form(http, CC, basic("c_nobody", "x" * 43))
    for response in (wrong, unknown):
        assert_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"].startswith("Basic realm=")
    assert wrong.content == unknown.content
    drop = {"date", "content-length", "x-request-id"}  # each request has its own id
    assert {k: v for k, v in wrong.headers.items() if k not in drop} == {
        k: v for k, v in unknown.headers.items() if k not in drop
    }


def test_disabled_client_is_invalid_client(http, issuer):
    new = issuer.client(["orders:read"], name="disabled")
    with issuer.services.sessions() as session:
        session.execute(
            update(Client).where(Client.client_id == new.client.client_id).values(enabled=False)
        )
        session.commit()
    response = post_form(
        http, CC, basic(new.client.client_id, new.client_secret)
    )
    assert_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (CC, {}),
        (CC + "&client_id=c_x", {}),  # public client: not supported
        (CC + "&client_secret=abc", {}),
        (CC, {"Authorization": "Bearer abc"}),
        (CC, {"Authorization": "Basic !!!notbase64"}),
        (CC, {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}),
        (CC, {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()}),
        (CC, basic("../../etc/passwd", "x")),
        (CC, basic("x' OR '1'='1", "x")),
        (CC, basic("a" * 500, "x")),
    ],
    ids=["none", "client_id-only", "secret-only", "bearer", "bad-base64", "no-colon",
         "not-utf8", "path-like-id", "sql-like-id", "long-id"],
)
def test_bad_client_authentication(http, body, headers):
    assert_error(post_form(http, body, headers), 401, "invalid_client")


def test_previous_secret_grace_period(http, issuer):
    from datetime import timedelta

    from issuer.store.tables import utcnow

    new = issuer.client(["orders:read"], name="rotating")
    old_secret = "old-" + "s" * 40
    cases = ((utcnow() + timedelta(hours=1), 200), (utcnow() - timedelta(seconds=1), 401))
    for until, status in cases:
        with issuer.services.sessions() as session:
            session.execute(
                update(Client)
                .where(Client.client_id == new.client.client_id)
                .values(
                    previous_secret_hash=issuer.services.hasher.hash(old_secret),
                    previous_secret_valid_until=until,
                )
            )
            session.commit()
        response = post_form(
            http, CC, basic(new.client.client_id, old_secret)
        )
        assert response.status_code == status, response.text
    # The current secret works throughout.
    ok = post_form(http, CC, basic(new.client.client_id, new.client_secret))
    assert ok.status_code == 200


# --- request shape: RFC 6749 §3.2, docs/threat-model.md §2 -------------------------------


def test_two_authentication_methods_at_once(http, reader):
    cid, secret = reader.client.client_id, reader.client_secret
    body = CC + f"&client_id={cid}&client_secret={secret}"
    assert_error(post_form(http, body, basic(cid, secret)), 400, "invalid_request")


def test_basic_with_a_different_body_client_id(http, reader):
    cid, secret = reader.client.client_id, reader.client_secret
    body = CC + "&client_id=c_someone_else"
    assert_error(post_form(http, body, basic(cid, secret)), 400, "invalid_request")


def test_basic_with_the_same_body_client_id_is_fine(http, reader):
    cid, secret = reader.client.client_id, reader.client_secret
    response = post_form(http, CC + f"&client_id={cid}", basic(cid, secret))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        CC + "&grant_type=client_credentials",
        CC + "&scope=orders%3Aread&scope=orders%3Awrite",
        CC + "&scope=&scope=orders%3Aread",
        CC + f"&resource={Q_ORDERS}&resource={Q_BILLING}",
        CC + "&client_id=a&client_id=b",
    ],
    ids=["grant_type", "scope", "scope-empty-first", "resource", "client_id"],
)
def test_repeated_parameters(http, reader, body):
    auth = basic(reader.client.client_id, reader.client_secret)
    assert_error(post_form(http, body, auth), 400, "invalid_request")


@pytest.mark.parametrize(
    ("kwargs"),
    [
        {"json": {"grant_type": "client_credentials"}},
        {"files": {"grant_type": (None, "client_credentials")}},
        {"content": b""},
        {"content": b"grant_type=client_credentials", "headers": {"Content-Type": "text/plain"}},
        {"content": b"grant_type=client_credentials",
         "headers": {"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"}},
        {"content": b"grant_type=client_credentials&scope=\xff\xfe", "headers": FORM},
        {"content": b"grant_type=client_credentials&scope=%ff%fe", "headers": FORM},
        {"content": b"&".join(b"p%d=1" % i for i in range(200)), "headers": FORM},
        {"content": b"grant_type=client_credentials&x=" + b"a" * 9000, "headers": FORM},
    ],
    ids=["json", "multipart", "no-body", "text-plain", "latin-1", "raw-non-ascii",
         "bad-percent-utf8", "too-many-fields", "oversized"],
)
def test_bodies_that_are_not_a_good_form(http, reader, kwargs):
    auth = basic(reader.client.client_id, reader.client_secret)
    headers = {**auth, **kwargs.pop("headers", {})}
    assert_error(http.post("/oauth2/token", headers=headers, **kwargs), 400, "invalid_request")


def test_oversized_chunked_body_without_length(http, reader):
    def chunks():
        yield b"grant_type=client_credentials&x="
        for _ in range(20):
            yield b"a" * 1024

    headers = {**FORM, **basic(reader.client.client_id, reader.client_secret)}
    response = http.post("/oauth2/token", content=chunks(), headers=headers)
    assert_error(response, 400, "invalid_request")


# --- grant and scope: RFC 6749 §5.2, RFC 8707, docs/threat-model.md §2 -------------------


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("scope=orders%3Aread", 400, "invalid_request"),  # no grant_type
        ("grant_type=password&username=a&password=b", 400, "unsupported_grant_type"),
        ("grant_type=authorization_code&code=x", 400, "unsupported_grant_type"),
        ("grant_type=CLIENT_CREDENTIALS", 400, "unsupported_grant_type"),
        (CC + "&scope=admin%3Aall", 400, "invalid_scope"),
        (CC + "&scope=orders%3Aread%20issuer%3Aadmin", 400, "invalid_scope"),
        (CC + "&scope=orders%3Aread%20billing%3Aread", 400, "invalid_scope"),
        (CC + f"&resource={Q_ORDERS}&scope=billing%3Aread",
         400, "invalid_scope"),
        (CC + "&resource=https%3A%2F%2Fevil.example", 400, "invalid_target"),
        (CC + "&audience=orders", 400, "invalid_target"),
        (CC + "&resource=not-absolute", 400, "invalid_target"),
        (CC + f"&resource={quote(ORDERS + '#f', safe='')}", 400,
         "invalid_target"),
        (CC + f"&resource={Q_ISSUER}", 400,
         "invalid_target"),  # not an admin client
        (CC + f"&resource={Q_ORDERS}"
         f"&audience={Q_BILLING}", 400, "invalid_request"),
        (CC + "&scope=" + "a" * 3000, 400, "invalid_request"),
        (CC + "&scope=" + "%20".join(["orders:read"] * 2), 200, None),
    ],
    ids=["no-grant_type", "password", "authorization_code", "grant_type-case", "unknown-scope",
         "admin-scope-not-allowed", "scopes-of-two-apis", "scope-of-other-api",
         "foreign-resource", "audience-not-uri-unknown", "resource-not-absolute",
         "resource-fragment", "issuer-resource-non-admin", "resource-vs-audience",
         "very-long-scope", "duplicate-scope-token"],
)
def test_grant_errors(http, reader, body, status, error):
    auth = basic(reader.client.client_id, reader.client_secret)
    response = post_form(http, body, auth)
    if error is None:
        assert response.status_code == status and response.json()["scope"] == "orders:read"
    else:
        assert_error(response, status, error)
        assert "access_token" not in response.json()


GARBAGE_SCOPES = [
    "%00", "orders%3Aread%00", "orders%3Aread%20%20orders%3Awrite", "%20orders%3Aread",
    "orders%3Aread%20", "%22quoted%22", "back%5Cslash", "%C3%A9t%C3%A9", "%F0%9F%94%91",
    "tab%09tab", "new%0Aline", "%7F", "%E2%80%8B",
]


@pytest.mark.parametrize("scope", GARBAGE_SCOPES)
def test_garbage_scope_is_refused_never_500(http, reader, scope):
    auth = basic(reader.client.client_id, reader.client_secret)
    response = post_form(http, CC + f"&scope={scope}", auth)
    assert response.status_code == 400, response.text
    # Not RFC 6749 §3.3 scope syntax: a malformed request, not an unknown scope.
    assert response.json()["error"] == "invalid_request"


def test_unauthorized_client_for_the_grant(http, issuer):
    new = issuer.client(["orders:read"], name="no-grants")
    with issuer.services.sessions() as session:
        session.execute(
            update(Client).where(Client.client_id == new.client.client_id).values(grant_types=[])
        )
        session.commit()
    response = post_form(
        http, CC, basic(new.client.client_id, new.client_secret)
    )
    assert_error(response, 400, "unauthorized_client")


def test_errors_never_echo_the_secret(http, reader):
    cid, secret = reader.client.client_id, reader.client_secret
    bodies = [
        CC + f"&client_id={cid}&client_secret={secret}&scope=%00",
        CC + f"&client_id={cid}&client_secret={secret}&client_secret=x",
        f"grant_type=nope&client_id={cid}&client_secret={secret}",
    ]
    for body in bodies:
        response = post_form(http, body)
        assert response.status_code == 400
        assert secret not in response.text
