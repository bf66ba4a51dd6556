"""How every `issuer` command fails: one line on stderr naming the setting, file or
option, what is wrong and how to fix it; never a traceback; an exit code by kind.

- 1: the command ran and the answer is no (no such client, a policy that does not
  check, a deletion not confirmed, a conflict with another record);
- 2: bad input or configuration (an option, a setting, the policy file, the KEK, a
  database that does not exist or refuses the credentials): fix it and run again;
- 3: the database cannot be reached (down, not started yet, wrong host or port): the
  same command may work later.

Under `--json` the line is one JSON object, `{"error": CODE, "error_description": TEXT}`
(the shape of RFC 6749 §5.2, which the issuer's OAuth endpoints answer too), on stderr so
stdout only ever carries results. An unexpected exception is one line too, with its class;
`TOLLGATE_DEBUG=1` lets its traceback through."""

from __future__ import annotations

import json
import os
import sys

USAGE, NEGATIVE, CONFIG, UNAVAILABLE = 2, 1, 2, 3


class CliError(Exception):
    """A refusal the CLI prints as one line."""

    def __init__(self, message: str, code: str = "invalid_request", exit_code: int = CONFIG):
        super().__init__(message)
        self.message, self.code, self.exit_code = message, code, exit_code


def emit(error: CliError, json_mode: bool, prog: str = "issuer") -> int:
    # One line, whatever the message holds (a TOML error quotes the file's text).
    message = " ".join(error.message.split())
    if json_mode:
        line = json.dumps({"error": error.code, "error_description": message})
    else:
        line = f"{prog}: {message}"
    print(line, file=sys.stderr)
    return error.exit_code


def classify(exc: BaseException, database_url: str | None = None) -> CliError:
    """The `CliError` for an exception a command raised. Only modules already imported
    are consulted (a failure never imports the server's libraries to describe itself)."""
    if isinstance(exc, CliError):
        return exc
    settings = sys.modules.get("issuer.settings")
    if settings is not None and isinstance(exc, settings.SettingsError):
        return CliError(str(exc), "invalid_setting")
    kek = sys.modules.get("issuer.keys.kek")
    if kek is not None and isinstance(exc, kek.WrongKek):
        return CliError(str(exc), "wrong_kek")
    if kek is not None and isinstance(exc, kek.KekError):
        return CliError(str(exc), "invalid_kek")
    policy = sys.modules.get("shared.policy")
    if policy is not None and isinstance(exc, policy.PolicyError):
        return CliError(f"POLICY_FILE {exc}", "invalid_policy")
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.SQLAlchemyError):
        from issuer.store.engine import describe_database_error

        problem = describe_database_error(exc, database_url or "")
        return CliError(problem.message, problem.kind, UNAVAILABLE if problem.transient else CONFIG)
    federation = sys.modules.get("issuer.federation.errors")
    if federation is not None and isinstance(exc, federation.Conflict):
        # An issuer already trusted or still in use, an identity another client has: the
        # admin API's 409, whichever command met it.
        return CliError(str(exc), "conflict", NEGATIVE)
    if isinstance(exc, LookupError):  # an unknown client id and the like
        return CliError(str(exc.args[0] if exc.args else exc), "not_found", NEGATIVE)
    if isinstance(exc, OSError) and exc.filename is not None:
        return CliError(f"{exc.filename}: {exc.strerror or exc}", "unreadable_file")
    if isinstance(exc, ValueError):  # ClientError and the like: the message says which rule
        return CliError(str(exc), "invalid_request")
    if isinstance(exc, KeyboardInterrupt):
        return CliError("interrupted", "interrupted", 130)
    return CliError(
        f"unexpected error ({type(exc).__name__}); set TOLLGATE_DEBUG=1 to see where",
        "internal_error",
        70,  # EX_SOFTWARE (sysexits.h)
    )


def debugging() -> bool:
    return os.environ.get("TOLLGATE_DEBUG", "") not in ("", "0")
