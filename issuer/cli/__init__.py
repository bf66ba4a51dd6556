"""`issuer` command line (argparse, stdlib). Each command group is a module with
`register(subparsers)`; a group (`keys`) or a verb (`clients rotate-secret`) is added by
registering another parser, nothing else changes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from issuer.cli import audit, clients, db, keys, serve
from issuer.keys.kek import KekError
from issuer.logs import configure_logging
from issuer.settings import SettingsError, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="issuer", description="tollgate OAuth 2.0 client credentials issuer"
    )
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (serve, db, clients, keys, audit):
        module.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
