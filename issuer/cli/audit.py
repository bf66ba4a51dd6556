"""`issuer audit [--json] [--limit N]`: the newest admin changes first."""

from __future__ import annotations

import argparse
import json

from issuer.audit import audit_page, audit_view
from issuer.cli.context import services_for
from issuer.settings import Settings


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("audit", help="the audit trail of admin changes, newest first")
    parser.add_argument("--limit", type=int, default=50, help="records to show (1..1000)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 1000:
        raise ValueError("--limit must be 1 to 1000")
    with services_for(settings) as services, services.sessions() as session:
        views = [audit_view(r) for r in audit_page(session, args.limit)]
    if args.json:
        print(json.dumps(views, indent=2))
        return 0
    for view in views:
        changed = ",".join(view["changes"])
        print(f"{view['at']}  {view['actor']}  {view['action']}  {view['target']}  {changed}")
    return 0
