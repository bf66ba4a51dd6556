"""`issuer clients create|list|show`: manage clients on the database directly (how the
first admin client is made). A secret is printed once, by `create`, never again."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..clients import client_view, create_client, get_client, list_clients
from ..settings import Settings
from .context import services_for


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("clients", help="OAuth clients")
    verbs = parser.add_subparsers(dest="clients_command", required=True, metavar="VERB")

    create = verbs.add_parser("create", help="register a client; prints its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", required=True, help='space-separated, e.g. "a:read a:write"')
    create.add_argument(
        "--audience", action="append", help="an API audience (repeatable; first is the default)"
    )
    create.add_argument("--default-scope", help="space-separated default scopes")
    create.add_argument("--lifetime", type=int, help="token lifetime in seconds")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=run_create)

    listing = verbs.add_parser("list", help="list clients (never secrets)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    show = verbs.add_parser("show", help="show one client (never its secret)")
    show.add_argument("client_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_show)


def _print_view(view: dict[str, Any]) -> None:
    width = max(len(key) for key in view)
    for key, value in view.items():
        shown = " ".join(value) if isinstance(value, list) else value
        print(f"{key:<{width}}  {shown}")


def run_create(settings: Settings, args: argparse.Namespace) -> int:
    with services_for(settings) as services, services.sessions() as session:
        new = create_client(
            session,
            services.hasher,
            services.policy,
            name=args.name,
            scopes=args.scope.split(),
            audiences=args.audience,
            default_scopes=args.default_scope.split() if args.default_scope else None,
            token_lifetime=args.lifetime,
        )
        view = {**client_view(new.client), "client_secret": new.client_secret}
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        _print_view(view)
        print("\nThe client secret is shown only now; store it safely.")
    return 0


def run_list(settings: Settings, args: argparse.Namespace) -> int:
    with services_for(settings) as services, services.sessions() as session:
        views = [client_view(c) for c in list_clients(session)]
    if args.json:
        print(json.dumps(views, indent=2))
        return 0
    for view in views:
        state = "enabled" if view["enabled"] else "disabled"
        print(f"{view['client_id']}  {state:<8}  {view['name']}  [{' '.join(view['scopes'])}]")
    return 0


def run_show(settings: Settings, args: argparse.Namespace) -> int:
    with services_for(settings) as services, services.sessions() as session:
        client = get_client(session, args.client_id)
        if client is None:
            raise LookupError(f"no client {args.client_id!r}")
        view = client_view(client)
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        _print_view(view)
    return 0
