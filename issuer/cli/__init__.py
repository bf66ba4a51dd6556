"""`issuer` command line (argparse, stdlib). Each command group is a module with
`register(subparsers)`; a group (`keys`) or a verb (`clients rotate-secret`) is added by
registering another parser, nothing else changes.

Startup stays light: `issuer --help` and a typo cost a bare interpreter plus argparse, not
FastAPI, SQLAlchemy and uvicorn. Only the command being run has its module imported (and
registered with its options); the others appear in the top-level help by name and
summary (`COMMANDS`, kept equal to each module's own summary by
tests/issuer/test_cli_startup.py). The settings, the KEK and logging are loaded after
the arguments parse."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# name -> the one-line summary its module's `register` gives, in the order of the help.
COMMANDS = {
    "serve": "run the issuer's HTTP API",
    "db": "database schema",
    "clients": "OAuth clients",
    "keys": "token-signing keys",
    "audit": "the audit trail of admin changes, newest first",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv` (default: the command line): the command it names
    registered in full (its module imported), the others by name only."""
    argv = sys.argv[1:] if argv is None else argv
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    return _parser(lambda name: name == chosen)


def full_parser() -> argparse.ArgumentParser:
    """Every command registered in full (imports every command's module): for tests and
    documentation tools."""
    return _parser(lambda name: True)


def _parser(full: Callable[[str], bool]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="issuer", description="tollgate OAuth 2.0 client credentials issuer"
    )
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if full(name):
            importlib.import_module(f"issuer.cli.{name}").register(groups)
        else:
            # Never run: argparse needs the name to list it; choosing it re-parses with
            # its module registered (build_parser looks at argv[0]).
            groups.add_parser(name, help=summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    from issuer.keys.kek import KekError
    from issuer.logs import configure_logging
    from issuer.settings import SettingsError, load_settings

    configure_logging()
    try:
        settings = load_settings()
        return int(args.handler(settings, args) or 0)
    except (SettingsError, KekError, ValueError) as exc:  # ValueError: ClientError, bad options
        print(f"issuer: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:  # unknown client id and the like
        print(f"issuer: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1
