"""Bad input gets one clear line, never a traceback (issue 15).

Every case runs the real command in a subprocess, as an operator would, and asserts:
exactly one line on stderr naming what is wrong, nothing on stdout, the exit code
(issuer: 1 answer no, 2 fix the input or setting, 3 database unreachable; authorizer
check: 2), no `Traceback`, and nothing changed: the database's rows and the working
directory's files are what they were (no stray issuer.db or .tollgate/kek).

The PostgreSQL cases (a database that does not exist, a user the server refuses) need
the server at 127.0.0.1:5432 and are marked `postgres`; everything else runs on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.issuer_env import ORDERS, write_policy
from helpers.issuer_env import POLICY as GOOD_POLICY

ROOT = Path(__file__).resolve().parents[1]
ISSUER = [sys.executable, "-m", "issuer.cli"]
AUTHORIZER = [sys.executable, "-m", "authorizer.cli"]

BAD_POLICIES = {
    # name: (file text or None for a missing file, what the line must say)
    "toml-syntax": ("[apis.orders\n", "not valid TOML"),
    "unknown-key": (
        GOOD_POLICY.replace('audience = "', 'audiance = "'),
        "unknown key(s) 'audiance'",
    ),
    "undeclared-scope": (
        GOOD_POLICY.replace('scopes = ["orders:read"]', 'scopes = ["orders:delete"]'),
        "'orders:delete' is not declared",
    ),
    "missing-file": (None, "cannot read the policy file"),
}

# Every `issuer` command that reads POLICY_FILE ({cid}: the stored client's id).
# test_every_policy_reading_command_is_covered holds this list to the parser.
POLICY_COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "clients create": ["clients", "create", "--name", "x", "--scope", "orders:read"],
    "clients list": ["clients", "list"],
    "clients show": ["clients", "show", "{cid}"],
    "clients update": ["clients", "update", "{cid}", "--name", "y"],
    "clients rotate-secret": ["clients", "rotate-secret", "{cid}"],
    "clients disable": ["clients", "disable", "{cid}"],
    "clients enable": ["clients", "enable", "{cid}"],
    "clients delete": ["clients", "delete", "{cid}", "--yes"],
    "keys list": ["keys", "list"],
    "keys rotate": ["keys", "rotate"],
    "kek rotate": ["kek", "rotate"],
    "audit": ["audit"],
    "trusted-issuers add": ["trusted-issuers", "add", "https://idp.example.test",
                            "--jwks-uri", "https://idp.example.test/jwks"],
    "trusted-issuers list": ["trusted-issuers", "list"],
    "trusted-issuers show": ["trusted-issuers", "show", "https://idp.example.test"],
    "trusted-issuers update": ["trusted-issuers", "update", "https://idp.example.test",
                               "--no-reuse"],
    "trusted-issuers remove": ["trusted-issuers", "remove", "https://idp.example.test"],
    "console link": ["console", "link", "--client", "{cid}"],
}
# Commands that do not read the policy: `db upgrade` migrates, `kek new` prints a key,
# `policy check FILE` reads FILE (its own cases below).
NO_POLICY_COMMANDS = {"db upgrade", "kek new", "policy check"}


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ISSUER_", "AUTHORIZER_", "TOLLGATE_", "AWS_"))
        and k != "POLICY_FILE"
    }
    env.update(extra)
    return env


def rows(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def files(directory: Path) -> list[str]:
    # SQLite's -wal and -shm files come and go with connections; the rows are compared.
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if not p.name.endswith(("-wal", "-shm"))
    )


class Home:
    """A directory with a set-up issuer: a SQLite database at head holding a client and
    a signing key, its KEK, a good policy, and a JWKS file for the authorizer."""

    def __init__(self, root: Path) -> None:
        from issuer.keys.kek import new_kek_text
        from shared.jwa import generate_private_key
        from shared.jwk import public_jwk

        self.root = root
        self.db = root / "issuer.db"
        self.kek = new_kek_text()
        self.policy = write_policy(root)
        key = generate_private_key("ES256")
        self.jwks = root / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [public_jwk(key.public_key(), "ES256")]}))
        self.env = clean_env(
            ISSUER_DATABASE_URL=f"sqlite:///{self.db}",
            ISSUER_KEY_ENCRYPTION_KEY=self.kek,
            POLICY_FILE=str(self.policy),
        )
        assert self.run(["db", "upgrade"]).returncode == 0
        created = self.run(["clients", "create", "--name", "svc", "--scope", "orders:read",
                            "--json"])
        assert created.returncode == 0, created.stderr
        self.cid = json.loads(created.stdout)["client_id"]
        assert self.run(["keys", "rotate"]).returncode == 0

    def run(self, argv, env=None, cwd=None, program=ISSUER):
        return subprocess.run(
            [*program, *(a.format(cid=getattr(self, "cid", "")) for a in argv)],
            env=env or self.env, cwd=cwd or self.root, capture_output=True, text=True,
            timeout=60, stdin=subprocess.DEVNULL,
        )


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return Home(tmp_path_factory.mktemp("home"))


def assert_one_line(proc, code: int, *needles: str, json_mode: bool = False) -> str:
    err = proc.stderr
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert proc.stdout == "", proc.stdout
    assert proc.returncode == code, (proc.returncode, err)
    line = lines[0]
    if json_mode:
        body = json.loads(line)
        assert set(body) == {"error", "error_description"}
        line = body["error_description"]
    for needle in needles:
        assert needle in line, line
    return line


def unchanged(home: Home, run):
    """Run `run()`; the database's rows and the home directory's files must not move."""
    before_rows, before_files = rows(home.db), files(home.root)
    proc = run()
    assert rows(home.db) == before_rows
    assert files(home.root) == before_files
    return proc


def write_bad_policy(home: Home, case: str) -> Path:
    text, _ = BAD_POLICIES[case]
    path = home.root / f"bad-{case}.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bad_policies(home):
    return {case: write_bad_policy(home, case) for case in BAD_POLICIES}


@pytest.mark.parametrize("case", list(BAD_POLICIES))
@pytest.mark.parametrize("command", list(POLICY_COMMANDS))
def test_a_bad_policy_file_is_one_line_from_every_issuer_command(home, bad_policies, case,
                                                                 command):
    env = {**home.env, "POLICY_FILE": str(bad_policies[case])}
    proc = unchanged(home, lambda: home.run(POLICY_COMMANDS[command], env=env))
    assert_one_line(proc, 2, "POLICY_FILE", str(bad_policies[case]), BAD_POLICIES[case][1])


@pytest.mark.parametrize("case", list(BAD_POLICIES))
def test_a_bad_policy_file_is_one_line_from_authorizer_check(home, bad_policies, case):
    env = clean_env(AUTHORIZER_ISSUER="https://issuer.example.test",
                    AUTHORIZER_AUDIENCE=ORDERS, AUTHORIZER_JWKS_URI="off",
                    AUTHORIZER_JWKS_FILE=str(home.jwks), POLICY_FILE=str(bad_policies[case]))
    proc = unchanged(home, lambda: home.run(["check", "a.b.c", "--path", "/orders/1"], env=env,
                                            program=AUTHORIZER))
    assert_one_line(proc, 2, "POLICY_FILE", BAD_POLICIES[case][1])


@pytest.mark.parametrize("case", list(BAD_POLICIES))
def test_policy_check_names_the_problem_and_exits_1(home, bad_policies, case):
    for program, argv in ((ISSUER, ["policy", "check"]), (AUTHORIZER, ["check", "--policy"])):
        proc = unchanged(home, lambda p=program, a=argv: home.run(
            [*a, str(bad_policies[case])], env=clean_env(), program=p))
        assert_one_line(proc, 1, str(bad_policies[case]), BAD_POLICIES[case][1])


def test_every_policy_reading_command_is_covered():
    from issuer.cli import full_parser

    def leaves(parser, prefix=()):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield " ".join(prefix)
            return
        for name, child in subs[0].choices.items():
            yield from leaves(child, (*prefix, name))

    assert set(leaves(full_parser())) == set(POLICY_COMMANDS) | NO_POLICY_COMMANDS


UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/test"
DATABASE_URLS = {
    # name: (URL, exit code, what the line must say)
    "postgres-scheme": ("postgres://u:secretpw@db.example.test/x", 2,
                        "use postgresql+psycopg://"),
    "psycopg2-scheme": ("postgresql://u:secretpw@db.example.test/x", 2,
                        "use postgresql+psycopg://"),
    "garbage": ("not a url", 2, "is not a database URL"),
    "unsupported": ("mysql://u:secretpw@db/x", 2, "'mysql' is not supported"),
    "bad-port": ("postgresql+psycopg://u:secretpw@db:port/x", 2, "no usable host or port"),
    "unreachable": (UNREACHABLE, 3, "cannot reach the database server at 127.0.0.1:1/test"),
}


@pytest.mark.parametrize("command", [["clients", "list"], ["serve", "--port", "0"],
                                     ["db", "upgrade"], ["keys", "rotate"]],
                         ids=lambda argv: " ".join(argv[:2]))
@pytest.mark.parametrize("case", list(DATABASE_URLS))
def test_database_url_problems_are_one_line(home, case, command):
    url, code, needle = DATABASE_URLS[case]
    env = {**home.env, "ISSUER_DATABASE_URL": url}
    proc = unchanged(home, lambda: home.run(command, env=env))
    line = assert_one_line(proc, code, "ISSUER_DATABASE_URL", needle)
    assert "secretpw" not in line


POSTGRES = "postgresql+psycopg://{user}@127.0.0.1:5432/{db}"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("user", "db", "code", "needle"),
    [("postgres", "nosuchdb", 2, "database 'nosuchdb' does not exist"),
     ("nosuchuser", "test", 2, "refused the user or password")],
    ids=["missing-database", "wrong-credentials"],
)
@pytest.mark.parametrize("command", [["clients", "list"], ["serve", "--port", "0"],
                                     ["db", "upgrade"]], ids=lambda argv: " ".join(argv[:2]))
def test_postgres_refusals_are_one_line_each(home, user, db, code, needle, command):
    env = {**home.env, "ISSUER_DATABASE_URL": POSTGRES.format(user=user, db=db)}
    proc = unchanged(home, lambda: home.run(command, env=env))
    assert_one_line(proc, code, "ISSUER_DATABASE_URL", needle)


def test_json_errors_are_json(home):
    env = {**home.env, "ISSUER_DATABASE_URL": UNREACHABLE}
    proc = unchanged(home, lambda: home.run(["clients", "list", "--json"], env=env))
    assert_one_line(proc, 3, "cannot reach", json_mode=True)
    proc = unchanged(home, lambda: home.run(["clients", "show", "c_nobody", "--json"]))
    assert json.loads(proc.stderr)["error"] == "not_found"
    assert_one_line(proc, 1, "no client", json_mode=True)


SIMPLE_CASES = {
    # name: (argv, extra env, exit code, what the line must say)
    "missing --jwks-file": (
        ["clients", "create", "--name", "k", "--scope", "orders:read", "--auth-method",
         "private_key_jwt", "--jwks-file", "nowhere.json"],
        {}, 2, "--jwks-file nowhere.json: No such file or directory"),
    "comma-separated scopes": (
        ["clients", "create", "--name", "c", "--scope", "orders:read,orders:write"],
        {}, 2, 'scopes are space-separated, not comma-separated: --scope "orders:read '
        'orders:write"'),
    "comma-separated update": (
        ["clients", "update", "{cid}", "--scope", "orders:read,orders:write"],
        {}, 2, "scopes are space-separated"),
    "openssl hex KEK": (
        ["clients", "list"], {"ISSUER_KEY_ENCRYPTION_KEY": "ab" * 32}, 2,
        "ISSUER_KEY_ENCRYPTION_KEY: must decode to 32 bytes, got 48 (`issuer kek new`"),
    "wrong KEK": (["clients", "list"], {"ISSUER_KEY_ENCRYPTION_KEY": "new"}, 2,
                  "ISSUER_KEY_ENCRYPTION_KEY does not decrypt"),
    "bad previous KEK": (["kek", "rotate"], {"ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY": "short"}, 2,
                         "ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY"),
    "delete without a terminal": (["clients", "delete", "{cid}"], {}, 1,
                                  "stdin is not a terminal, give --yes"),
    "unknown client": (["clients", "show", "c_nobody"], {}, 1, "no client 'c_nobody'"),
    "bad port": (["serve", "--port", "http"], {}, 2, "--port: 'http' is not a TCP port"),
    "bad limit": (["audit", "--limit", "0"], {}, 2, "--limit must be 1 to 100"),
    "bad cursor": (["clients", "list", "--cursor", "zzz"], {}, 2, "--cursor is not one"),
    "unknown command": (["client", "list"], {}, 2, "invalid choice: 'client'"),
    "missing option": (["clients", "create", "--name", "x"], {}, 2,
                       "required: --scope"),
}


@pytest.mark.parametrize("case", list(SIMPLE_CASES))
def test_issuer_bad_input_is_one_line(home, case):
    argv, extra, code, needle = SIMPLE_CASES[case]
    if extra.get("ISSUER_KEY_ENCRYPTION_KEY") == "new":
        from issuer.keys.kek import new_kek_text

        extra = {"ISSUER_KEY_ENCRYPTION_KEY": new_kek_text()}
    proc = unchanged(home, lambda: home.run(argv, env={**home.env, **extra}))
    assert_one_line(proc, code, needle)


AUTHORIZER_CASES = {
    "missing AUTHORIZER_JWKS_FILE": (
        ["check", "a.b.c", "--path", "/orders/1"], {"AUTHORIZER_JWKS_FILE": "nowhere.json"},
        "AUTHORIZER_JWKS_FILE nowhere.json: No such file or directory"),
    "no AUTHORIZER_ISSUER": (["check", "a.b.c", "--path", "/orders/1"],
                             {"AUTHORIZER_ISSUER": ""}, "Config 'AUTHORIZER_ISSUER' is missing"),
    "no AUTHORIZER_AUDIENCE": (["check", "a.b.c", "--path", "/orders/1"],
                               {"AUTHORIZER_AUDIENCE": ""},
                               "Config 'AUTHORIZER_AUDIENCE' is missing"),
    "--method FETCH": (["check", "a.b.c", "--method", "FETCH", "--path", "/orders/1"], {},
                       "--method: 'FETCH' is not a method"),
    "no --path": (["check", "a.b.c"], {}, "--path is required"),
    "relative --path": (["check", "a.b.c", "--path", "orders/1"], {}, "must start with /"),
    "nothing to check": (["check"], {}, "give a TOKEN"),
}


@pytest.mark.parametrize("case", list(AUTHORIZER_CASES))
def test_authorizer_check_bad_input_is_one_line(home, case):
    argv, extra, needle = AUTHORIZER_CASES[case]
    env = clean_env(AUTHORIZER_ISSUER="https://issuer.example.test", AUTHORIZER_AUDIENCE=ORDERS,
                    AUTHORIZER_JWKS_URI="off", AUTHORIZER_JWKS_FILE=str(home.jwks),
                    POLICY_FILE=str(home.policy))
    env.update(extra)
    proc = unchanged(home, lambda: home.run(argv, env=env, program=AUTHORIZER))
    assert_one_line(proc, 2, needle)


def test_a_command_elsewhere_does_not_scatter_a_database(home, tmp_path):
    """Development defaults are relative to the directory: run from an empty one, a
    command refuses instead of making ./issuer.db and .tollgate/kek there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(POLICY_FILE=str(home.policy))
    for argv in (["clients", "list"], ["keys", "rotate"], ["kek", "rotate"]):
        proc = home.run(argv, env=env, cwd=elsewhere)
        assert_one_line(proc, 2, f"no database at {elsewhere / 'issuer.db'}", "issuer db upgrade")
        assert files(elsewhere) == []


def test_a_development_database_used_elsewhere_needs_its_kek_file(home, tmp_path):
    """A dev database (KEK in .tollgate/kek next to it) used from another directory:
    refused in one line, no new KEK file made there (it could never be the right one)."""
    dev = tmp_path / "dev"
    dev.mkdir()
    env = clean_env(ISSUER_DATABASE_URL=f"sqlite:///{dev / 'issuer.db'}",
                    POLICY_FILE=str(home.policy))
    made = home.run(["db", "upgrade"], env=env, cwd=dev)
    assert made.returncode == 0
    assert made.stderr.startswith("issuer: creating a new SQLite database")
    created = home.run(["clients", "create", "--name", "d", "--scope", "orders:read"],
                       env=env, cwd=dev)
    assert created.returncode == 0
    assert "creating a development key-encryption key" in created.stderr
    assert (dev / ".tollgate" / "kek").exists()

    other = tmp_path / "other"
    other.mkdir()
    before = rows(dev / "issuer.db")
    proc = home.run(["clients", "list"], env=env, cwd=other)
    assert_one_line(proc, 2, "ISSUER_KEK_FILE", "this database was set up with one")
    assert files(other) == []
    assert rows(dev / "issuer.db") == before


def test_an_unmigrated_database_is_one_line(home, tmp_path):
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    before = rows(empty)
    env = {**home.env, "ISSUER_DATABASE_URL": f"sqlite:///{empty}"}
    proc = home.run(["clients", "list"], env=env)
    assert_one_line(proc, 2, "never migrated", "issuer db upgrade")
    assert rows(empty) == before


def test_serve_into_a_missing_directory_is_one_line(home, tmp_path):
    env = {**home.env, "ISSUER_DATABASE_URL": f"sqlite:///{tmp_path}/nope/issuer.db"}
    for argv in (["serve", "--port", "0"], ["db", "upgrade"]):
        proc = home.run(argv, env=env)
        assert_one_line(proc, 2, "cannot create the SQLite file", "directory does not exist")
    assert not (tmp_path / "nope").exists()
