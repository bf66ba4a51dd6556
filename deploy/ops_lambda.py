"""Operator tasks inside the VPC (the database is private: no laptop reaches it).

    npx osls invoke -f ops --stage prod --data '{"command": "migrate"}'
    npx osls invoke -f ops --stage prod --data '{"command": "issuer", "args":
        ["clients", "create", "--name", "orders-reader", "--scope", "orders:read", "--json"]}'

`migrate` brings the schema to head (`issuer db upgrade`) and makes the first signing
key, so the first token does not wait for it. `issuer` runs one `issuer` CLI command
(not `serve`) and returns its output to the invoker only: Lambda does not log a return
value, so a new client's secret is seen by whoever may `lambda:InvokeFunction` this
function (an operator permission) and by no log.
"""

from __future__ import annotations

import contextlib
import io

ALLOWED = frozenset({"db", "clients", "keys", "audit"})


def handler(event, context):
    from deploy.aws_secrets import SecretError
    from deploy.lambda_runtime import export_secrets
    from issuer.cli import main

    try:
        export_secrets()
    except SecretError as exc:  # one line naming the secret, never its value
        return {"ok": False, "error": str(exc)}
    command = event.get("command") if isinstance(event, dict) else None
    if command == "migrate":
        argv_list = [["db", "upgrade"], ["keys", "list", "--json"]]
    elif command == "issuer":
        args = event.get("args")
        if (not isinstance(args, list) or not args or args[0] not in ALLOWED
                or not all(isinstance(a, str) for a in args)):
            return {"ok": False, "error": f"args must be an issuer command in {sorted(ALLOWED)}"}
        argv_list = [args]
    else:
        return {"ok": False, "error": 'command must be "migrate" or "issuer"'}
    outputs = []
    for argv in argv_list:
        out, err = io.StringIO(), io.StringIO()
        code: int | str | None  # SystemExit carries any of them
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse errors
                code = exc.code
        outputs.append(out.getvalue())
        if code not in (0, None):
            return {"ok": False, "argv": argv, "exit": code, "error": err.getvalue()[-2000:]}
    if command == "migrate":
        _first_key()
    return {"ok": True, "output": "".join(outputs)}


def _first_key() -> None:
    from issuer.keys.kek import Kek, load_or_create_kek_file
    from issuer.keys.store import ensure_active_key
    from issuer.settings import load_settings
    from issuer.store.engine import make_engine, make_session_factory

    settings = load_settings(env_file=None)
    engine = make_engine(settings.database_url)
    try:
        key = settings.key_encryption_key or load_or_create_kek_file(settings.kek_file)
        ensure_active_key(make_session_factory(engine), Kek(key), settings.signing_alg)
    finally:
        engine.dispose()
