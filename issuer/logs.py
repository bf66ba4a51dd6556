"""One JSON object per log line, so log pipelines parse fields instead of prose.

Every line the issuer process writes (its own events, the server's (uvicorn), Alembic's,
Python warnings) is one JSON object with:
- `timestamp`: RFC 3339, UTC, milliseconds (`2025-01-31T12:00:00.123Z`);
- `level`: `debug`, `info`, `warning`, `error` or `critical`;
- `logger`: the logger's name (`issuer.tokens`, `uvicorn.error`, `alembic.runtime.migration`);
- `event`: the issuer's event name (`token_issued`, `http_request`, ...), or `log` for a
  line from a library, whose text is then in `message`;
- `request_id`: on every line written while a request is served (`issuer.http.request_id`);
- the event's own fields.

Callers pass only identifiers (client_id, jti, kid), never a token or a secret; an
exception is written as its class and a redacted message (`error_fields`: no URL
password, no SQL parameters), never a traceback's text.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

# One encoder: `json.dumps` with options builds a new JSONEncoder on every call.
_encode = json.JSONEncoder(default=str, sort_keys=True).encode
_encode_str = json.JSONEncoder().encode  # a JSON string literal, quotes included

# The request being served (set by issuer.http.access_log for the request's task; the
# thread pool runs each job in a copy of the caller's context, so lines written from a
# worker thread carry it too).
REQUEST_ID: ContextVar[str | None] = ContextVar("tollgate_request_id", default=None)

# Loggers whose own handlers would write prose: uvicorn configures these with its
# formatters (uvicorn.config.LOGGING_CONFIG) when it is run directly.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi")
# uvicorn's access line: prose, with the query string (where credentials may travel);
# the app writes its own (issuer/http/access_log.py).
SERVER_ACCESS_LOGGER = "uvicorn.access"


class EventText(str):
    """A `log_event` message: already a JSON object, so the formatter adds its envelope
    without parsing it again. Still a `str` (caplog and other handlers read it as one)."""

    __slots__ = ()


def log_event(
    logger: logging.Logger, event: str, level: int = logging.INFO, /, **fields: Any
) -> None:
    # Positional-only: a spread of fields (`**extra`) never binds to `level`. Field names
    # must not repeat the envelope's (timestamp, level, logger, event, request_id).
    if logger.isEnabledFor(level):
        logger.log(level, EventText(_encode({"event": event, **fields})))


_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


class JsonFormatter(logging.Formatter):
    """The envelope (`timestamp`, `level`, `logger`, `request_id`) around an event's JSON,
    spliced as text: the event was encoded once by `log_event`, not re-parsed here."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""
        self._names: dict[str, str] = {}  # logger name -> its JSON string, made once

    def _timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # strftime once per second, not per line
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        msg = record.msg
        if type(msg) is EventText and not record.exc_info:
            body = msg[1:]  # '"event": ..., ...}' (log_event never encodes an empty dict)
        else:
            body = _encode(_foreign_fields(record))[1:]
        name = self._names.get(record.name)
        if name is None:
            name = self._names[record.name] = _encode_str(record.name)
        request_id = REQUEST_ID.get()
        # A request id is of REQUEST_ID_GRAMMAR (issuer/http/request_id.py): nothing in it
        # needs JSON escaping.
        rid = f'"request_id":"{request_id}",' if request_id else ""
        return (
            f'{{"timestamp":"{self._timestamp(record.created)}",'
            f'"level":"{_LEVELS.get(record.levelno) or record.levelname.lower()}",'
            f'"logger":{name},{rid}{body}'
        )


def _foreign_fields(record: logging.LogRecord) -> dict[str, Any]:
    """A library's record (or an issuer event carrying an exception): its text as
    `message`, its exception as class and redacted message."""
    msg = record.msg
    if type(msg) is EventText:
        fields: dict[str, Any] = json.loads(msg)
    else:
        try:
            text = record.getMessage()
        except Exception:  # a library's bad format arguments: keep the template
            text = str(msg)
        fields = {"event": "log", "message": redact(text)}
    if record.exc_info and record.exc_info[1] is not None:
        fields.update(error_fields(record.exc_info[1]))
    return fields


# Pattern texts (not secrets), compiled by `re` (and cached there) at the first redaction,
# not at import.
# `scheme://user:password@host`: the password of a URL (a database URL in an error).
_URL_PASSWORD = r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):[^@\s]*@"  # noqa: S105
# libpq keyword form (`password=secret`, `password='se cret'`).
_KEYWORD_PASSWORD = r"(?i)\b(password|passwd|pwd)\s*=\s*('[^']*'|\"[^\"]*\"|\S+)"  # noqa: S105
MAX_ERROR_MESSAGE = 300


def redact(text: str) -> str:
    """`text` without a URL's password or a `password=` value."""
    if "@" in text:
        text = re.sub(_URL_PASSWORD, r"\g<head>:***@", text)
    if "=" in text:
        text = re.sub(_KEYWORD_PASSWORD, r"\1=***", text)
    return text


def error_message(exc: BaseException) -> str:
    """An exception's message fit for a log line: for a database error the driver's
    message alone (SQLAlchemy appends the statement and its parameters, which may hold a
    secret's hash or an encrypted key, and a link), passwords redacted, one line, bounded."""
    orig = getattr(exc, "orig", None)  # sqlalchemy.exc.DBAPIError: the driver's exception
    text = str(orig if orig is not None else exc)
    for marker in ("\n[SQL:", "[SQL:", "\n(Background on this error", "(Background on this error"):
        text = text.split(marker, 1)[0]
    text = " ".join(redact(text).split())
    return text[:MAX_ERROR_MESSAGE]


def error_fields(exc: BaseException) -> dict[str, str]:
    """`error` (the class) and `error_message` (redacted) for a log line."""
    return {"error": type(exc).__name__, "error_message": error_message(exc)}


def event_line(logger: str, event: str, level: int = logging.ERROR, **fields: Any) -> str:
    """One log line as `JsonFormatter` writes it, for a process that must say something
    on stderr before it exits whatever the logging configuration (a server worker that
    cannot start): the same envelope as every other line."""
    record = logging.LogRecord(logger, level, __file__, 0, "", None, None)
    record.msg = EventText(_encode({"event": event, **fields}))
    return JsonFormatter().format(record)


def configure_logging(level: int = logging.INFO) -> None:
    """The issuer process's logging: one JSON object per line (`JsonFormatter`) on stderr,
    for the issuer's loggers and every library's (uvicorn, Alembic, warnings).

    Does nothing to a process whose root logger already has a handler (a test runner, the
    Lambda runtime): that handler is the host's choice."""
    lean_log_records()
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn run directly (`uvicorn --factory issuer.http.app:app_factory`) gives its
    # loggers prose handlers of their own; send their records to ours instead. (`issuer
    # serve` passes log_config=None, so uvicorn configures nothing.)
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    # No handler anywhere: uvicorn then writes no access line at all (its protocols ask
    # `hasHandlers()` per connection), which is what its `access_log=False` does too.
    access = logging.getLogger(SERVER_ACCESS_LOGGER)
    access.handlers.clear()
    access.propagate = False
    # Alembic (1.17+) announces each of its plugins at INFO on every migration run.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.captureWarnings(True)  # warnings.warn text as a `py.warnings` JSON line


def lean_log_records() -> None:
    """Our lines carry no thread, process or source location, so the logging module is
    told not to look them up for every record (the Python logging HOWTO, "Optimization":
    about a quarter of a record's cost, paid on every token request)."""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # documented switch: no sys._getframe walk per record
