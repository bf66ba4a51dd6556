"""The admin CLI verbs on the database directly: the first admin client, the client
verbs with --json, keys list/rotate/--if-due, and `issuer audit` (actor cli:<user>)."""

from __future__ import annotations

import getpass
import json

import pytest
from fastapi.testclient import TestClient
from helpers.issuer_admin import bearer, token_for

from issuer.cli import main
from issuer.http.app import create_app
from issuer.settings import load_settings


def run_json(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_first_admin_from_the_cli_can_use_the_admin_api(admin_cli_env, capsys):
    admin = run_json(capsys, ["clients", "create", "--name", "admin", "--scope", "issuer:admin",
                              "--json"])
    with TestClient(create_app(load_settings())) as http:
        token = token_for(http, admin["client_id"], admin["client_secret"])
        response = http.get("/admin/clients", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert [c["name"] for c in response.json()["items"]] == ["admin"]


def test_client_verbs(admin_cli_env, capsys):
    created = run_json(capsys, ["clients", "create", "--name", "svc", "--scope", "orders:read",
                                "--json"])
    cid = created["client_id"]
    updated = run_json(capsys, ["clients", "update", cid, "--name", "svc2", "--scope",
                                "orders:read orders:write", "--lifetime", "600", "--json"])
    assert updated["name"] == "svc2" and updated["token_lifetime"] == 600
    assert updated["scopes"] == ["orders:read", "orders:write"]
    reset = run_json(capsys, ["clients", "update", cid, "--default-lifetime", "--json"])
    assert reset["token_lifetime"] is None
    assert run_json(capsys, ["clients", "disable", cid, "--json"])["enabled"] is False
    assert run_json(capsys, ["clients", "enable", cid, "--json"])["enabled"] is True
    rotated = run_json(capsys, ["clients", "rotate-secret", cid, "--grace", "0", "--json"])
    assert rotated["previous_secret_valid_until"] is None
    assert rotated["client_secret"] != created["client_secret"]
    assert run_json(capsys, ["clients", "delete", cid, "--yes", "--json"]) == {
        "client_id": cid, "deleted": True}
    assert main(["clients", "show", cid]) == 1

    records = run_json(capsys, ["audit", "--json", "--limit", "10"])["items"]
    assert [r["action"] for r in records] == [
        "client.delete", "client.rotate_secret", "client.enable", "client.disable",
        "client.update", "client.update", "client.create"]
    assert {r["actor"] for r in records} == {f"cli:{getpass.getuser()}"}
    text = json.dumps(records)
    assert created["client_secret"] not in text and rotated["client_secret"] not in text
    page = run_json(capsys, ["audit", "--json", "--limit", "1"])
    assert page["items"][0]["action"] == "client.delete" and page["next_cursor"]
    assert main(["audit"]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["clients", "update", "c_nobody", "--name", "x"],
        ["clients", "rotate-secret", "c_nobody"],
        ["clients", "disable", "c_nobody"],
        ["clients", "delete", "c_nobody"],
    ],
    ids=["update", "rotate-secret", "disable", "delete"],
)
def test_unknown_client(admin_cli_env, capsys, argv):
    assert main(argv) == 1
    assert "no client" in capsys.readouterr().err


def test_update_refusals_change_nothing(admin_cli_env, capsys):
    cid = run_json(capsys, ["clients", "create", "--name", "svc", "--scope", "orders:read",
                            "--json"])["client_id"]
    before = run_json(capsys, ["clients", "show", cid, "--json"])
    for argv in (["--scope", "nope:read"], ["--lifetime", "5"],
                 ["--lifetime", "600", "--default-lifetime"], ["--scope", "billing:read"]):
        assert main(["clients", "update", cid, *argv]) == 2
        assert "issuer:" in capsys.readouterr().err
    assert run_json(capsys, ["clients", "show", cid, "--json"]) == before
    assert len(run_json(capsys, ["audit", "--json"])["items"]) == 1


def test_keys_list_and_rotate(admin_cli_env, capsys):
    with TestClient(create_app(load_settings())):
        pass  # the first key, as `issuer serve` makes it
    keys = run_json(capsys, ["keys", "list", "--json"])["items"]
    assert [k["status"] for k in keys] == ["active"]
    due = run_json(capsys, ["keys", "rotate", "--if-due", "--json"])
    assert due["reason"] == "not due" and due["created"] is False
    rotated = run_json(capsys, ["keys", "rotate", "--json"])
    assert rotated["created"] and rotated["key"]["status"] == "next"
    assert rotated["key"]["activates_at"] is not None
    pending = run_json(capsys, ["keys", "rotate", "--json"])
    assert not pending["created"] and pending["key"]["kid"] == rotated["key"]["kid"]
    keys = run_json(capsys, ["keys", "list", "--json"])["items"]
    assert [k["status"] for k in keys] == ["next", "active"]
    assert not {"d", "private_key_encrypted"} & set(keys[0])
    assert main(["keys", "list"]) == 0 and main(["keys", "rotate"]) == 0
    records = run_json(capsys, ["audit", "--json"])["items"]
    assert [r["action"] for r in records] == ["key.rotate"]
