"""`issuer audit [--json] [--limit N] [--cursor C]`: the newest admin changes first; under
`--json` the admin API's list shape (`GET /admin/audit`): `{"items", "next_cursor"}`."""

from __future__ import annotations

import argparse
import json

from issuer.audit import audit_page, audit_view
from issuer.cli.context import services_for
from issuer.cli.errors import CliError
from issuer.settings import Settings
from issuer.store.paging import DEFAULT_LIMIT, MAX_LIMIT, decode_id_cursor, encode_cursor


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("audit", help="the audit trail of admin changes, newest first")
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"records per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})",
    )
    parser.add_argument("--cursor", help="the next_cursor a previous page printed")
    parser.add_argument(
        "--json", action="store_true", help="print the result as JSON (errors too, on stderr)"
    )
    parser.set_defaults(handler=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_LIMIT:  # the admin API's bound (GET /admin/audit)
        raise CliError(f"--limit must be 1 to {MAX_LIMIT}", "invalid_option")
    before = None
    if args.cursor is not None:
        try:
            before = decode_id_cursor(args.cursor)
        except ValueError:
            raise CliError("--cursor is not one `audit` printed", "invalid_option") from None
    with services_for(settings) as services, services.sessions() as session:
        rows = audit_page(session, args.limit, before)
        views = [audit_view(r) for r in rows]
    last = rows[-1] if len(rows) == args.limit else None
    listing = {"items": views, "next_cursor": encode_cursor([last.id]) if last else None}
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    for view in views:
        changed = ",".join(view["changes"])
        print(f"{view['at']}  {view['actor']}  {view['action']}  {view['target']}  {changed}")
    if listing["next_cursor"]:
        print(f"(more: issuer audit --cursor {listing['next_cursor']})")
    return 0
