"""`issuer audit [--json] [--limit N] [--cursor C]`: the newest admin changes first; under
`--json` the admin API's list shape (`GET /admin/audit`): `{"items", "next_cursor"}`."""

from __future__ import annotations

import argparse
from typing import Any

from issuer.audit import audit_page, audit_view
from issuer.cli.context import services_for
from issuer.cli.output import JSON_HELP, page_after, print_listing
from issuer.settings import Settings
from issuer.store.paging import DEFAULT_LIMIT, MAX_LIMIT, decode_id_cursor


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("audit", help="the audit trail of admin changes, newest first")
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"records per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})",
    )
    parser.add_argument("--cursor", help="the next_cursor a previous page printed")
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    parser.set_defaults(handler=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    before = page_after(args, decode_id_cursor, "audit")
    with services_for(settings) as services, services.sessions() as session:
        rows = audit_page(session, args.limit, before)
        views = [audit_view(r) for r in rows]

    def line(view: dict[str, Any]) -> str:
        changed = ",".join(view["changes"])
        return f"{view['at']}  {view['actor']}  {view['action']}  {view['target']}  {changed}"

    print_listing(args, rows, views, lambda row: [row.id], line, "audit")
    return 0
