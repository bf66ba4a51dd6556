"""`issuer console link --client ID [--seconds N] [--json]`: a one-time sign-in link to
the admin console (`/console`) for an enabled admin client: it signs in once, within N
seconds (default 300, at most 3600), and is audited (`console.link`). The link holds the
code; the database keeps only its hash (issuer/clients/console_links.py). Give it to the
admin over a channel you trust: whoever opens it first is signed in."""

from __future__ import annotations

import argparse
import json
from urllib.parse import urlencode

from issuer.cli.output import JSON_HELP
from issuer.settings import Settings

SUMMARY = "the admin console: print a one-time sign-in link"


def register(groups: argparse._SubParsersAction) -> None:
    from issuer.clients.console_links import LINK_SECONDS, MAX_LINK_SECONDS

    parser = groups.add_parser("console", help=SUMMARY)
    verbs = parser.add_subparsers(dest="console_command", required=True, metavar="VERB")
    link = verbs.add_parser("link", help="a one-time sign-in link for an admin client")
    link.add_argument("--client", required=True, metavar="CLIENT_ID",
                      help="the admin client (issuer:admin, enabled) the link signs in as")
    link.add_argument("--seconds", type=int, default=LINK_SECONDS,
                      help=f"how long the link works, 1 to {MAX_LINK_SECONDS} "
                           f"(default {LINK_SECONDS})")
    link.add_argument("--json", action="store_true", help=JSON_HELP)
    link.set_defaults(handler=run_link)


def run_link(settings: Settings, args: argparse.Namespace) -> int:
    from issuer.audit import cli_actor
    from issuer.cli.context import services_for
    from issuer.cli.errors import CliError
    from issuer.clients.console_links import create_link

    if not settings.console:
        raise CliError("the console is off (ISSUER_CONSOLE=off): a link would lead nowhere",
                       "console_off")
    with services_for(settings) as services, services.sessions() as session:
        now = services.clock()
        code = create_link(session, args.client, cli_actor(), now, args.seconds)
    url = f"{settings.url}/console/link?{urlencode({'code': code})}"
    if args.json:
        print(json.dumps({"url": url, "client_id": args.client, "expires_in": args.seconds}))
    else:
        print(url)
    return 0
