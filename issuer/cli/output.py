"""What the CLI's commands (`clients`, `trusted-issuers`, `audit`) share: a `--jwks-file`
read, a view printed as JSON or aligned lines, a page's `--limit` and `--cursor` checked
and its listing printed in the admin API's list shape."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, TypeVar

from issuer.cli.errors import CliError
from issuer.store.paging import MAX_LIMIT, next_cursor

Position = TypeVar("Position")

JSON_HELP = "print the result as JSON (errors too, on stderr)"


def read_jwks_file(path: str) -> Any:
    from shared.jws import strict_json

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise CliError(f"--jwks-file {path}: {exc.strerror}", "unreadable_file") from None
    try:
        # As strict as a token (duplicate members, NaN refused): what is registered
        # is what the operator read in the file.
        return strict_json(data)
    except ValueError:
        raise CliError(f"--jwks-file {path}: not a JSON JWK Set", "invalid_jwks") from None


def output(args: argparse.Namespace, view: dict[str, Any]) -> None:
    """`view` as JSON with --json, else one aligned line a member (a JWK Set by its kids)."""
    if args.json:
        print(json.dumps(view, indent=2))
        return
    width = max(len(key) for key in view)
    for key, value in view.items():
        if key == "jwks" and isinstance(value, dict):
            value = " ".join(str(k.get("kid", "?")) for k in value["keys"])
        elif isinstance(value, list):
            value = " ".join(value)
        print(f"{key:<{width}}  {value}")


def page_after(
    args: argparse.Namespace, decode: Callable[[str], Position], command: str
) -> Position | None:
    """The position a page starts after, `decode`d from --cursor (one of
    `issuer/store/paging.py`'s decoders); --limit checked against the admin API's bound."""
    if not 1 <= args.limit <= MAX_LIMIT:
        raise CliError(f"--limit must be 1 to {MAX_LIMIT}", "invalid_option")
    if args.cursor is None:
        return None
    try:
        return decode(args.cursor)
    except ValueError:
        raise CliError(f"--cursor is not one `{command}` printed", "invalid_option") from None


def print_listing(
    args: argparse.Namespace,
    page: list[Any],
    views: list[dict[str, Any]],
    position: Callable[[Any], list[Any]],
    line: Callable[[dict[str, Any]], str],
    command: str,
) -> None:
    """The admin API's list shape (items, the next page's cursor: `position` of a full
    page's last row) as JSON with --json, else `line(view)` a row and how to ask for the
    next page."""
    after = next_cursor(page, args.limit, position)
    if args.json:
        print(json.dumps({"items": views, "next_cursor": after}, indent=2))
        return
    for view in views:
        print(line(view))
    if after:
        print(f"(more: issuer {command} --cursor {after})")
