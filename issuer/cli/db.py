"""`issuer db upgrade`: apply the Alembic migrations up to head."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from issuer.settings import Settings


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("db", help="database schema")
    verbs = parser.add_subparsers(dest="db_command", required=True, metavar="VERB")
    up = verbs.add_parser(
        "upgrade",
        help="migrate the database to the latest revision (creates a SQLite file if none)",
    )
    up.set_defaults(handler=run_upgrade)


def run_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from issuer.cli.context import open_database
    from issuer.store.migrate import head_revision, upgrade

    # Reachable first (one line if not, issuer/cli/errors.py); the policy is not read.
    engine = open_database(settings, creates=True)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print(f"database at head ({head_revision()})")
    return 0
