"""Where a token request's time goes (investigation tool, not part of `make bench`).

`python -m bench.profile_token [--alg RS256] [--db sqlite|postgres] [-n 400]` prints:
1. a per-step breakdown: each step of the issuer's token path timed on its own with the
   issuer's functions (form parse, Basic split, session + client lookup, HMAC check,
   grant decisions, active-key lookup, signing, JSON/base64, log call, JSON response),
   the thread-pool hop, and the whole request through the ASGI app in-process (the rest
   is FastAPI/Starlette routing, dependency injection and middleware);
2. with `--pyinstrument` (needs `pip install pyinstrument`, not in the lock), a
   pyinstrument profile of the in-process requests with the thread-pool hop inlined so
   the sampler sees the worker-thread work on the event loop's thread;
3. with `--compare`, the issuer app against the ceiling app (`bench/ceiling_app.py`),
   both called through ASGI in this process, in 7 alternating rounds of `-n` requests:
   the issuer's own time per request without HTTP, the server or logging (the logger
   is off here, as in the other modes). `--without STEP` (with `--compare`; several
   allowed) replaces one step of the issuer's path, in this process only, by its first
   answer replayed, so the difference to a plain `--compare` is what the step costs in
   the running request (a step timed alone in a tight loop looks cheaper: its code and
   data stay in cache). Steps: see `WITHOUT`. Measurement only: the checks are gone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import tempfile
import time

from bench.issuer_setup import postgres_database, prepare, sqlite_url

BODY = b"grant_type=client_credentials"


def _median_us(fn, n: int) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t0 = clock()
        fn()
        samples.append((clock() - t0) / 1000)
    return statistics.median(samples)


async def _asgi_request(app, basic: str) -> int:
    sent = []
    body_sent = False

    async def receive():
        nonlocal body_sent
        if body_sent:
            await asyncio.sleep(3600)
        body_sent = True
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/oauth2/token", "raw_path": b"/oauth2/token",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1:8000"),
                    (b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", str(len(BODY)).encode()),
                    (b"authorization", basic.encode())],
    }
    await app(scope, receive, send)
    return sent[0]["status"]


def breakdown(issuer, n: int) -> list[tuple[str, float]]:
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from issuer.clients.cache import load_client_record
    from issuer.http.app import create_app
    from issuer.http.oauth.form import _check_content_type, parse_form
    from issuer.logs import lean_log_records, log_event
    from issuer.oauth.access_token import mint_access_token
    from issuer.oauth.client_auth import TokenRequest, _split_basic, claimed_client_id
    from issuer.oauth.errors import NO_STORE
    from issuer.oauth.grant import check_grant_type, grant_client_credentials
    from issuer.settings import load_settings
    from issuer.store.models import Client
    from shared.jwa import sign

    settings = load_settings(issuer.env, env_file=None)
    app = create_app(settings)
    services = app.state.services
    basic = issuer.basic
    form = parse_form(BODY)
    request = TokenRequest(form=form, authorization=basic)
    steps: list[tuple[str, float]] = []

    def add(name, fn):
        fn()
        steps.append((name, _median_us(fn, n)))

    add("form: content-type check + parse_qsl", lambda: (
        _check_content_type("application/x-www-form-urlencoded"), parse_form(BODY)))
    add("Basic header split (+ claimed id)",
        lambda: (_split_basic(basic), claimed_client_id(request)))

    def session_only():
        with services.sessions() as session:
            session.connection()

    add("DB: session open + connection checkout + close", session_only)
    client_id = issuer.client_id

    def lookup():
        with services.sessions() as session:
            return session.get(Client, client_id)

    add("DB: session + client lookup (session.get)", lookup)
    with services.sessions() as session:
        client = load_client_record(session, client_id)  # what authentication yields
    secret = issuer.client_secret
    add("HMAC-SHA-256 secret check (hasher.verify)", lambda: services.hasher.verify(client,
                                                                                secret))
    add("full client authentication (session + lookup + HMAC)", lambda: _auth(services,
                                                                              request))
    add("grant decisions (audience, scopes)", lambda: (check_grant_type(form),
        grant_client_credentials(form, client, services.policy, settings.url,
                                 settings.token_lifetime)))

    def active_key():
        with services.sessions() as session:
            return services.key_store.signer(session)

    add("DB: session + active-kid query (key_store.signer)", active_key)

    def cached_lookup():
        with services.sessions() as session:
            return services.clients.get(session, client_id)

    add("client record from the cache (services.clients.get, session unused)",
        cached_lookup)
    add("active signer from memory (key_store.cached_signer)",
        lambda: services.key_store.cached_signer(services.clock()))
    signer = active_key()
    add(f"sign only ({signer.alg}, shared.jwa.sign)",
        lambda: sign(signer.private_key, signer.alg, b"x" * 400))
    add("mint_access_token (claims, JSON, base64url, sign)", lambda: mint_access_token(
        signer, issuer=settings.url, client_id=client_id, audience="a", scope="s",
        lifetime=3600))
    # The ceiling's one line per request: uvicorn's access line, formatted as uvicorn's
    # LOGGING_CONFIG does, with the logging module's defaults (before lean_log_records).
    add("uvicorn access log line (the ceiling's; AccessFormatter to /dev/null)",
        _uvicorn_access_line())
    # `issuer serve` logs token_issued at INFO (issuer.logs.configure_logging); here to
    # /dev/null through a handler like its own, on a logger of the bench's.
    lean_log_records()
    sink = logging.getLogger("bench.profile_token.tokens")
    sink.propagate, sink.level = False, logging.INFO
    sink.addHandler(logging.StreamHandler(open(os.devnull, "w")))
    add("log_event token_issued (enabled, JSON line to /dev/null)",
        lambda: log_event(sink, "token_issued", client_id=client_id, scope="s", aud="a",
                          jti="j" * 22, kid="k" * 43, auth_method="client_secret_basic",
                          exp=1))
    add("JSONResponse render", lambda: JSONResponse({"access_token": "x" * 700,
        "token_type": "Bearer", "expires_in": 3600, "scope": "s"}, headers=NO_STORE))

    from issuer.http.oauth.token import _issue

    add("_issue (everything in the worker thread), called inline",
        lambda: _issue(services, request))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def hop():
        loop.run_until_complete(run_in_threadpool(lambda: None))

    add("thread-pool hop (run_in_threadpool of a no-op, incl. loop.run_until_complete)",
        hop)
    add("loop.run_until_complete of a no-op coroutine",
        lambda: loop.run_until_complete(asyncio.sleep(0)))
    add("whole request through the ASGI app (in-process, incl. run_until_complete)",
        lambda: loop.run_until_complete(_asgi_request(app, basic)))
    services.engine.dispose()
    return steps


def _uvicorn_access_line():
    from uvicorn.logging import AccessFormatter
    from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

    handler = logging.StreamHandler(open(os.devnull, "w"))
    handler.setFormatter(AccessFormatter(
        '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'))
    access = logging.getLogger("bench.profile_token.access")
    access.propagate, access.level = False, logging.INFO
    access.addHandler(handler)
    scope = {"client": ("127.0.0.1", 50000), "path": "/oauth2/token", "query_string": b"",
             "root_path": ""}
    # What uvicorn's h11 protocol calls when a response starts.
    return lambda: access.info('%s - "%s %s HTTP/%s" %d', get_client_addr(scope), "POST",
                               get_path_with_query_string(scope), "1.1", 200)


def _auth(services, request):
    with services.sessions() as session:
        return services.authenticator.authenticate(request, session)


def profile(issuer, n: int) -> None:
    import pyinstrument

    import issuer.http.concurrency as concurrency
    from issuer.http.app import create_app
    from issuer.settings import load_settings

    async def inline(fn, *args, **kwargs):
        return fn(*args, **kwargs)

    concurrency.run_in_threadpool = inline  # this process only: lets the sampler see it
    app = create_app(load_settings(issuer.env, env_file=None))

    async def many():
        for _ in range(n):
            assert await _asgi_request(app, issuer.basic) == 200

    loop = asyncio.new_event_loop()
    loop.run_until_complete(many())  # warm
    profiler = pyinstrument.Profiler(interval=0.0002)
    profiler.start()
    loop.run_until_complete(many())
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def _replay_first(owner, name: str, key=lambda *args: None) -> None:
    """owner.name(*args) computes once per key, then answers from memory."""
    original, answers = getattr(owner, name), {}

    def replayed(*args):
        k = key(*args)
        if k not in answers:
            answers[k] = original(*args)
        return answers[k]

    setattr(owner, name, replayed)


def _without(step: str) -> None:
    import issuer.http.oauth.token as token_route
    from issuer.clients.registry import SecretHasher
    from issuer.oauth.client_auth import SecretVerifier

    if step == "hmac":  # the presented secret's HMAC
        _replay_first(SecretHasher, "hash", key=lambda self, secret: secret)
    elif step == "authentication":  # lookup + HMAC + checks, method selection kept
        _replay_first(SecretVerifier, "verify", key=lambda self, s, cid, *rest: cid)
    elif step == "grant":  # audience and scope decisions
        _replay_first(token_route, "grant_client_credentials")
    elif step == "answerable":  # signer and client freshness together (the throttle
        # only meets failures: a token request never consults it)
        token_route._answerable_from_memory = lambda *args: True


WITHOUT = ("hmac", "authentication", "grant", "answerable", "middleware")


def compare(issuer, n: int, rounds: int = 7, without: list[str] | None = None) -> None:
    for step in without or ():
        _without(step)  # "middleware" is taken off the app below
    from bench.ceiling_app import ceiling_app, load_signer
    from bench.issuer_setup import AUDIENCE, SCOPE
    from issuer.http.app import create_app
    from issuer.settings import load_settings

    settings = load_settings(issuer.env, env_file=None)
    apps = {"issuer": create_app(settings),
            "ceiling": ceiling_app(settings, load_signer(settings), issuer.client_id,
                                   AUDIENCE, SCOPE)}
    if "middleware" in (without or ()):
        # The issuer's own ASGI layers (access log, body limit, catch-all); the stack is
        # built on the first request, so clearing the list now removes them.
        apps["issuer"].user_middleware = []
    loop = asyncio.new_event_loop()

    async def per_request_us(app, count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            assert await _asgi_request(app, issuer.basic) == 200
        return (time.perf_counter() - start) / count * 1e6

    for app in apps.values():
        loop.run_until_complete(per_request_us(app, max(n // 4, 50)))  # warm
    times: dict[str, list[float]] = {name: [] for name in apps}
    for r in range(rounds):
        for name in (apps if r % 2 == 0 else reversed(list(apps))):
            times[name].append(loop.run_until_complete(per_request_us(apps[name], n)))
    mine, ceiling = (statistics.median(times[k]) for k in ("issuer", "ceiling"))
    print(f"in-process, median of {rounds} alternating rounds of {n} requests"
          + (f", issuer without {', '.join(without)}:" if without else ":"))
    print(f"  issuer {mine:.1f} us, ceiling {ceiling:.1f} us per request: the issuer's own "
          f"work {mine - ceiling:.1f} us, throughput ratio {ceiling / mine:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_token")
    parser.add_argument("--alg", default="RS256")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("-n", type=int, default=400)
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--without", action="append", choices=WITHOUT, default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tollgate-prof-") as tmp, \
            contextlib.ExitStack() as stack:
        url = (stack.enter_context(postgres_database()) if args.db == "postgres"
               else sqlite_url(tmp, args.alg))
        issuer = prepare(url, args.alg)
        if args.pyinstrument:
            profile(issuer, args.n)
            return
        if args.compare:
            compare(issuer, args.n, without=args.without)
            return
        print(f"{args.alg} on {args.db}: median of {args.n} per step")
        for name, us in breakdown(issuer, args.n):
            print(f"  {us:9.1f} us  {name}")


if __name__ == "__main__":
    main()
