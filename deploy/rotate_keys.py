"""Scheduled key rotation (serverless.yml: `schedule: rate(1 day)`).

Calls the key administration itself, `issuer.keys.admin.rotate_if_due`, the function
behind `issuer keys rotate --if-due` (it owns the rule: publish the next key before it
signs, retire the old one only after every token it signed has expired plus the
verifiers' cache horizon), so a human and the schedule can never disagree on what "due"
means. The KEK is verified against the database first (issuer/keys/kek_check.py): a
wrong one writes nothing.

Returns what happened (`RotationReport.view`) and logs it as one `key_rotation_checked`
line. A failure (a secret, settings, a wrong KEK, the database) is logged as `key_rotation_failed`
and raised as a `RuntimeError` naming the error in one line, passwords redacted: the
invocation is recorded as failed and the schedule's alarm sees it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from deploy.aws_secrets import SecretError
from deploy.lambda_runtime import environment, lambda_engine
from issuer.keys.admin import rotate_if_due
from issuer.keys.kek import KekError, kek_from_settings
from issuer.keys.kek_check import verify_kek
from issuer.keys.lifecycle import KeySchedule
from issuer.logs import error_fields, error_message, log_event
from issuer.settings import SettingsError, load_settings
from issuer.store.engine import make_session_factory
from issuer.store.tables import utcnow

log = logging.getLogger("issuer.keys")


def rotate() -> dict[str, Any]:
    # On AWS the database URL and the KEK come from Secrets Manager (lambda_runtime.py).
    environ, credentials = environment()
    settings = load_settings(environ, env_file=None)
    kek = kek_from_settings(settings.key_encryption_key, settings.kek_file)
    schedule = KeySchedule.from_settings(settings)
    engine = lambda_engine(settings.database_url, credentials)
    try:
        sessions = make_session_factory(engine)
        now = utcnow()
        verify_kek(sessions, kek, now)
        with sessions() as session:
            report = rotate_if_due(session, schedule, kek, settings.signing_alg, now)
            result = report.view(schedule)
    finally:
        engine.dispose()
    key = result["key"]
    log_event(
        log,
        "key_rotation_checked",
        reason=result["reason"],
        created=result["created"],
        kid=key["kid"] if key else None,
        transitions=len(result["transitions"]),
    )
    return result


def handler(event: object, context: object) -> dict[str, Any]:
    try:
        return rotate()
    except (SecretError, SettingsError, KekError, SQLAlchemyError) as exc:
        log_event(log, "key_rotation_failed", logging.ERROR, **error_fields(exc))
        reason = f"{type(exc).__name__}: {error_message(exc)}"
        raise RuntimeError(f"scheduled key rotation failed: {reason}") from None
