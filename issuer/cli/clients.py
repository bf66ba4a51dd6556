"""`issuer clients create|list|show|update|rotate-secret|disable|enable|delete`: manage
clients on the database directly (how the first admin client is made). Changes go
through `issuer/clients/admin.py`, as the admin API's do, and are audited as `cli:<os user>`.
A secret is printed once, by `create` or `rotate-secret`, never again."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlalchemy.orm import Session

from issuer.audit import cli_actor
from issuer.cli.context import services_for
from issuer.clients import admin as client_admin
from issuer.clients.registry import (
    AUTH_METHODS,
    CLIENT_SECRET,
    client_view,
    get_client,
    list_clients,
)
from issuer.settings import MAX_SECRET_ROTATION_GRACE, Settings
from issuer.store.models import Client
from shared.jws import strict_json


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("clients", help="OAuth clients")
    verbs = parser.add_subparsers(dest="clients_command", required=True, metavar="VERB")

    create = verbs.add_parser("create", help="register a client; prints its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", required=True, help='space-separated, e.g. "a:read a:write"')
    create.add_argument(
        "--auth-method",
        choices=AUTH_METHODS,
        default=CLIENT_SECRET,
        help="client_secret (default) or private_key_jwt (RFC 7523; needs --jwks-file)",
    )
    create.add_argument(
        "--jwks-file", help="the client's public JWK Set (JSON) for private_key_jwt"
    )
    _client_fields(create)
    create.set_defaults(handler=run_create)

    listing = verbs.add_parser("list", help="list clients (never secrets)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    show = verbs.add_parser("show", help="show one client (never its secret)")
    show.add_argument("client_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_show)

    update = verbs.add_parser("update", help="change a client; only the options given")
    update.add_argument("client_id")
    update.add_argument("--name")
    update.add_argument("--scope", help="space-separated; replaces the client's scopes")
    _client_fields(update)
    update.add_argument(
        "--default-lifetime", action="store_true", help="use the issuer's token lifetime"
    )
    update.add_argument(
        "--jwks-file", help="replace a private_key_jwt client's public JWK Set (JSON)"
    )
    update.set_defaults(handler=run_update)

    rotate = verbs.add_parser("rotate-secret", help="new secret; the old one has a grace")
    rotate.add_argument("client_id")
    rotate.add_argument(
        "--grace", type=int, help="seconds the old secret keeps working (0: none; "
        "default ISSUER_SECRET_ROTATION_GRACE)"
    )
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(handler=run_rotate_secret)

    for verb, handler, text in (
        ("disable", run_disable, "refuse the client's token requests"),
        ("enable", run_enable, "accept the client's token requests again"),
        ("delete", run_delete, "delete the client"),
    ):
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("client_id")
        sub.add_argument("--json", action="store_true")
        sub.set_defaults(handler=handler)


def _client_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--audience", action="append", help="an API audience (repeatable; first is the default)"
    )
    parser.add_argument("--default-scope", help="space-separated default scopes")
    parser.add_argument("--lifetime", type=int, help="token lifetime in seconds")
    parser.add_argument("--json", action="store_true")


def _print_view(view: dict[str, Any]) -> None:
    width = max(len(key) for key in view)
    for key, value in view.items():
        shown = " ".join(value) if isinstance(value, list) else value
        print(f"{key:<{width}}  {shown}")


def _output(args: argparse.Namespace, view: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        _print_view(view)


def _client(session: Session, client_id: str) -> Client:
    client = get_client(session, client_id)
    if client is None:
        raise LookupError(f"no client {client_id!r}")
    return client


def _read_jwks(path: str | None) -> Any:
    if path is None:
        return None
    with open(path, "rb") as handle:
        try:
            # As strict as a token (duplicate members, NaN refused): what is registered
            # is what the operator read in the file.
            return strict_json(handle.read())
        except ValueError:
            raise ValueError(f"{path}: not a JSON JWK Set") from None


def run_create(settings: Settings, args: argparse.Namespace) -> int:
    jwks = _read_jwks(args.jwks_file)
    with services_for(settings) as services, services.sessions() as session:
        new = client_admin.register(
            session,
            services.hasher,
            services.policy,
            cli_actor(),
            services.clock(),
            name=args.name,
            scopes=args.scope.split(),
            audiences=args.audience,
            default_scopes=args.default_scope.split() if args.default_scope else None,
            token_lifetime=args.lifetime,
            auth_method=args.auth_method,
            jwks=jwks,
        )
        view = client_view(new.client)
        if new.client_secret is not None:  # private_key_jwt clients have none
            view["client_secret"] = new.client_secret
    _output(args, view)
    if not args.json and new.client_secret is not None:
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
        view = client_view(_client(session, args.client_id))
    _output(args, view)
    return 0


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if args.name is not None:
        changes["name"] = args.name
    if args.scope is not None:
        changes["scopes"] = args.scope.split()
    if args.audience:
        changes["audiences"] = args.audience
    if args.default_scope is not None:
        changes["default_scopes"] = args.default_scope.split()
    if args.lifetime is not None and args.default_lifetime:
        raise ValueError("give --lifetime or --default-lifetime, not both")
    if args.lifetime is not None or args.default_lifetime:
        changes["token_lifetime"] = args.lifetime
    if args.jwks_file is not None:
        changes["jwks"] = _read_jwks(args.jwks_file)
    return changes


def _apply(settings: Settings, args: argparse.Namespace, changes: dict[str, Any]) -> int:
    with services_for(settings) as services, services.sessions() as session:
        client = _client(session, args.client_id)
        client_admin.update(
            session, services.policy, client, changes, cli_actor(), services.clock(),
            stale_for=settings.client_cache_ttl,
        )
        view = client_view(client)
    _output(args, view)
    return 0


def run_update(settings: Settings, args: argparse.Namespace) -> int:
    return _apply(settings, args, _changes(args))


def run_disable(settings: Settings, args: argparse.Namespace) -> int:
    return _apply(settings, args, {"enabled": False})


def run_enable(settings: Settings, args: argparse.Namespace) -> int:
    return _apply(settings, args, {"enabled": True})


def run_rotate_secret(settings: Settings, args: argparse.Namespace) -> int:
    grace = settings.secret_rotation_grace if args.grace is None else args.grace
    if not 0 <= grace <= MAX_SECRET_ROTATION_GRACE:
        raise ValueError(f"--grace must be 0 to {MAX_SECRET_ROTATION_GRACE} seconds")
    with services_for(settings) as services, services.sessions() as session:
        client = _client(session, args.client_id)
        rotated = client_admin.rotate_secret(
            session, services.hasher, client, grace, cli_actor(), services.clock(),
            stale_for=settings.client_cache_ttl,
        )
    until = rotated.previous_secret_valid_until
    view = {
        "client_id": args.client_id,
        "client_secret": rotated.client_secret,
        "previous_secret_valid_until": until.isoformat() if until else None,
    }
    _output(args, view)
    if not args.json:
        print("\nThe client secret is shown only now; store it safely.")
    return 0


def run_delete(settings: Settings, args: argparse.Namespace) -> int:
    with services_for(settings) as services, services.sessions() as session:
        client_admin.delete(
            session, _client(session, args.client_id), cli_actor(), services.clock(),
            stale_for=settings.client_cache_ttl,
        )
    _output(args, {"client_id": args.client_id, "deleted": True})
    return 0
