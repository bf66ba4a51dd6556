"""`issuer db upgrade`: apply the Alembic migrations up to head."""

from __future__ import annotations

import argparse

from issuer.settings import Settings
from issuer.store.engine import make_engine
from issuer.store.migrate import upgrade


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("db", help="database schema")
    verbs = parser.add_subparsers(dest="db_command", required=True, metavar="VERB")
    up = verbs.add_parser("upgrade", help="migrate the database to the latest revision")
    up.set_defaults(handler=run_upgrade)


def run_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print("database at head")
    return 0
