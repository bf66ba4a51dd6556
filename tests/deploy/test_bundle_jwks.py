"""`python -m deploy.bundle_jwks --from-db`: the JWKS packaged with the authorizer, read
from the issuer's database (step "bundle" of deploy/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import bundle_jwks
from issuer.keys.kek import Kek, decode_kek, new_kek_text
from issuer.keys.store import ensure_active_key
from issuer.store.engine import make_engine, make_session_factory
from issuer.store.migrate import upgrade
from shared.jwk import KeySet

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'issuer.db'}"
    kek_text = new_kek_text()
    for name in ("ISSUER_ENV", "ISSUER_URL", "POLICY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ISSUER_DATABASE_URL", url)
    monkeypatch.setenv("ISSUER_KEY_ENCRYPTION_KEY", kek_text)
    monkeypatch.chdir(tmp_path)  # no .env of the repository in play
    engine = make_engine(url)
    upgrade(engine)
    yield url, engine, Kek(decode_kek(kek_text))
    engine.dispose()


def test_from_db_writes_the_active_public_key(database, tmp_path, capsys):
    _, engine, kek = database
    kid = ensure_active_key(make_session_factory(engine), kek, "ES256")
    out = tmp_path / "jwks.json"
    assert bundle_jwks.main(["--from-db", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert [k["kid"] for k in written["keys"]] == [kid]
    assert not {"d", "p", "q"} & set(written["keys"][0])
    assert KeySet.from_jwks(written).get(kid) is not None
    assert f"wrote 1 key(s) to {out}: {kid}" in capsys.readouterr().out


def test_from_db_without_a_key_fails_in_one_line_and_writes_nothing(database, tmp_path, capsys):
    out = tmp_path / "jwks.json"
    assert bundle_jwks.main(["--from-db", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == "bundle_jwks: the JWKS has no keys\n"
    assert not out.exists()


def test_from_db_as_the_guide_runs_it(database, tmp_path):
    _, engine, kek = database
    kid = ensure_active_key(make_session_factory(engine), kek, "RS256")
    out = tmp_path / "bundle.json"
    done = subprocess.run([sys.executable, "-m", "deploy.bundle_jwks", "--from-db", "--out",
                           str(out)], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert [k["kid"] for k in json.loads(out.read_text())["keys"]] == [kid]
