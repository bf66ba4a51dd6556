"""`issuer clients create|list|show|update|rotate-secret|disable|enable|delete`: manage
clients on the database directly (how the first admin client is made). Changes go
through `issuer/clients/admin.py`, as the admin API's do, and are audited as `cli:<os user>`.
A secret is printed once, by `create` or `rotate-secret`, never again."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy.orm import Session

from issuer.audit import cli_actor
from issuer.cli.context import services_for
from issuer.cli.errors import NEGATIVE, CliError
from issuer.cli.output import JSON_HELP, output, page_after, print_listing, read_jwks_file
from issuer.clients import admin as client_admin
from issuer.clients.admin import client_page
from issuer.clients.registry import (
    AUTH_METHODS,
    CLIENT_SECRET,
    NO_BINDING,
    TOKEN_BINDINGS,
    client_view,
    client_views,
    could_be_client_id,
    get_client,
)
from issuer.oauth.scopes import PolicyView
from issuer.settings import MAX_SECRET_ROTATION_GRACE, Settings
from issuer.store.models import Client
from issuer.store.paging import MAX_LIMIT, decode_time_key_cursor

CLIENT_ID_HELP = "the client's id (c_...)"


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("clients", help="OAuth clients")
    verbs = parser.add_subparsers(dest="clients_command", required=True, metavar="VERB")

    create = verbs.add_parser("create", help="register a client; prints its secret once")
    create.add_argument("--name", required=True, help="a label for people (not unique)")
    create.add_argument(
        "--scope", required=True, help='space-separated, e.g. "a:read a:write" (quoted)'
    )
    create.add_argument(
        "--auth-method",
        choices=AUTH_METHODS,
        default=CLIENT_SECRET,
        help="client_secret (default), private_key_jwt (RFC 7523; needs --jwks-file), "
        "self_signed_tls_client_auth (RFC 8705 §2.2; --jwks-file with x5c certificates) "
        "or tls_client_auth (RFC 8705 §2.1; needs --tls-client-auth-subject-dn)",
    )
    create.add_argument(
        "--jwks-file", help="the client's public JWK Set (JSON) for private_key_jwt, or its "
        "certificates (keys with x5c) for self_signed_tls_client_auth"
    )
    _client_fields(create)
    create.set_defaults(handler=run_create)

    listing = verbs.add_parser("list", help="list clients, oldest first (never secrets)")
    listing.add_argument(
        "--limit",
        type=int,
        default=MAX_LIMIT,
        help=f"clients per page, 1 to {MAX_LIMIT} (default {MAX_LIMIT})",
    )
    listing.add_argument("--cursor", help="the next_cursor a previous page printed")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    listing.set_defaults(handler=run_list)

    show = verbs.add_parser("show", help="show one client (never its secret)")
    show.add_argument("client_id", help=CLIENT_ID_HELP)
    show.add_argument("--json", action="store_true", help=JSON_HELP)
    show.set_defaults(handler=run_show)

    update = verbs.add_parser("update", help="change a client; only the options given")
    update.add_argument("client_id", help=CLIENT_ID_HELP)
    update.add_argument("--name", help="a new label")
    update.add_argument("--scope", help="space-separated; replaces the client's scopes")
    _client_fields(update)
    update.add_argument(
        "--default-lifetime", action="store_true", help="use the issuer's token lifetime"
    )
    update.add_argument(
        "--jwks-file", help="replace a private_key_jwt client's public JWK Set (JSON) or a "
        "self_signed_tls_client_auth client's certificates"
    )
    update.set_defaults(handler=run_update)

    rotate = verbs.add_parser("rotate-secret", help="new secret; the old one has a grace")
    rotate.add_argument("client_id", help=CLIENT_ID_HELP)
    rotate.add_argument(
        "--grace", type=int, help="seconds the old secret keeps working (0: none; "
        "default ISSUER_SECRET_ROTATION_GRACE)"
    )
    rotate.add_argument("--json", action="store_true", help=JSON_HELP)
    rotate.set_defaults(handler=run_rotate_secret)

    for verb, handler, text in (
        ("disable", run_disable, "refuse the client's token requests"),
        ("enable", run_enable, "accept the client's token requests again"),
        ("delete", run_delete, "delete the client (asks first unless --yes)"),
    ):
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("client_id", help=CLIENT_ID_HELP)
        sub.add_argument("--json", action="store_true", help=JSON_HELP)
        if verb == "delete":
            sub.add_argument(
                "-y", "--yes", action="store_true",
                help="do not ask (needed when stdin is not a terminal)",
            )
        sub.set_defaults(handler=handler)


def _client_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--audience", action="append", help="an API audience (repeatable; first is the default)"
    )
    parser.add_argument("--default-scope", help="space-separated default scopes")
    parser.add_argument("--lifetime", type=int, help="token lifetime in seconds")
    parser.add_argument(
        "--federated-identity", nargs=2, action="append", metavar=("ISSUER", "SUBJECT"),
        help="auth_method federated: a trusted issuer's exact iss and the workload's exact "
        "sub there (repeatable; on update, replaces them; docs/federation.md)",
    )
    parser.add_argument(
        "--token-binding", choices=TOKEN_BINDINGS,
        help="what tokens are bound to: none (bearer; default), mtls (the client "
        "certificate, RFC 8705 §3) or dpop (a DPoP key, RFC 9449)",
    )
    parser.add_argument(
        "--tls-client-auth-subject-dn",
        help="tls_client_auth: the certificate's subject DN (RFC 4514), e.g. CN=batch,O=Example",
    )
    parser.add_argument("--json", action="store_true", help=JSON_HELP)


def _scopes(text: str, option: str, policy: PolicyView) -> list[str]:
    """Scopes are space-separated (RFC 6749 §3.3). A comma is a legal scope character,
    so "a,b" would be one undeclared scope: say what was meant instead."""
    scopes = text.split()
    declared = set(policy.scopes_supported)
    if any("," in s and s not in declared for s in scopes):
        meant = " ".join(p for s in scopes for p in s.split(",") if p)
        raise CliError(
            f"{option}: scopes are space-separated, not comma-separated: {option} \"{meant}\"",
            "invalid_scope",
        )
    return scopes


def _client(session: Session, client_id: str) -> Client:
    client = get_client(session, client_id)
    if client is None:
        raise LookupError(f"no client {client_id!r}")
    return client


def run_create(settings: Settings, args: argparse.Namespace) -> int:
    jwks = read_jwks_file(args.jwks_file) if args.jwks_file is not None else None
    with services_for(settings) as services, services.sessions() as session:
        new = client_admin.register(
            session,
            services.hasher,
            services.policy,
            cli_actor(),
            services.clock(),
            name=args.name,
            scopes=_scopes(args.scope, "--scope", services.policy),
            audiences=args.audience,
            default_scopes=_scopes(args.default_scope, "--default-scope", services.policy)
            if args.default_scope
            else None,
            token_lifetime=args.lifetime,
            auth_method=args.auth_method,
            jwks=jwks,
            federated_identities=args.federated_identity,
            tls_client_auth_subject_dn=args.tls_client_auth_subject_dn,
            token_binding=args.token_binding or NO_BINDING,
        )
        view = new.view()
    output(args, view)
    if not args.json and new.client_secret is not None:
        print("\nThe client secret is shown only now; store it safely.")
    return 0


def run_list(settings: Settings, args: argparse.Namespace) -> int:
    after = page_after(
        args, lambda cursor: decode_time_key_cursor(cursor, could_be_client_id), "clients list"
    )
    with services_for(settings) as services, services.sessions() as session:
        page = client_page(session, args.limit, after)
        views = client_views(page)

    def line(view: dict[str, Any]) -> str:
        state = "enabled" if view["enabled"] else "disabled"
        return f"{view['client_id']}  {state:<8}  {view['name']}  [{' '.join(view['scopes'])}]"

    print_listing(args, page, views, client_admin.client_position, line, "clients list")
    return 0


def run_show(settings: Settings, args: argparse.Namespace) -> int:
    with services_for(settings) as services, services.sessions() as session:
        view = client_view(_client(session, args.client_id))
    output(args, view)
    return 0


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if args.name is not None:
        changes["name"] = args.name
    if args.scope is not None:
        changes["scopes"] = args.scope
    if args.audience:
        changes["audiences"] = args.audience
    if args.default_scope is not None:
        changes["default_scopes"] = args.default_scope
    if args.lifetime is not None and args.default_lifetime:
        raise ValueError("give --lifetime or --default-lifetime, not both")
    if args.lifetime is not None or args.default_lifetime:
        changes["token_lifetime"] = args.lifetime
    if args.jwks_file is not None:
        changes["jwks"] = read_jwks_file(args.jwks_file)
    if args.federated_identity:
        changes["federated_identities"] = args.federated_identity
    if args.tls_client_auth_subject_dn is not None:
        changes["tls_client_auth_subject_dn"] = args.tls_client_auth_subject_dn
    if args.token_binding is not None:
        changes["token_binding"] = args.token_binding
    return changes


def _apply(settings: Settings, args: argparse.Namespace, changes: dict[str, Any]) -> int:
    with services_for(settings) as services, services.sessions() as session:
        for field, option in (("scopes", "--scope"), ("default_scopes", "--default-scope")):
            if field in changes:
                changes[field] = _scopes(changes[field], option, services.policy)
        client = _client(session, args.client_id)
        client_admin.update(
            session, services.policy, client, changes, cli_actor(), services.clock(),
            stale_for=settings.client_cache_ttl,
        )
        view = client_view(client)
    output(args, view)
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
    output(args, rotated.view(args.client_id))
    if not args.json:
        print("\nThe client secret is shown only now; store it safely.")
    return 0


def _confirm_delete(client: Client) -> None:
    """A deletion cannot be undone (the client's tokens are revoked, its id is gone): ask,
    unless --yes. Without a terminal there is nobody to ask: refuse."""
    if not sys.stdin.isatty():
        raise CliError(
            f"not deleting {client.client_id}: stdin is not a terminal, give --yes to "
            "delete without asking",
            "not_confirmed",
            NEGATIVE,
        )
    print(f"Delete client {client.client_id} ({client.name})? Its tokens are revoked. "
          "[y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CliError(f"not deleted: {client.client_id}", "not_confirmed", NEGATIVE)


def run_delete(settings: Settings, args: argparse.Namespace) -> int:
    with services_for(settings) as services, services.sessions() as session:
        client = _client(session, args.client_id)
        if not args.yes:
            _confirm_delete(client)
        client_admin.delete(
            session, client, cli_actor(), services.clock(),
            stale_for=settings.client_cache_ttl,
        )
    output(args, {"client_id": args.client_id, "deleted": True})
    return 0
