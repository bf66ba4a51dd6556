"""`issuer serve`: migrate, verify the KEK, make the first signing key if none, run
uvicorn.

The server's modules (uvicorn, FastAPI, SQLAlchemy) are imported when the command runs,
not when the CLI starts (`issuer --help` stays a bare interpreter's cost)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from issuer.settings import Settings

# What every `issuer serve` passes to uvicorn, one worker or several.
SERVER_OPTIONS: dict[str, Any] = {
    # uvicorn's "auto": uvloop's event loop and httptools' HTTP parser when installed
    # (both are dependencies, except uvloop on Windows), else asyncio and h11. About 1.3x
    # the tokens per second of asyncio + h11 here (docs/benchmarks.md); never force those.
    "loop": "auto",
    "http": "auto",
    # The client address is the TCP peer unless ISSUER_TRUSTED_PROXIES names it
    # (issuer/http/client_address.py); uvicorn's default believes X-Forwarded-For from
    # 127.0.0.1, which would let a caller pick its own throttle key.
    "proxy_headers": False,
    "access_log": False,  # the app writes JSON access lines (issuer/http/access_log.py)
    # No logging config of uvicorn's own (its default gives its loggers prose handlers):
    # its records reach the root logger's JSON handler (issuer/logs.py), one JSON object
    # per line like every other line of the process.
    "log_config": None,
}


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("serve", help="run the issuer's HTTP API")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=_port, default=8000,
        help="TCP port to listen on (default 8000; 0: any free port)",
    )
    parser.add_argument(
        "--workers", type=_workers, default=1,
        help="worker processes (default 1; each builds its own app and database pool)",
    )
    parser.set_defaults(handler=run, log_notices=True)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0 to 65535)")
    return int(text)


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 to 64 workers")
    return int(text)


def run(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from issuer.cli.context import preflight, prepare_kek_file
    from issuer.keys.kek_check import verify_kek
    from issuer.keys.store import ensure_active_key
    from issuer.services import build_services
    from issuer.store.migrate import upgrade

    # The policy and the database first (one line each, nothing written: issuer/cli/
    # context.py); then migrate, and only then may a development KEK file be made.
    engine = preflight(settings, creates=True, migrated=False)
    upgrade(engine)
    prepare_kek_file(settings, engine)
    services = build_services(settings, engine)
    # A wrong KEK stops here, before any server starts (/healthz would answer ok while
    # every token request failed): one line, exit 2 (issuer/keys/kek_check.py).
    verify_kek(services.sessions, services.kek, services.clock())
    # Before any worker starts, so several workers never race to make the first key.
    ensure_active_key(services.sessions, services.kek, settings.signing_alg)
    if args.workers > 1:
        services.engine.dispose()
        # Each worker process builds its own app (and engine) from the same settings.
        uvicorn.run(
            "issuer.http.app:app_factory",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            # A cold worker imports FastAPI/SQLAlchemy; on a busy small machine that can
            # exceed uvicorn's 5 s default and get healthy workers killed in a loop.
            timeout_worker_healthcheck=30,
            **SERVER_OPTIONS,
        )
    else:
        from issuer.http.app import create_app

        uvicorn.run(create_app(settings, services), host=args.host, port=args.port,
                    **SERVER_OPTIONS)
    return 0
