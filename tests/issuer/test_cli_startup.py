"""`issuer --help` costs a bare interpreter plus argparse: the server's and the
database's libraries are imported by the command that uses them, never at CLI start
(issue 13: `serve` imported uvicorn and FastAPI up front, about 1 s per `--help`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.issuer_env import make_settings

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("fastapi", "starlette", "pydantic", "sqlalchemy", "alembic", "uvicorn", "mangum",
         "cryptography", "jwt", "psycopg")
PROBE = """
import json, sys
from issuer.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded_by(*argv: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("argv", [("--help",), (), ("nonsense",), ("serve", "--help")])
def test_cli_start_imports_no_server_or_database_library(argv):
    assert loaded_by(*argv) & set(HEAVY) == set()


def test_a_command_still_gets_its_libraries():
    """The lazy parser registers the chosen command in full: `clients --help` shows its
    verbs (and has imported what they use), so laziness did not drop the command."""
    result = subprocess.run([sys.executable, "-m", "issuer.cli", "clients", "--help"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "rotate-secret" in result.stdout and "create" in result.stdout


def test_top_level_summaries_are_the_modules_own():
    from issuer.cli import COMMANDS, full_parser

    groups = next(a for a in full_parser()._actions if a.dest == "command")
    summaries = {choice.dest: choice.help for choice in groups._choices_actions}
    assert summaries == COMMANDS


def test_serve_leaves_uvicorn_on_uvloop_and_httptools(tmp_path, policy_file, monkeypatch):
    """`issuer serve` (one worker and several) passes uvicorn options that resolve to
    uvloop's event loop and httptools' parser, both installed dependencies; forcing
    asyncio or h11 costs about a quarter of the tokens per second (docs/benchmarks.md)."""
    import argparse

    import uvloop
    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from issuer.cli import serve

    settings = make_settings(f"sqlite:///{tmp_path}/serve.db", policy_file)
    calls = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.append((app, kw)))
    for workers in (1, 2):
        args = argparse.Namespace(host="127.0.0.1", port=8000, workers=workers)
        assert serve.run(settings, args) == 0
    assert len(calls) == 2
    async def app(scope, receive, send):  # stands in for the app: only the server matters
        pass

    for _, options in calls:
        # uvicorn's defaults are "auto" too: an option left out is as good as given.
        # log_config as serve passes it (None): uvicorn's default would reconfigure the
        # process's loggers (prose handlers, no propagation) for every later test.
        config = Config(app, loop=options.get("loop", "auto"), http=options.get("http", "auto"),
                        log_config=options.get("log_config"))
        config.load()
        assert config.http_protocol_class is HttpToolsProtocol
        loop = config.get_loop_factory()()
        try:
            assert isinstance(loop, uvloop.Loop)
        finally:
            loop.close()
