"""A key-encryption key that is well formed but not the one the database was set up with
is detected before anything runs: every CLI command, `issuer serve`, `create_app`,
`app_factory` and the Lambda entries refuse in one line (exit non-zero, no traceback)
and write nothing. Without the check a `clients rotate-secret --grace 0` under the wrong
KEK hashed the new secret with the wrong HMAC key and locked the client out with both
secrets, and `issuer serve` started with /healthz ok while every token request failed.

Two databases: one with a signing key (checked by decrypting it) and one with clients
but no key yet (checked by the KEK check value written with the first secret)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select

from issuer.cli import main
from issuer.keys.kek import KekError, new_kek_text
from issuer.settings import load_settings
from issuer.store.engine import make_engine

ROOT = Path(__file__).resolve().parents[2]
WRONG = "ISSUER_KEY_ENCRYPTION_KEY does not decrypt"


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every table: 'nothing was written' compared exactly."""
    engine = make_engine(url)
    try:
        tables = MetaData()
        with engine.connect() as conn:
            tables.reflect(conn)
            return {
                name: sorted(map(tuple, conn.execute(select(table))), key=repr)
                for name, table in sorted(tables.tables.items())
            }
    finally:
        engine.dispose()


def run(capsys, argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys, argv):
    code, out, err = run(capsys, argv)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(params=["with_key", "secrets_only"])
def setup(request, admin_cli_env, capsys):
    """A database set up under one KEK: a client (and, `with_key`, a signing key, as
    `issuer serve` makes it). Returns (url, right KEK, client id, kind)."""
    right = os.environ["ISSUER_KEY_ENCRYPTION_KEY"]
    created = run_json(capsys, ["clients", "create", "--name", "svc", "--scope",
                                "orders:read", "--json"])
    if request.param == "with_key":
        run_json(capsys, ["keys", "rotate", "--json"])
    return os.environ["ISSUER_DATABASE_URL"], right, created, request.param


REFUSED_VERBS = [
    ["clients", "rotate-secret", "{cid}", "--grace", "0", "--json"],
    ["clients", "create", "--name", "other", "--scope", "orders:read", "--json"],
    ["clients", "update", "{cid}", "--name", "renamed"],
    ["clients", "disable", "{cid}"],
    ["clients", "enable", "{cid}"],
    ["clients", "delete", "{cid}", "--yes"],
    ["clients", "list"],
    ["clients", "show", "{cid}"],
    ["keys", "list"],
    ["keys", "rotate"],
    ["keys", "rotate", "--if-due"],
    ["audit"],
]


@pytest.mark.parametrize(
    "argv", REFUSED_VERBS, ids=lambda argv: " ".join(a for a in argv if "{" not in a)
)
def test_cli_refuses_a_wrong_kek_and_writes_nothing(setup, capsys, monkeypatch, argv):
    url, _right, created, kind = setup
    before = snapshot(url)
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", new_kek_text())
    code, out, err = run(capsys, [a.format(cid=created["client_id"]) for a in argv])
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    if "--json" in argv:  # the error as JSON too (issuer/cli/errors.py)
        assert json.loads(lines[0])["error"] == "wrong_kek"
        assert json.loads(lines[0])["error_description"].startswith(WRONG), err
    else:
        assert lines[0].startswith("issuer: " + WRONG), err
    assert ("(kid " in lines[0]) is (kind == "with_key")
    assert "Traceback" not in err
    assert snapshot(url) == before


def test_right_kek_still_works_after_a_refusal(setup, capsys, monkeypatch):
    _url, right, created, _kind = setup
    cid = created["client_id"]
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", new_kek_text())
    assert run(capsys, ["clients", "rotate-secret", cid, "--grace", "0"])[0] == 2
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", right)
    rotated = run_json(capsys, ["clients", "rotate-secret", cid, "--grace", "0", "--json"])
    with TestClient(create_app_from_env()) as http:
        response = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                             auth=(cid, rotated["client_secret"]))
    assert response.status_code == 200, response.text


def create_app_from_env():
    from issuer.http.app import create_app

    return create_app(load_settings())


def test_create_app_refuses_a_wrong_kek(setup, monkeypatch):
    url, _right, _created, _kind = setup
    before = snapshot(url)
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", new_kek_text())
    with pytest.raises(KekError, match=WRONG):
        with TestClient(create_app_from_env()):
            pass
    assert snapshot(url) == before


def test_app_factory_refuses_a_wrong_kek_in_one_line(setup, monkeypatch, capsys):
    from issuer.http.app import app_factory

    url, _right, _created, _kind = setup
    before = snapshot(url)
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", new_kek_text())
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        app_factory()
    assert exit_info.value.code not in (0, None)
    err = capsys.readouterr().err
    assert WRONG in err and "Traceback" not in err
    (line,) = err.splitlines()  # one JSON log line, like every line of a server process
    logged = json.loads(line)
    assert (logged["level"], logged["event"], logged["error"]) == (
        "critical", "startup_failed", "WrongKek"
    )
    assert snapshot(url) == before


def _child_env(url: str, kek: str, policy_file) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ISSUER_", "AWS_"))}
    env.update({"ISSUER_URL": "https://issuer.example.test", "ISSUER_DATABASE_URL": url,
                "ISSUER_KEY_ENCRYPTION_KEY": kek, "POLICY_FILE": str(policy_file),
                "PYTHONPATH": str(ROOT)})
    return env


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_refuses_a_wrong_kek(setup, policy_file, workers):
    url, _right, _created, _kind = setup
    before = snapshot(url)
    proc = subprocess.run(
        [sys.executable, "-m", "issuer.cli", "serve", "--port", "0", "--workers", str(workers)],
        env=_child_env(url, new_kek_text(), policy_file), cwd=ROOT,
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    refusals = [line for line in proc.stderr.splitlines() if WRONG in line]
    assert len(refusals) == 1 and refusals[0].startswith("issuer: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Uvicorn running" not in proc.stderr
    assert snapshot(url) == before


def test_lambda_cold_start_refuses_a_wrong_kek(setup, policy_file):
    url, _right, _created, _kind = setup
    before = snapshot(url)
    proc = subprocess.run(
        [sys.executable, "-c", "import deploy.issuer_lambda"],
        env=_child_env(url, new_kek_text(), policy_file), cwd=ROOT,
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    refusals = [line for line in proc.stderr.splitlines() if WRONG in line]
    assert len(refusals) == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert snapshot(url) == before


@pytest.mark.parametrize("broken", ["kek", "policy"])
def test_lambda_cold_start_with_a_bad_setting_fails_in_one_line(setup, policy_file, tmp_path,
                                                                  broken):
    # A setting the settings refuse (the KEK not base64url of 32 bytes) or a policy file
    # that does not parse: one line naming it, no traceback in the function's init log,
    # nothing written.
    url, right, _created, _kind = setup
    before = snapshot(url)
    bad_policy = tmp_path / "policy.toml"
    bad_policy.write_text("[apis.orders\n")
    env = (_child_env(url, "not-a-kek", policy_file) if broken == "kek"
           else _child_env(url, right, bad_policy))
    proc = subprocess.run([sys.executable, "-c", "import deploy.issuer_lambda"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1, proc.stderr[-2000:]
    expected = ("issuer: ISSUER_KEY_ENCRYPTION_KEY" if broken == "kek"
                else f"issuer: {bad_policy}: not valid TOML")
    assert proc.stderr.startswith(expected), proc.stderr
    assert "not-a-kek" not in proc.stderr
    assert snapshot(url) == before


def test_scheduled_rotation_refuses_a_wrong_kek(setup, monkeypatch):
    from deploy.rotate_keys import handler

    url, _right, _created, _kind = setup
    before = snapshot(url)
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", new_kek_text())
    with pytest.raises(RuntimeError, match=WRONG):
        handler({}, None)
    assert snapshot(url) == before


def _drop_check_value(url: str) -> None:
    """As a database migrated to 0006 but not yet opened by anything that writes it."""
    from issuer.store.models import KekCheck

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(KekCheck.__table__.delete())
    finally:
        engine.dispose()


def test_a_database_without_check_value_is_checked_against_its_keys(setup, capsys,
                                                                    monkeypatch, caplog):
    url, right, created, kind = setup
    _drop_check_value(url)
    before = snapshot(url)
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", new_kek_text())
    code, _out, err = run(capsys, ["clients", "rotate-secret", created["client_id"]])
    if kind == "with_key":
        # The key refutes the KEK: refused, and no check value is stored under it.
        assert code == 2 and "(kid " in err
        assert snapshot(url) == before
    else:
        # Secrets alone cannot refute a KEK: taken on first use (and logged), as any
        # database before revision 0006 with clients but no signing key would be.
        assert code == 0, err
        assert any('"event": "kek_check_unverified"' in r.message for r in caplog.records)
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", right)
    code, _out, err = run(capsys, ["clients", "list"])
    assert (code == 0) is (kind == "with_key"), err
    if kind == "with_key":
        assert len(snapshot(url)["kek_check"]) == 1  # stored once the keys vouched for it


def test_key_writers_check_the_kek_themselves(setup, monkeypatch):
    """Even where the startup check could not run (the database was down when the app
    was built), no first or rotated key is sealed under a refuted KEK."""
    from issuer.audit import cli_actor
    from issuer.keys.admin import rotate
    from issuer.keys.kek import Kek, WrongKek, decode_kek
    from issuer.keys.store import ensure_active_key
    from issuer.store.engine import make_session_factory
    from issuer.store.tables import utcnow

    url, _right, _created, _kind = setup
    before = snapshot(url)
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        wrong = Kek(decode_kek(new_kek_text()))
        with pytest.raises(WrongKek, match=WRONG):
            ensure_active_key(sessions, wrong, "ES256")
        with sessions() as session, pytest.raises(WrongKek, match=WRONG):
            rotate(session, wrong, "ES256", cli_actor(), utcnow())
    finally:
        engine.dispose()
    assert snapshot(url) == before


def test_a_server_built_while_the_database_was_down_checks_at_startup(
    tmp_path, policy_file, monkeypatch
):
    from helpers.issuer_env import make_settings

    from issuer.http.app import create_app

    url = f"sqlite:///{tmp_path}/later/issuer.db"
    app = create_app(make_settings(url, policy_file))  # cannot open it: check deferred
    (tmp_path / "later").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ISSUER_DATABASE_URL", url)
    monkeypatch.setenv("POLICY_FILE", str(policy_file))
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", new_kek_text())  # another KEK
    assert main(["db", "upgrade"]) == 0
    assert main(["clients", "create", "--name", "x", "--scope", "orders:read"]) == 0
    before = snapshot(url)
    with pytest.raises(KekError, match=WRONG):
        with TestClient(app):
            pass
    assert snapshot(url) == before
