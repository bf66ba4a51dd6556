"""`issuer` command line (argparse, stdlib). Each command group is a module with
`register(subparsers)`; a group (`keys`) or a verb (`clients rotate-secret`) is added by
registering another parser, nothing else changes.

Startup stays light: `issuer --help` and a typo cost a bare interpreter plus argparse, not
FastAPI, SQLAlchemy and uvicorn. Only the command being run has its module imported (and
registered with its options); the others appear in the top-level help by name and
summary (`COMMANDS`, kept equal to each module's own summary by
tests/issuer/test_cli_startup.py). The settings, the KEK and logging are loaded after
the arguments parse.

Every failure is one line on stderr, JSON under `--json` (`issuer/cli/errors.py`)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from issuer.cli.errors import USAGE, CliError, classify, debugging, emit

# name -> the one-line summary its module's `register` gives, in the order of the help.
COMMANDS = {
    "serve": "run the issuer's HTTP API",
    "db": "database schema",
    "clients": "OAuth clients",
    "keys": "token-signing keys",
    "kek": "the key-encryption key: make one, re-seal the stored keys under a new one",
    "policy": "check a policy file and show what each scope grants",
    "audit": "the audit trail of admin changes, newest first",
    "trusted-issuers": "external issuers whose tokens authenticate federated clients",
    "console": "the admin console: print a one-time sign-in link",
}


def version() -> str:
    """The installed distribution's version (pyproject.toml's `version`)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("tollgate")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


class _Version(argparse.Action):
    # argparse's "version" action needs the text when the parser is built: this reads the
    # package metadata only when --version is given.
    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        print(f"issuer (tollgate) {version()}")
        parser.exit()


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (two with argparse's usage): the prog, what
    is wrong, and where the help is; JSON under `--json`."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        error = CliError(f"{message} (see `{self.prog} --help`)", "invalid_option", USAGE)
        raise SystemExit(emit(error, self.json_errors, prog=self.prog))


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


def _parser(full) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
    parser = OneLineParser(
        prog="issuer", description="tollgate OAuth 2.0 client credentials issuer"
    )
    parser.add_argument(
        "--version", action=_Version, nargs=0, help="print the version and exit"
    )
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if full(name):
            # A command's module: its name with `_` for `-` (trusted-issuers).
            importlib.import_module(f"issuer.cli.{name.replace('-', '_')}").register(groups)
        else:
            # Never run: argparse needs the name to list it; choosing it re-parses with
            # its module registered (build_parser looks at argv[0]).
            groups.add_parser(name, help=summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    json_mode = "--json" in argv
    OneLineParser.json_errors = json_mode
    try:
        args = build_parser(argv).parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    json_mode = bool(getattr(args, "json", False))
    settings = None
    try:
        from issuer.logs import configure_logging
        from issuer.settings import load_settings

        configure_logging()
        from issuer.cli.context import notices_as_log_events

        notices_as_log_events(bool(getattr(args, "log_notices", False)))
        if getattr(args, "needs_settings", True):
            settings = load_settings()
        return int(args.handler(settings, args) or 0)
    except BrokenPipeError:
        # stdout closed early (`issuer clients list | head`): not an error worth a line.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports it
    except (Exception, KeyboardInterrupt) as exc:
        if debugging() and not isinstance(exc, CliError):
            raise
        url = settings.database_url if settings is not None else None
        return emit(classify(exc, url), json_mode)
