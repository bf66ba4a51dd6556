"""`authorizer check` decides as the Lambda does; `authorizer gateway` delegates."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from authorizer import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("scope", "method", "path", "code", "line"),
    [
        ("orders:read", "GET", "/orders/1", 0, "allow granted"),
        ("orders:read", "get", "/request", 0, "allow granted"),
        ("orders:read", "GET", "/orders/1/2", 1, "deny route_not_permitted"),
        ("orders:read", "POST", "/merchants", 1, "deny route_not_permitted"),
        ("entries:read", "GET", "/entries/42", 0, "allow granted"),
        ("entries:read", "GET", "/entries/42/lines", 1, "deny route_not_permitted"),
        ("nothing:here", "GET", "/", 1, "deny no_route"),
    ],
    ids=["allowed", "method-case", "deeper", "other-method", "one-segment", "one-segment-deeper",
         "no-route"],
)
def test_check_decides_like_the_lambda(lambda_env, harness, capsys, scope, method, path, code,
                                       line):
    assert cli.main(["check", harness.token(scope), "--method", method, "--path", path]) == code
    assert capsys.readouterr().out.strip() == line


@pytest.mark.parametrize(
    ("token", "line"),
    [("not-a-token", "unauthorized malformed"), ("", "unauthorized bad_authorization"),
     ("a.b.c", "unauthorized malformed")],
)
def test_check_unauthorized_exit_1(lambda_env, capsys, token, line):
    assert cli.main(["check", token, "--path", "/orders/1"]) == 1
    assert capsys.readouterr().out.strip() == line


def test_check_expired_and_unknown_kid(lambda_env, harness, capsys):
    expired = harness.token(exp=int(harness.wall()) - 3600)
    assert cli.main(["check", expired, "--path", "/orders/1"]) == 1
    assert capsys.readouterr().out.strip() == "unauthorized expired"
    assert cli.main(["check", harness.token(kid="other"), "--path", "/orders/1"]) == 1
    assert capsys.readouterr().out.strip() == "unauthorized unknown_kid"


def test_check_reads_bearer_token_from_stdin_and_prints_json(lambda_env, harness, capsys,
                                                             monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Bearer " + harness.token() + "\n"))
    assert cli.main(["check", "-", "--path", "/orders/7", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["decision"], out["reason"], out["route"]) == ("allow", "granted", "GET /orders/7")
    assert out["response"]["principalId"] == "client-1"


def test_check_config_error_exit_2(monkeypatch, capsys):
    monkeypatch.delenv("AUTHORIZER_ISSUER", raising=False)
    monkeypatch.setenv("AUTHORIZER_AUDIENCE", "a")
    assert cli.main(["check", "x.y.z", "--path", "/orders/1"]) == 2
    assert "Config 'AUTHORIZER_ISSUER' is missing" in capsys.readouterr().err


def test_gateway_subcommand_delegates_lazily(monkeypatch):
    seen = []
    fake = types.ModuleType("authorizer.gateway")
    fake.main = lambda argv: seen.append(argv) or 7
    monkeypatch.setitem(sys.modules, "authorizer.gateway", fake)
    assert cli.main(["gateway", "--upstream", "http://127.0.0.1:9000", "--port", "8081"]) == 7
    assert seen == [["--upstream", "http://127.0.0.1:9000", "--port", "8081"]]


def test_importing_cli_does_not_import_gateway_or_handler():
    code = ("import sys, authorizer.cli; "
            "print([m for m in ('authorizer.gateway', 'authorizer.handler', 'http.server') "
            "if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_console_script_check(lambda_env, harness):
    script = Path(sys.executable).with_name("authorizer")
    if not script.exists():
        pytest.skip("console script not installed (make install)")
    result = subprocess.run([str(script), "check", harness.token(), "--method", "GET",
                             "--path", "/orders/1"], capture_output=True, text=True,
                            env={**os.environ, **lambda_env}, timeout=60)
    assert (result.returncode, result.stdout.strip()) == (0, "allow granted"), result.stderr
