"""The admin console (issuer/http/console/): sessions, CSRF and Origin checks, cookie
flags, security headers, escaping, audit records, one-time links, revocation ending a
session, the token tester and per-client activity. HTTP through the app in process; the
browser tests are tests/browser/."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from helpers.external_issuer import ExternalIssuer
from helpers.issuer_admin import ADMIN, bearer, clocked_issuer, token_for
from helpers.issuer_env import ISSUER_URL, make_issuer, make_settings
from sqlalchemy import select

from issuer.audit import Actor
from issuer.clients import admin as client_admin
from issuer.clients.console_links import create_link
from issuer.federation import trusted_issuers
from issuer.federation.jwks import UriPolicy
from issuer.http.app import create_app
from issuer.http.console.render import CSP
from issuer.store.audit_tables import AuditRecord
from issuer.store.models import Client

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ORIGIN = {"Origin": ISSUER_URL}


def console_http(issuer, url: str = ISSUER_URL) -> TestClient:
    http = TestClient(issuer.app(), base_url=url, follow_redirects=False)
    http.headers.update({"Origin": url})
    return http


def csrf_of(response) -> str:
    match = CSRF.search(response.text)
    assert match, response.text[:500]
    return match.group(1)


def sign_in(http, client_id: str, secret: str) -> str:
    """Signs in; returns the session's CSRF token (from the clients page)."""
    form = http.get("/console/sign-in")
    assert form.status_code == 200
    done = http.post("/console/sign-in", data={
        "csrf": csrf_of(form), "client_id": client_id, "client_secret": secret})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/console/clients"
    page = http.get("/console/clients")
    assert page.status_code == 200
    return csrf_of(page)


@pytest.fixture(scope="module")
def env(databases, policy_file):
    issuer, clock = clocked_issuer(databases.new_url("sqlite"), policy_file)
    admin = issuer.client([ADMIN], name="admin")
    yield issuer, clock, admin
    issuer.services.engine.dispose()


@pytest.fixture
def http(env):
    issuer, _, _ = env
    with console_http(issuer) as client:
        yield client


@pytest.fixture
def signed_in(env, http):
    _, _, admin = env
    return http, sign_in(http, admin.client.client_id, admin.client_secret)


def clients_named(issuer, name: str) -> list[Client]:
    with issuer.services.sessions() as session:
        return list(session.scalars(select(Client).where(Client.name == name)))


# --- cookies and headers ------------------------------------------------------------

def test_session_cookie_is_host_prefixed_secure_httponly_strict(env, http):
    _, _, admin = env
    form = http.get("/console/sign-in")
    pre = form.headers["set-cookie"]
    assert pre.startswith("__Host-tollgate-console-pre=")
    done = http.post("/console/sign-in", data={"csrf": csrf_of(form),
                     "client_id": admin.client.client_id, "client_secret": admin.client_secret})
    cookies = done.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("__Host-tollgate-console="))
    attributes = [part.strip() for part in session.split(";")[1:]]
    assert set(attributes) == {"Path=/", "HttpOnly", "SameSite=Strict", "Secure",
                               f"Max-Age={env[0].settings.token_lifetime}"}


def test_loopback_development_cookie_is_not_secure(databases, policy_file):
    issuer = make_issuer(databases.new_url("sqlite"), policy_file, url="http://127.0.0.1:8000")
    try:
        admin = issuer.client([ADMIN], name="admin")
        with console_http(issuer, "http://127.0.0.1:8000") as http:
            form = http.get("/console/sign-in")
            done = http.post("/console/sign-in", data={"csrf": csrf_of(form),
                             "client_id": admin.client.client_id,
                             "client_secret": admin.client_secret})
        session = next(c for c in done.headers.get_list("set-cookie")
                       if c.startswith("tollgate-console="))
        attributes = {part.strip() for part in session.split(";")[1:]}
        assert "Secure" not in attributes
        assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= attributes
    finally:
        issuer.services.engine.dispose()


def test_https_on_loopback_keeps_secure_cookies(databases, policy_file):
    settings = make_settings(databases.new_url("sqlite"), policy_file, url="https://127.0.0.1")
    from issuer.http.console.session import cookie_policy

    policy = cookie_policy(settings)
    assert policy.secure and policy.session_name == "__Host-tollgate-console"


def test_pages_carry_csp_and_no_referrer(signed_in):
    http, _ = signed_in
    for path in ("/console/sign-in", "/console/clients", "/console/keys", "/console/audit",
                 "/console/revocation", "/console/tester", "/console/policy",
                 "/console/clients/new"):
        response = http.get(path)
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
    assert "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP
    assert "script-src 'self';" in CSP


def test_pages_have_no_inline_script(signed_in):
    http, _ = signed_in
    page = http.get("/console/clients/new").text
    assert re.findall(r"<script[^>]*>", page) == [
        '<script src="/console/static/console.js" defer>']
    assert not re.search(r"\son[a-z]+=", page)


def test_console_is_not_in_the_openapi_document(http):
    paths = http.get("/openapi.json").json()["paths"]
    assert [p for p in paths if p.startswith("/console")] == []


def test_console_off_in_production_unless_turned_on(databases, policy_file):
    url = databases.new_url("sqlite")
    off = make_settings(url, policy_file, ISSUER_ENV="production")
    on = make_settings(url, policy_file, ISSUER_ENV="production", ISSUER_CONSOLE="on")
    dev_off = make_settings(url, policy_file, ISSUER_CONSOLE="off")
    assert (off.console, on.console, dev_off.console) == (False, True, False)
    issuer = make_issuer(url, policy_file, ISSUER_CONSOLE="off")
    try:
        with TestClient(create_app(issuer.settings, issuer.services)) as http:
            assert http.get("/console/sign-in").status_code == 404
    finally:
        issuer.services.engine.dispose()


# --- CSRF and Origin ----------------------------------------------------------------

@pytest.mark.parametrize("case", ["missing_token", "wrong_token", "wrong_origin",
                                  "missing_origin", "null_origin_cross_site",
                                  "null_origin_no_fetch_metadata"])
def test_state_changes_need_csrf_token_and_origin(env, signed_in, case):
    issuer = env[0]
    http, csrf = signed_in
    name = f"csrf-{case}"
    data = {"name": name, "scopes": "orders:read", "auth_method": "client_secret"}
    headers = dict(ORIGIN)
    if case != "missing_token":
        data["csrf"] = csrf if case.endswith("origin") else csrf[:-2] + "xx"
    if case == "wrong_origin":
        headers["Origin"] = "https://evil.example"
    if case.startswith("null_origin"):
        headers["Origin"] = "null"
        data["csrf"] = csrf
    if case == "null_origin_cross_site":
        headers["Sec-Fetch-Site"] = "cross-site"
    if case == "missing_origin":
        del http.headers["Origin"]
        headers = {}
    response = http.post("/console/clients/new", data=data, headers=headers)
    assert response.status_code == 403
    assert clients_named(issuer, name) == []
    if case == "missing_origin":
        http.headers["Origin"] = ISSUER_URL
    # The same request with both is accepted (the test is not refusing everything).
    ok = http.post("/console/clients/new", data={**data, "csrf": csrf}, headers=ORIGIN)
    assert ok.status_code == 201
    assert len(clients_named(issuer, name)) == 1


def test_null_origin_from_the_same_origin_is_accepted(env, signed_in):
    """A browser's own form POST under Referrer-Policy: no-referrer says Origin: null;
    Fetch Metadata says it came from this origin."""
    http, csrf = signed_in
    data = {"csrf": csrf, "name": "null-origin", "scopes": "orders:read",
            "auth_method": "client_secret"}
    response = http.post("/console/clients/new", data=data,
                         headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 201
    assert len(clients_named(env[0], "null-origin")) == 1


def test_sign_in_form_needs_its_csrf_token(env, http):
    _, _, admin = env
    http.get("/console/sign-in")  # the pre-session cookie
    response = http.post("/console/sign-in", data={
        "client_id": admin.client.client_id, "client_secret": admin.client_secret})
    assert response.status_code == 403
    assert not any("tollgate-console=" in c for c in response.headers.get_list("set-cookie"))


def test_sign_out_needs_csrf(signed_in):
    http, _ = signed_in
    assert http.post("/console/sign-out", data={}).status_code == 403
    assert http.get("/console/clients").status_code == 200  # still signed in


# --- sign-in ------------------------------------------------------------------------

def test_wrong_secret_is_refused_and_counted(env, http):
    _, _, admin = env
    form = http.get("/console/sign-in")
    response = http.post("/console/sign-in", data={
        "csrf": csrf_of(form), "client_id": admin.client.client_id, "client_secret": "nope"})
    assert response.status_code == 401
    assert "do not match" in response.text
    assert http.get("/console/clients").status_code == 303  # no session


def test_a_client_without_admin_scope_cannot_sign_in(env, http):
    issuer = env[0]
    reader = issuer.client(["orders:read"], name="not admin")
    form = http.get("/console/sign-in")
    response = http.post("/console/sign-in", data={
        "csrf": csrf_of(form), "client_id": reader.client.client_id,
        "client_secret": reader.client_secret})
    assert response.status_code == 403
    assert http.get("/console/clients").status_code == 303


def test_pages_without_a_session_go_to_sign_in(http):
    for path in ("/console/clients", "/console/keys", "/console/audit", "/console/policy"):
        response = http.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/console/sign-in?ended=1"


# --- escaping, secrets, audit -------------------------------------------------------

def test_a_script_name_renders_as_text(env, signed_in):
    http, csrf = signed_in
    name = "<script>alert(1)</script>"
    created = http.post("/console/clients/new", data={
        "csrf": csrf, "name": name, "scopes": "orders:read", "auth_method": "client_secret"})
    assert created.status_code == 201
    client_id = clients_named(env[0], name)[0].client_id
    for page in (created.text, http.get("/console/clients").text,
                 http.get(f"/console/clients/{client_id}").text,
                 http.get("/console/policy").text):
        assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in http.get("/console/clients").text


def test_secret_shown_once_never_in_url_or_log(env, signed_in, caplog):
    issuer = env[0]
    http, csrf = signed_in
    caplog.set_level("DEBUG")
    created = http.post("/console/clients/new", data={
        "csrf": csrf, "name": "once", "scopes": "orders:read", "auth_method": "client_secret"})
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    secret = re.search(r'id="client-secret" class="secret-value">([^<]+)<', created.text).group(1)
    client_id = clients_named(issuer, "once")[0].client_id
    assert secret not in str(created.url) and "location" not in created.headers
    assert secret not in caplog.text
    assert secret not in http.get(f"/console/clients/{client_id}").text
    # and the secret works at the token endpoint
    token = token_for(http, client_id, secret)
    assert token.count(".") == 2


def test_changes_are_audited_with_admin_actor_and_console_source(env, signed_in):
    issuer, _, admin = env
    http, csrf = signed_in
    http.post("/console/clients/new", data={
        "csrf": csrf, "name": "audited", "scopes": "orders:read", "auth_method": "client_secret"})
    client_id = clients_named(issuer, "audited")[0].client_id
    assert http.post(f"/console/clients/{client_id}/enabled",
                     data={"csrf": csrf, "enabled": "false"}).status_code == 303
    assert http.post(f"/console/clients/{client_id}/secret",
                     data={"csrf": csrf, "grace_seconds": "0"}).status_code == 200
    assert http.post("/console/keys/rotate", data={"csrf": csrf}).status_code == 303
    assert http.post(f"/console/clients/{client_id}/delete",
                     data={"csrf": csrf}).status_code == 303
    with issuer.services.sessions() as session:
        rows = session.scalars(select(AuditRecord).where(
            AuditRecord.target == client_id).order_by(AuditRecord.id)).all()
        key_rows = session.scalars(select(AuditRecord).where(
            AuditRecord.action == "key.rotate")).all()
    assert [r.action for r in rows] == ["client.create", "client.disable",
                                        "client.rotate_secret", "client.delete"]
    assert {(r.actor, r.source) for r in [*rows, *key_rows]} == {
        (admin.client.client_id, "console")}
    page = http.get("/console/audit", params={"target": client_id})
    assert page.text.count("<td><code>" + client_id) == 4
    only = http.get("/console/audit", params={"target": client_id, "action": "client.delete"})
    assert only.text.count("<td><code>" + client_id) == 1


# --- one-time links -----------------------------------------------------------------

def _link(issuer, client_id: str, seconds: int = 300) -> str:
    with issuer.services.sessions() as session:
        return create_link(session, client_id, Actor("cli:test", "local"),
                           issuer.services.clock(), seconds)


def test_link_signs_in_once(env, http):
    issuer, _, admin = env
    code = _link(issuer, admin.client.client_id)
    page = http.get("/console/link", params={"code": code})
    assert page.status_code == 200
    assert http.get("/console/clients").status_code == 303  # the GET spends nothing
    first = http.post("/console/link", data={"csrf": csrf_of(page), "code": code})
    assert first.status_code == 303 and first.headers["location"] == "/console/clients"
    assert http.get("/console/clients").status_code == 200
    http.cookies.clear()
    page = http.get("/console/link", params={"code": code})
    again = http.post("/console/link", data={"csrf": csrf_of(page), "code": code})
    assert again.status_code == 400
    assert "already used or expired" in again.text
    assert http.get("/console/clients").status_code == 303


def test_link_expires(env, http):
    issuer, clock, admin = env
    code = _link(issuer, admin.client.client_id, seconds=60)
    page = http.get("/console/link", params={"code": code})
    clock.advance(61)
    response = http.post("/console/link", data={"csrf": csrf_of(page), "code": code})
    assert response.status_code == 400
    assert http.get("/console/clients").status_code == 303


def test_link_only_for_enabled_admin_clients(env):
    from issuer.clients.registry import ClientError

    issuer = env[0]
    reader = issuer.client(["orders:read"], name="reader for link")
    with pytest.raises(ClientError):
        _link(issuer, reader.client.client_id)


def test_console_link_cli_prints_a_working_link(admin_cli_env, capsys):
    from issuer.cli import main

    assert main(["clients", "create", "--name", "boss", "--scope", ADMIN, "--json"]) == 0
    import json

    client_id = json.loads(capsys.readouterr().out)["client_id"]
    assert main(["console", "link", "--client", client_id, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["url"].startswith("http://127.0.0.1:8000/console/link?code=")
    assert out["client_id"] == client_id
    assert main(["console", "link", "--client", "c_nobody"]) != 0


# --- revocation and sign-out end the session ----------------------------------------

def test_revoking_the_token_ends_the_session_at_once(env, http):
    issuer, _, _ = env
    boss = issuer.client([ADMIN], name="boss to revoke")
    sign_in(http, boss.client.client_id, boss.client_secret)
    from issuer.http.console.session import sealer_for

    cookie = http.cookies.get("__Host-tollgate-console")
    sealer = sealer_for(issuer.services, http.app.state.console.sealers)
    token = sealer.open(cookie).token
    # RFC 7009 revocation by the admin itself, outside the console
    revoked = http.post("/oauth2/revoke", data={"token": token},
                        auth=(boss.client.client_id, boss.client_secret))
    assert revoked.status_code == 200
    response = http.get("/console/clients")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?ended=1"


def test_disabling_the_admin_client_ends_its_session(env, http):
    issuer, _, admin = env
    boss = issuer.client([ADMIN], name="boss to disable")
    sign_in(http, boss.client.client_id, boss.client_secret)
    with console_http(issuer) as other:
        csrf = sign_in(other, admin.client.client_id, admin.client_secret)
        assert other.post(f"/console/clients/{boss.client.client_id}/enabled",
                          data={"csrf": csrf, "enabled": "false"}).status_code == 303
    assert http.get("/console/clients").status_code == 303


def test_sign_out_revokes_the_token(env, http):
    issuer, _, _ = env
    boss = issuer.client([ADMIN], name="boss signing out")
    csrf = sign_in(http, boss.client.client_id, boss.client_secret)
    cookie = http.cookies.get("__Host-tollgate-console")
    out = http.post("/console/sign-out", data={"csrf": csrf})
    assert out.status_code == 303
    assert out.headers["location"] == "/console/sign-in?ended=1"
    assert any(c.startswith("__Host-tollgate-console=;") for c in
               out.headers.get_list("set-cookie"))
    http.cookies.set("__Host-tollgate-console", cookie, domain="issuer.example.test")
    assert http.get("/console/clients").status_code == 303  # the old cookie is dead
    from issuer.http.console.session import sealer_for

    token = sealer_for(issuer.services, http.app.state.console.sealers).open(cookie).token
    assert http.get("/admin/clients", headers=bearer(token)).status_code == 401


def test_session_ends_with_its_token(env, http):
    issuer, clock, admin = env
    sign_in(http, admin.client.client_id, admin.client_secret)
    clock.advance(issuer.settings.token_lifetime + 1)
    try:
        assert http.get("/console/clients").status_code == 303
    finally:
        clock.advance(-(issuer.settings.token_lifetime + 1))


# --- pages that act -----------------------------------------------------------------

def test_token_tester_decides_as_authorizer_check(env, signed_in):
    issuer = env[0]
    http, csrf = signed_in
    reader = issuer.client(["orders:read"], name="tester reader")
    token = token_for(http, reader.client.client_id, reader.client_secret)
    allowed = http.post("/console/tester", data={"csrf": csrf, "token": token,
                                                 "method": "GET", "path": "/orders/1"})
    assert allowed.status_code == 200
    assert '<strong id="decision" class="decision-allow">allow</strong>' in allowed.text
    assert '<code id="reason">granted</code>' in allowed.text
    assert "execute-api:Invoke" in allowed.text
    denied = http.post("/console/tester", data={"csrf": csrf, "token": token,
                                                "method": "DELETE", "path": "/orders/1"})
    assert '<code id="reason">route_not_permitted</code>' in denied.text
    broken = http.post("/console/tester", data={"csrf": csrf, "token": token[:-4] + "AAAA",
                                                "method": "GET", "path": "/orders/1"})
    assert '<code id="reason">bad_signature</code>' in broken.text


def test_revocation_page_revokes_a_pasted_token_and_a_jti(env, signed_in):
    issuer, _, admin = env
    http, csrf = signed_in
    reader = issuer.client(["orders:read"], name="revoked reader")
    token = token_for(http, reader.client.client_id, reader.client_secret)
    done = http.post("/console/revocation", data={"csrf": csrf, "token": token})
    assert done.status_code == 200 and "is revoked" in done.text
    tested = http.post("/console/tester", data={"csrf": csrf, "token": token,
                                                "method": "GET", "path": "/orders/1"})
    assert '<code id="reason">revoked</code>' in tested.text
    alone = http.post("/console/revocation", data={"csrf": csrf, "token": "some-jti"})
    assert alone.status_code == 422
    by_jti = http.post("/console/revocation", data={
        "csrf": csrf, "token": "some-jti", "client_id": reader.client.client_id})
    assert by_jti.status_code == 200 and "is revoked" in by_jti.text
    with issuer.services.sessions() as session:
        rows = session.scalars(select(AuditRecord).where(
            AuditRecord.action == "token.revoke",
            AuditRecord.target == reader.client.client_id)).all()
    assert [(r.changes["by"], r.actor, r.source) for r in rows] == [
        ("token", admin.client.client_id, "console"),
        ("jti", admin.client.client_id, "console")]


def test_cutoffs_listed_after_a_disable(env, signed_in):
    issuer = env[0]
    http, csrf = signed_in
    victim = issuer.client(["orders:read"], name="cut off")
    http.post(f"/console/clients/{victim.client.client_id}/enabled",
              data={"csrf": csrf, "enabled": "false"})
    page = http.get("/console/revocation").text
    assert f"<td><code>{victim.client.client_id}</code></td>" in page
    assert "disabled" in page


def test_client_activity_counts_tokens_and_failures(env, signed_in):
    issuer = env[0]
    http, _ = signed_in
    busy = issuer.client(["orders:read"], name="busy")
    for _ in range(3):
        token_for(http, busy.client.client_id, busy.client_secret)
    for _ in range(2):
        bad = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                        auth=(busy.client.client_id, "wrong"))
        assert bad.status_code == 401
    page = http.get(f"/console/clients/{busy.client.client_id}").text
    assert "Last 24 hours: <strong>3</strong> tokens issued, <strong>2</strong> failed" in page


def test_activity_is_shared_through_the_database(env):
    """Another process's counts: a second set of services on the same database."""
    from issuer.clients.activity import ActivityCounter, activity_of

    issuer, clock, _ = env
    shared = issuer.client(["orders:read"], name="shared")
    other = ActivityCounter(issuer.services.sessions, clock)
    other.issued(shared.client.client_id)
    other.issued(shared.client.client_id)
    other.failed("c_not_a_client")  # counted in memory, never written
    assert other.flush() == 2
    with issuer.services.sessions() as session:
        seen = activity_of(session, shared.client.client_id, clock())
    assert (seen.day_issued, seen.day_failed) == (2, 0)


def test_client_search_and_paging(env, signed_in):
    issuer = env[0]
    http, _ = signed_in
    for i in range(22):
        issuer.client(["orders:read"], name=f"paged-{i:02d}")
    first = http.get("/console/clients", params={"q": "PAGED-"})
    assert first.text.count(">paged-") == 20
    cursor = re.search(r'href="/console/clients\?cursor=([^"&]+)', first.text).group(1)
    from urllib.parse import unquote

    second = http.get("/console/clients", params={"q": "paged-", "cursor": unquote(cursor)})
    assert second.text.count(">paged-") == 2
    assert http.get("/console/clients", params={"q": "100%"}).text.count("<tr>") == 0


def test_edit_and_private_key_jwt_create(env, signed_in):
    from cryptography.hazmat.primitives.asymmetric import ec

    from shared.jwk import public_jwk

    issuer = env[0]
    http, csrf = signed_in
    key = ec.generate_private_key(ec.SECP256R1())
    import json

    jwks = json.dumps({"keys": [public_jwk(key.public_key(), "ES256")]})
    # Read as strictly as the CLI's --jwks-file: a duplicate member is refused, not last-wins.
    twice = http.post("/console/clients/new", data={
        "csrf": csrf, "name": "twice", "scopes": ["orders:read"],
        "auth_method": "private_key_jwt", "jwks": '{"keys": [], ' + jwks[1:]})
    assert twice.status_code == 422 and "must be a JSON JWK Set" in twice.text
    created = http.post("/console/clients/new", data={
        "csrf": csrf, "name": "signer", "scopes": ["orders:read", "orders:write"],
        "auth_method": "private_key_jwt", "jwks": jwks, "token_lifetime": "600"})
    assert created.status_code == 201 and "it has no secret" in created.text
    client = clients_named(issuer, "signer")[0]
    assert (client.auth_method, client.token_lifetime) == ("private_key_jwt", 600)
    edited = http.post(f"/console/clients/{client.client_id}/edit", data={
        "csrf": csrf, "name": "signer 2", "scopes": "orders:read", "token_lifetime": ""})
    assert edited.status_code == 303
    assert edited.headers["location"].endswith("done=updated")
    again = clients_named(issuer, "signer 2")[0]
    assert (again.scopes, again.token_lifetime) == (["orders:read"], None)
    bad = http.post(f"/console/clients/{client.client_id}/edit", data={
        "csrf": csrf, "name": "signer 3", "scopes": "nope:nope"})
    assert bad.status_code == 422


def test_keys_page_shows_the_timeline(env, signed_in):
    http, csrf = signed_in
    http.post("/console/keys/rotate", data={"csrf": csrf})
    page = http.get("/console/keys").text
    assert 'class="status status-next">next' in page
    assert "<em>expected " in page


def test_policy_page_lists_holders(env, signed_in):
    admin = env[2]
    http, _ = signed_in
    page = http.get("/console/policy").text
    assert "<code>orders:read</code>" in page and "GET</td><td><code>/orders/*" in page
    assert f'href="/console/clients/{admin.client.client_id}">admin</a>' in page



def test_activity_and_links_on_each_database(db_kind, databases, policy_file):
    """The upsert (SQLite and PostgreSQL dialects) adds to the same row across flushes
    and processes; a link is redeemed once."""
    from issuer.clients.activity import ActivityCounter, activity_of
    from issuer.clients.console_links import redeem

    issuer, clock = clocked_issuer(databases.new_url(db_kind), policy_file)
    try:
        counted = issuer.client(["orders:read"], name="counted")
        cid = counted.client.client_id
        first = ActivityCounter(issuer.services.sessions, clock)
        second = ActivityCounter(issuer.services.sessions, clock)
        first.issued(cid)
        first.failed(cid)
        second.issued(cid)
        second.failed("c_unknown")
        assert (first.flush(), second.flush()) == (1, 2)
        first.issued(cid)
        first.flush()
        with issuer.services.sessions() as session:
            seen = activity_of(session, cid, clock())
        assert (seen.day_issued, seen.day_failed, len(seen.hours)) == (3, 1, 1)
        admin = issuer.client([ADMIN], name="admin")
        code = _link(issuer, admin.client.client_id)
        with issuer.services.sessions() as session:
            assert redeem(session, code, clock()) == admin.client.client_id
            assert redeem(session, code, clock()) is None
            assert redeem(session, "x" * 101, clock()) is None
    finally:
        issuer.services.engine.dispose()


def test_federated_client_pages(env, signed_in):
    """A federated client (made by the admin API or the CLI) has pages as any other: its
    identities are read while its session is open."""
    issuer = env[0]
    http, _ = signed_in
    services = issuer.services
    ext = ExternalIssuer("https://kubernetes.console.example.test")
    actor = Actor("cli:test", "cli")
    with services.sessions() as session:
        trusted_issuers.add(session, {"issuer": ext.iss, "jwks": ext.jwks(),
                                      "algorithms": [ext.alg]},
                            actor, services.clock(), UriPolicy.from_settings(services.settings))
        client_id = client_admin.register(
            session, services.hasher, services.policy, actor, services.clock(),
            name="workload", scopes=["orders:read"], auth_method="federated",
            federated_identities=[(ext.iss, "system:serviceaccount:jobs:batch")],
        ).client.client_id
    for path in (f"/console/clients/{client_id}", f"/console/clients/{client_id}/delete"):
        response = http.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert client_id in response.text


def test_control_characters_in_searches_and_a_jti(db_kind, databases, policy_file):
    """No stored name, id, action or jti holds one: a search drops them, a jti with one is
    refused, and none reaches the database (PostgreSQL refuses NUL: a 503)."""
    issuer, _ = clocked_issuer(databases.new_url(db_kind), policy_file)
    try:
        admin = issuer.client([ADMIN], name="admin")
        with console_http(issuer) as http:
            csrf = sign_in(http, admin.client.client_id, admin.client_secret)
            found = http.get("/console/clients", params={"q": "adm\x00in"})
            assert found.status_code == 200 and admin.client.client_id in found.text
            for name in ("actor", "action", "target"):
                assert http.get("/console/audit", params={name: "a\x00"}).status_code == 200
            refused = http.post("/console/revocation", data={
                "csrf": csrf, "token": "j\x00", "client_id": admin.client.client_id})
            assert refused.status_code == 422 and "Paste an access token or a jti" in refused.text
    finally:
        issuer.services.engine.dispose()
