"""One JSON object per log line, so log pipelines parse fields instead of prose.
Callers pass only identifiers (client_id, jti, kid), never a token or a secret."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

# One encoder: `json.dumps` with options builds a new JSONEncoder on every call.
_encode = json.JSONEncoder(default=str, sort_keys=True).encode


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, _encode({"event": event, **fields}))


def configure_logging(level: int = logging.INFO) -> None:
    """The issuer process's logging: the message alone (it is JSON already) on stderr."""
    lean_log_records()
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)


def lean_log_records() -> None:
    """Our lines carry no thread, process or source location, so the logging module is
    told not to look them up for every record (the Python logging HOWTO, "Optimization":
    about a quarter of a record's cost, paid on every token request)."""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # documented switch: no sys._getframe walk per record
