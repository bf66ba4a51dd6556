"""`issuer` CLI: create --json prints id and secret once; list/show never show a secret."""

from __future__ import annotations

import json

import pytest

from issuer.cli import main
from issuer.keys.kek import new_kek_text


@pytest.fixture
def cli_env(tmp_path, monkeypatch, policy_file):
    monkeypatch.chdir(tmp_path)  # no stray .env or issuer.db from elsewhere
    for name in ("ISSUER_KEY_ENCRYPTION_KEY", "ISSUER_ENV", "ISSUER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ISSUER_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("POLICY_FILE", str(policy_file))
    assert main(["db", "upgrade"]) == 0
    return tmp_path


def run_json(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out), out


def test_create_list_show(cli_env, capsys):
    created, _ = run_json(
        capsys,
        ["clients", "create", "--name", "svc", "--scope", "orders:read billing:read",
         "--lifetime", "600", "--json"],
    )
    cid, secret = created["client_id"], created["client_secret"]
    assert len(secret) >= 43 and cid
    assert created["scopes"] == ["orders:read", "billing:read"]
    assert created["token_lifetime"] == 600
    assert "secret_hash" not in created

    listed, raw_list = run_json(capsys, ["clients", "list", "--json"])
    assert [c["client_id"] for c in listed["items"]] == [cid]
    assert listed["next_cursor"] is None
    shown, raw_show = run_json(capsys, ["clients", "show", cid, "--json"])
    assert shown["name"] == "svc"
    assert main(["clients", "list"]) == 0
    assert main(["clients", "show", cid]) == 0
    plain = capsys.readouterr().out
    for text in (raw_list, raw_show, plain):
        assert secret not in text
        assert "secret" not in text.replace("client_secret", "")  # no hash field either
    # The development KEK was made once, private to the user.
    assert oct((cli_env / ".tollgate" / "kek").stat().st_mode & 0o777) == "0o600"


def test_created_secret_works_at_the_token_endpoint(cli_env, capsys, monkeypatch):
    from fastapi.testclient import TestClient

    from issuer.http.app import create_app
    from issuer.settings import load_settings

    created, _ = run_json(
        capsys, ["clients", "create", "--name", "svc", "--scope", "orders:read", "--json"]
    )
    with TestClient(create_app(load_settings())) as http:
        response = http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(created["client_id"], created["client_secret"]),
        )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "argv",
    [
        ["clients", "create", "--name", "x", "--scope", "nope:read"],
        ["clients", "create", "--name", "x", "--scope", "orders:read",
         "--audience", "https://unknown.example"],
        ["clients", "create", "--name", "x", "--scope", "orders:read", "--lifetime", "5"],
        ["clients", "create", "--name", " ", "--scope", "orders:read"],
    ],
    ids=["undeclared-scope", "unknown-audience", "lifetime-too-short", "blank-name"],
)
def test_create_refuses_bad_input(cli_env, capsys, argv):
    assert main(argv) == 2
    assert "issuer:" in capsys.readouterr().err


def test_show_unknown_client(cli_env, capsys):
    assert main(["clients", "show", "c_missing"]) == 1
    assert "no client" in capsys.readouterr().err


def test_production_refuses_development_defaults(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("ISSUER_ENV", "production")
    assert main(["clients", "list"]) == 2
    err = capsys.readouterr().err
    assert "ISSUER_KEY_ENCRYPTION_KEY" in err and "ISSUER_URL" in err
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", new_kek_text())
    monkeypatch.setenv("ISSUER_URL", "https://issuer.example")
    assert main(["clients", "list"]) == 0
