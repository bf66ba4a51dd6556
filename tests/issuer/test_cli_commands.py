"""The commands operators reach for (issue 15): `policy check`, `kek new`, `kek rotate`,
`--version`, help on every option, `clients delete` confirmation, lists in the admin
API's shape."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from authorizer import cli as authorizer_cli
from authorizer.gateway import gateway_parser
from issuer.cli import full_parser, main
from issuer.keys.kek import decode_kek
from issuer.settings import load_settings, weak_kek

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "shared" / "example_policy.toml"


def walk(parser: argparse.ArgumentParser, name: str):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from walk(child, f"{name} {sub}")


@pytest.mark.parametrize(
    "parser", [full_parser(), authorizer_cli.check_parser(), gateway_parser()],
    ids=["issuer", "authorizer check", "authorizer gateway"]
)
def test_every_option_has_help(parser):
    missing = []
    for name, each in walk(parser, parser.prog):
        for action in each._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


@pytest.mark.parametrize("program", ["issuer.cli", "authorizer.cli"])
def test_version_is_the_package_version(program):
    proc = subprocess.run([sys.executable, "-m", program, "--version"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0
    assert proc.stdout.strip().endswith(f"(tollgate) {version('tollgate')}")
    assert version("tollgate") != "0.0.0"


def test_kek_new_prints_a_usable_kek(capsys):
    seen = set()
    for _ in range(3):
        assert main(["kek", "new"]) == 0
        text = capsys.readouterr().out.strip()
        key = decode_kek(text)
        assert len(key) == 32 and not weak_kek(key)
        seen.add(text)
        # Accepted where the error message sends operators: a production setting.
        load_settings({"ISSUER_ENV": "production", "ISSUER_KEY_ENCRYPTION_KEY": text,
                       "ISSUER_URL": "https://issuer.example.test",
                       "ISSUER_DATABASE_URL": "postgresql+psycopg://u@db/x",
                       "POLICY_FILE": str(EXAMPLE)}, env_file=None)
    assert len(seen) == 3
    assert main(["kek", "new", "--json"]) == 0
    assert len(decode_kek(json.loads(capsys.readouterr().out)["kek"])) == 32


def test_policy_check_reports_each_scope_and_the_iam_residue(capsys):
    assert main(["policy", "check", str(EXAMPLE)]) == 0
    text = capsys.readouterr().out
    assert f"{EXAMPLE}: valid (2 APIs, 4 scopes)" in text
    assert "scope orders:read" in text
    assert "grants      GET /orders, GET /orders/{id}, GET /orders/{id}/lines" in text
    assert "iam_inexact GET/orders/* grants more than the granted routes" in text
    assert main(["policy", "check", str(EXAMPLE), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["iam_inexact"] == 1
    read = next(s for a in report["apis"] for s in a["scopes"] if s["scope"] == "orders:read")
    assert read["iam_allow"] == ["GET/orders", "GET/orders/*"]
    # The authorizer's check prints the very same report.
    assert authorizer_cli.main(["check", "--policy", str(EXAMPLE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report


def create(capsys, name="svc"):
    capsys.readouterr()
    assert main(["clients", "create", "--name", name, "--scope", "orders:read", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code", "deleted"), [("y\n", 0, True), ("n\n", 1, False),
                                                         ("\n", 1, False)])
def test_delete_asks_on_a_terminal(admin_cli_env, capsys, monkeypatch, answer, code, deleted):
    cid = create(capsys)["client_id"]
    monkeypatch.setattr(sys, "stdin", Tty(answer))
    assert main(["clients", "delete", cid]) == code
    err = capsys.readouterr().err
    assert f"Delete client {cid} (svc)?" in err
    assert (main(["clients", "show", cid]) == 1) is deleted


def test_delete_without_a_terminal_needs_yes(admin_cli_env, capsys, monkeypatch):
    cid = create(capsys)["client_id"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # piped: not asked, refused
    assert main(["clients", "delete", cid]) == 1
    assert "give --yes" in capsys.readouterr().err
    assert main(["clients", "show", cid]) == 0
    assert main(["clients", "delete", cid, "--yes"]) == 0
    assert main(["clients", "show", cid]) == 1


def test_lists_have_the_admin_api_shape(admin_cli_env, capsys):
    ids = [create(capsys, f"c{i}")["client_id"] for i in range(3)]
    capsys.readouterr()
    seen, cursor = [], None
    while True:
        argv = ["clients", "list", "--json", "--limit", "2"]
        assert main(argv + (["--cursor", cursor] if cursor else [])) == 0
        page = json.loads(capsys.readouterr().out)
        assert set(page) == {"items", "next_cursor"}
        seen += [c["client_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert main(["audit", "--json", "--limit", "2"]) == 0
    audit = json.loads(capsys.readouterr().out)
    assert set(audit) == {"items", "next_cursor"} and len(audit["items"]) == 2
    assert main(["audit", "--json", "--cursor", audit["next_cursor"]]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 1


def test_kek_rotate_keeps_secrets_and_keys(admin_cli_env, capsys, monkeypatch):
    from fastapi.testclient import TestClient

    from issuer.http.app import create_app

    old = os.environ["ISSUER_KEY_ENCRYPTION_KEY"]
    made = create(capsys)
    assert main(["keys", "rotate"]) == 0
    capsys.readouterr()
    assert main(["kek", "new"]) == 0
    new = capsys.readouterr().out.strip()

    # The new KEK alone is refused before the change (nothing under it yet).
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", new)
    assert main(["clients", "list"]) == 2
    assert "does not decrypt" in capsys.readouterr().err

    monkeypatch.setenv("ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY", old)
    assert main(["kek", "rotate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "rotated": True, "signing_keys_resealed": 1, "sealed_under": "ISSUER_KEY_ENCRYPTION_KEY"}
    assert main(["kek", "rotate"]) == 0
    assert capsys.readouterr().out.startswith("nothing to re-seal")

    monkeypatch.delenv("ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY")
    with TestClient(create_app(load_settings())) as http:
        token = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=(made["client_id"], made["client_secret"]))
        assert token.status_code == 200, token.text
        assert http.get("/readyz").status_code == 200
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", old)
    assert main(["clients", "list"]) == 2
    assert "does not decrypt" in capsys.readouterr().err
