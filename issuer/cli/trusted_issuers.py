"""`issuer trusted-issuers add|list|show|update|remove [--json]`: the external issuers
whose tokens authenticate federated clients (docs/federation.md), on the database
directly. Changes go through `issuer/federation/trusted_issuers.py`, as the admin API's
do, and are audited as `cli:<os user>`. `show`, `update` and `remove` take the id
(`ti_...`) or the exact issuer."""

from __future__ import annotations

import argparse
from typing import Any

from issuer.audit import cli_actor
from issuer.cli.context import services_for
from issuer.cli.errors import NEGATIVE, CliError
from issuer.cli.output import JSON_HELP, output, page_after, print_listing, read_jwks_file
from issuer.settings import Settings
from issuer.store.paging import MAX_LIMIT, decode_time_key_cursor

KEY_HELP = "the trusted issuer's id (ti_...) or its exact issuer URL"
SUMMARY = "external issuers whose tokens authenticate federated clients"


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("trusted-issuers", help=SUMMARY)
    verbs = parser.add_subparsers(dest="trusted_issuers_command", required=True,
                                  metavar="VERB")

    add = verbs.add_parser("add", help="trust an issuer's tokens (its exact iss)")
    add.add_argument("issuer", help="the exact iss of its tokens, a URI")
    _fields(add)
    add.set_defaults(handler=run_add)

    listing = verbs.add_parser("list", help="trusted issuers, oldest first")
    listing.add_argument("--limit", type=int, default=MAX_LIMIT,
                         help=f"per page, 1 to {MAX_LIMIT} (default {MAX_LIMIT})")
    listing.add_argument("--cursor", help="the next_cursor a previous page printed")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    listing.set_defaults(handler=run_list)

    show = verbs.add_parser("show", help="show one trusted issuer")
    show.add_argument("key", metavar="ISSUER", help=KEY_HELP)
    show.add_argument("--json", action="store_true", help=JSON_HELP)
    show.set_defaults(handler=run_show)

    update = verbs.add_parser("update", help="change a trusted issuer; only the options given")
    update.add_argument("key", metavar="ISSUER", help=KEY_HELP)
    _fields(update)
    update.add_argument("--default-audience", action="store_true",
                        help="require our token endpoint URL as aud again")
    update.add_argument("--no-reuse", action="store_true",
                        help="a token authenticates once only (the default)")
    update.set_defaults(handler=run_update)

    remove = verbs.add_parser("remove", help="stop trusting an issuer (refused while "
                                             "clients' identities name it)")
    remove.add_argument("key", metavar="ISSUER", help=KEY_HELP)
    remove.add_argument("--json", action="store_true", help=JSON_HELP)
    remove.set_defaults(handler=run_remove)


def _fields(parser: argparse.ArgumentParser) -> None:
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--jwks-uri", help="where its public keys are (https in production)")
    keys.add_argument("--jwks-file", help="its public JWK Set, inline (JSON file)")
    parser.add_argument("--algorithm", action="append", metavar="ALG",
                        help="a JWS algorithm its tokens use (repeatable; default RS256; "
                             "never none or HS*)")
    parser.add_argument("--audience", help="the aud its tokens carry for us "
                                           "(default: our token endpoint URL)")
    parser.add_argument("--max-token-age", type=int, metavar="SECONDS",
                        help="the oldest iat accepted (default 3600)")
    parser.add_argument("--allow-reuse", action="store_true",
                        help="one token may authenticate more than once before it expires "
                             "(Kubernetes, GitHub Actions)")
    parser.add_argument("--json", action="store_true", help=JSON_HELP)


def _fields_of(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if args.jwks_uri is not None:
        fields["jwks_uri"] = args.jwks_uri
    if args.jwks_file is not None:
        fields["jwks"] = read_jwks_file(args.jwks_file)
    if args.algorithm:
        fields["algorithms"] = args.algorithm
    if args.audience is not None:
        fields["audience"] = args.audience
    if args.max_token_age is not None:
        fields["max_token_age"] = args.max_token_age
    if args.allow_reuse:
        fields["allow_reuse"] = True
    return fields


def _lookup(session: Any, key: str) -> Any:
    from issuer.federation.trusted_issuers import get_trusted_issuer

    row = get_trusted_issuer(session, key)
    if row is None:
        raise CliError(f"no trusted issuer {key!r}", "not_found", NEGATIVE)
    return row


def run_add(settings: Settings, args: argparse.Namespace) -> int:
    from issuer.federation import trusted_issuers as registry
    from issuer.federation.jwks import UriPolicy

    fields = {"issuer": args.issuer, **_fields_of(args)}
    with services_for(settings) as services, services.sessions() as session:
        row = registry.add(session, fields, cli_actor(), services.clock(),
                           UriPolicy.from_settings(settings), own_issuer=settings.url)
        view = registry.trusted_issuer_view(row, settings.token_endpoint)
    output(args, view)
    return 0


def run_list(settings: Settings, args: argparse.Namespace) -> int:
    from issuer.federation import trusted_issuers as registry

    after = page_after(
        args,
        lambda cursor: decode_time_key_cursor(cursor, registry.could_be_trusted_issuer_id),
        "trusted-issuers list",
    )
    with services_for(settings) as services, services.sessions() as session:
        page = registry.trusted_issuer_page(session, args.limit, after)
        views = [registry.trusted_issuer_view(row, settings.token_endpoint) for row in page]

    def line(view: dict[str, Any]) -> str:
        keys = view.get("jwks_uri") or "inline jwks"
        reuse = "reuse" if view["allow_reuse"] else "once"
        return f"{view['id']}  {view['issuer']}  {' '.join(view['algorithms'])}  {reuse}  {keys}"

    print_listing(args, page, views, registry.trusted_issuer_position, line,
                  "trusted-issuers list")
    return 0


def run_show(settings: Settings, args: argparse.Namespace) -> int:
    from issuer.federation.trusted_issuers import trusted_issuer_view

    with services_for(settings) as services, services.sessions() as session:
        view = trusted_issuer_view(_lookup(session, args.key), settings.token_endpoint)
    output(args, view)
    return 0


def run_update(settings: Settings, args: argparse.Namespace) -> int:
    from issuer.federation import trusted_issuers as registry
    from issuer.federation.jwks import UriPolicy

    fields = _fields_of(args)
    if args.default_audience:
        if "audience" in fields:
            raise CliError("give --audience or --default-audience, not both", "invalid_option")
        fields["audience"] = None
    if args.no_reuse:
        if args.allow_reuse:
            raise CliError("give --allow-reuse or --no-reuse, not both", "invalid_option")
        fields["allow_reuse"] = False
    with services_for(settings) as services, services.sessions() as session:
        row = _lookup(session, args.key)
        registry.update(session, row, fields, cli_actor(), services.clock(),
                        UriPolicy.from_settings(settings))
        view = registry.trusted_issuer_view(row, settings.token_endpoint)
    output(args, view)
    return 0


def run_remove(settings: Settings, args: argparse.Namespace) -> int:
    from issuer.federation import trusted_issuers as registry

    with services_for(settings) as services, services.sessions() as session:
        row = _lookup(session, args.key)
        removed = {"id": row.id, "issuer": row.issuer, "removed": True}
        registry.remove(session, row, cli_actor(), services.clock())
    output(args, removed)
    return 0
