"""One JSON object per log line, so log pipelines parse fields instead of prose.
Callers pass only identifiers (client_id, jti, kid), never a token or a secret."""

from __future__ import annotations

import json
import logging
from typing import Any


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, json.dumps({"event": event, **fields}, default=str, sort_keys=True))
