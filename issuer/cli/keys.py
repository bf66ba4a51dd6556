"""`issuer keys list|rotate [--if-due] [--json]`: signing keys and their lifecycle.

`rotate` publishes a `next` key; it starts signing once published for the verifier cache
TTL (there is no immediate switch, see `issuer/keys/admin.py`). `rotate --if-due` is the scheduled
job: it makes the due transitions and rotates when the active key is
ISSUER_KEY_ROTATION_DAYS old, so a daily run keeps the lifecycle moving even when no
token is requested.
"""

from __future__ import annotations

import argparse
import json

from issuer.audit import cli_actor
from issuer.cli.context import services_for
from issuer.cli.output import JSON_HELP
from issuer.keys.admin import RotationReport, key_view, list_keys, rotate, rotate_if_due
from issuer.keys.lifecycle import KeySchedule
from issuer.settings import Settings


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("keys", help="token-signing keys")
    verbs = parser.add_subparsers(dest="keys_command", required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="keys with status and dates (never private)")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    listing.set_defaults(handler=run_list)
    rot = verbs.add_parser("rotate", help="publish a next key (it signs after the cache TTL)")
    rot.add_argument(
        "--if-due", action="store_true", help="the scheduled job: only when the key is old"
    )
    rot.add_argument("--json", action="store_true", help=JSON_HELP)
    rot.set_defaults(handler=run_rotate)


def run_list(settings: Settings, args: argparse.Namespace) -> int:
    schedule = KeySchedule.from_settings(settings)
    with services_for(settings) as services, services.sessions() as session:
        services.key_store.maintain(session, services.clock())
        views = [key_view(k, schedule) for k in list_keys(session)]
    if args.json:
        # The admin API's list shape (GET /admin/keys).
        print(json.dumps({"items": views}, indent=2))
        return 0
    for view in views:
        when = view["activates_at"] or view["retires_at"] or view["activated_at"] or ""
        print(f"{view['kid']}  {view['alg']:<6}  {view['status']:<8}  {when}")
    return 0


def run_rotate(settings: Settings, args: argparse.Namespace) -> int:
    schedule = KeySchedule.from_settings(settings)
    with services_for(settings) as services, services.sessions() as session:
        now = services.clock()
        alg = settings.signing_alg
        if args.if_due:
            report = rotate_if_due(session, schedule, services.kek, alg, now, cli_actor())
        else:
            rotation = rotate(session, services.kek, alg, cli_actor(), now)
            reason = "rotated" if rotation.created else "a rotation is pending"
            report = RotationReport([], rotation, reason)
        result = report.view(schedule)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for step in result["transitions"]:
            print(f"{step['kid']}: {step['old']} -> {step['new']}")
        key = result["key"]
        print(report.reason + (f": {key['kid']} signs from {key['activates_at']}" if key else ""))
    return 0
