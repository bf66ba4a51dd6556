"""`/docs` works offline (issuer/http/docs.py): the page references only same-origin
assets, which the issuer serves itself (vendored Swagger UI, hashes pinned), and sends
nothing to a third party; in production `/docs` and `/openapi.json` are off unless
ISSUER_DOCS=on."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_env import make_settings

from issuer.http.app import create_app
from issuer.http.docs import ASSETS, STATIC
from issuer.services import build_services
from issuer.settings import SettingsError

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


def _app(policy_file: Path, **env: str) -> TestClient:
    settings = make_settings("sqlite://", policy_file, **env)
    return TestClient(create_app(settings, build_services(settings)))


def test_page_references_only_same_origin_assets(http):
    response = http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    references = [a or b for a, b in REFERENCE.findall(page)]
    assert sorted(references) == sorted([
        "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/favicon-32x32.png",
        "/openapi.json",
    ])
    assert "//" not in "".join(references)  # no scheme, no protocol-relative host
    assert "http://" not in page and "https://" not in page
    # No call to Swagger's online validator; Authorize asks for the admin scope.
    assert '"validatorUrl": null' in page
    assert 'ui.initOAuth({"scopes": ["issuer:admin"]})' in page


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_assets_are_served_from_the_issuer(http, name):
    response = http.get(f"/docs/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == ASSETS[name]
    assert response.content == (STATIC / name).read_bytes()
    assert response.headers["cache-control"] == "public, max-age=86400"


def test_vendored_files_match_their_recorded_hashes():
    table = (STATIC / "README.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"\| `([^`]+)` \| `([0-9a-f]{64})` \|", table))
    assert set(recorded) == set(ASSETS)
    for name, digest in recorded.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    for notice in ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"):
        assert (STATIC / notice).is_file()


@pytest.mark.parametrize("path", ["/docs/../settings.py", "/docs/index.html", "/redoc",
                                  "/docs/swagger-ui-bundle.js.map"])
def test_nothing_else_is_served(http, path):
    assert http.get(path).status_code == 404


PRODUCTION = {"ISSUER_ENV": "production"}


def test_production_has_no_docs_by_default(policy_file):
    with _app(policy_file, **PRODUCTION) as client:
        for path in ("/docs", "/openapi.json", "/docs/swagger-ui-bundle.js"):
            assert client.get(path).status_code == 404, path
        assert client.get("/healthz").status_code == 200  # the app itself is up


def test_production_docs_when_asked(policy_file):
    with _app(policy_file, ISSUER_DOCS="on", **PRODUCTION) as client:
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "tollgate issuer"


def test_development_docs_can_be_turned_off(policy_file):
    with _app(policy_file, ISSUER_DOCS="off") as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404


def test_docs_setting_is_checked(policy_file):
    with pytest.raises(SettingsError, match="ISSUER_DOCS must be on or off"):
        make_settings("sqlite://", policy_file, ISSUER_DOCS="sometimes")


def test_root_path_is_honoured(issuer):
    """Behind a path prefix (ASGI root_path), the page asks for the prefixed URLs."""
    with TestClient(issuer.app(), root_path="/auth") as client:
        page = client.get("/docs").text
    assert "/auth/docs/swagger-ui-bundle.js" in page and "url: '/auth/openapi.json'" in page
