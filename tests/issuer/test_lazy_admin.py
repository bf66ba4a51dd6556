"""The admin API is imported on its first request (issuer/http/lazy_routes.py): the
issuer's Lambda init (a cold start for a token) loads none of its modules, and the app
answers admin requests and documents admin operations exactly as if it had."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from helpers.issuer_env import ISSUER_URL, make_issuer

from issuer.http.lazy_routes import LazyRouters
from issuer.keys.kek import new_kek_text

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
ROUTERS = {"issuer.http.admin." + name
           for name in ("clients", "keys", "audit", "trusted_issuers", "schemas")}
# What a token does not need either: introspection, revocation, discovery, health.
ROUTERS |= {"issuer.http.oauth.introspect", "issuer.http.oauth.revoke",
            "issuer.http.discovery.metadata", "issuer.http.discovery.revocation_list",
            "issuer.http.health"}
import deploy.issuer_lambda
print(json.dumps(sorted(m for m in sys.modules if m in ROUTERS)))
"""


def test_the_lambda_init_imports_no_admin_nor_other_public_route_module(databases, policy_file):
    kek, url = new_kek_text(), databases.new_url("sqlite")
    make_issuer(url, policy_file, ISSUER_KEY_ENCRYPTION_KEY=kek).services.engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ISSUER_", "AWS_"))}
    env.update({"ISSUER_URL": ISSUER_URL, "ISSUER_DATABASE_URL": url,
                "ISSUER_KEY_ENCRYPTION_KEY": kek, "POLICY_FILE": str(policy_file),
                "PYTHONPATH": str(ROOT)})
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_the_first_admin_request_loads_the_routes_in_place(issuer):
    app = issuer.app()
    before = list(app.routes)
    # The admin API's placeholder (the console, on in development, has its own).
    at = [n for n, route in enumerate(before)
          if isinstance(route, LazyRouters) and route.prefixes == ("/admin",)]
    assert len(at) == 1
    with TestClient(app) as http:
        # Routed by the real admin route after loading: its own 401 and error body.
        response = http.get("/admin/clients")
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        assert http.get("/admin/no-such-thing").status_code == 404
        assert http.get("/oauth2/token").status_code == 405  # the rest untouched
    after = list(app.routes)
    # The four admin routers where the placeholder stood, everything else as it was.
    assert not any(isinstance(route, LazyRouters) and route.prefixes == ("/admin",)
                   for route in after)
    assert after[:at[0]] == before[:at[0]] and after[at[0] + 4:] == before[at[0] + 1:]
    assert len(after) == len(before) + 3


def test_the_openapi_document_lists_admin_operations_before_any_admin_request(issuer):
    app = issuer.app()
    paths = app.openapi()["paths"]
    assert "/admin/clients" in paths and "/oauth2/token" in paths


def test_every_public_route_path_is_one_the_placeholder_answers_for():
    from starlette.routing import Match

    from issuer.http.app import PUBLIC_PATHS, _public_routers

    paths = [route.path for router in _public_routers() for route in router.routes]
    assert sorted(paths) == ["/.well-known/jwks.json", "/.well-known/oauth-authorization-server",
                             "/.well-known/revocations.jwt", "/healthz", "/oauth2/introspect",
                             "/oauth2/revoke", "/readyz"]
    placeholder = LazyRouters(None, PUBLIC_PATHS, list)  # type: ignore[arg-type]
    for path in paths:
        scope = {"type": "http", "path": path, "root_path": ""}
        assert placeholder.matches(scope)[0] is Match.FULL, path
    # ... and no other path: a token request is never routed through it.
    for path in ("/oauth2/token", "/oauth2/introspection", "/admin/clients", "/"):
        scope = {"type": "http", "path": path, "root_path": ""}
        assert placeholder.matches(scope)[0] is Match.NONE, path


def test_the_first_request_for_a_public_route_loads_them_in_place(issuer):
    app = issuer.app()
    before = list(app.routes)
    at = [n for n, route in enumerate(before)
          if isinstance(route, LazyRouters) and route.prefixes[0] == "/oauth2/introspect"]
    assert len(at) == 1
    with TestClient(app) as http:
        assert http.get("/oauth2/token").status_code == 405  # the token route: eager
        assert list(app.routes) == before  # ... and routed before the placeholder
        response = http.get("/healthz")
        assert response.status_code == 200 and response.json()["status"] == "ok"
        assert http.get("/.well-known/jwks.json").json()["keys"]
        assert http.get("/.well-known/nothing").status_code == 404
        revoked = http.post("/oauth2/revoke")  # its own answer: no token named
        assert (revoked.status_code, revoked.json()["error"]) == (400, "invalid_request")
    after = list(app.routes)
    # The five routers where the placeholder stood, everything else as it was.
    assert after[:at[0]] == before[:at[0]] and after[at[0] + 5:] == before[at[0] + 1:]
    assert len(after) == len(before) + 4
    assert not any(isinstance(route, LazyRouters) and route.prefixes[0] == "/oauth2/introspect"
                   for route in after)
    # The document lists the operations in the eager app's order.
    assert [p for p in app.openapi()["paths"] if not p.startswith(("/admin", "/console"))] == [
        "/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/.well-known/revocations.jwt",
        "/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/healthz",
        "/readyz"]
