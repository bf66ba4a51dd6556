"""Structured JSON log lines to stdout (CloudWatch reads one event per line).

Not `logging`: importing it costs cold-start milliseconds, and its per-call machinery
costs microseconds on a hot path whose budget is ten. The decision line is assembled from
pieces escaped once (`encode_basestring` is json's C escaper), never from the token.

One `write` per line, never `print` (the text and the newline are two writes): on Lambda
the Python runtime flushes stdout at every write (awslambdaric's `Unbuffered` wrapper),
so each call is a write(2) down the runtime's log pipe, and waking its reader costs a
first-seen decision about 5-8 us here, next to ~40 us of verification
(`bench/authorizer_pipe.py`; tests/authorizer/test_decision_log_writes.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from json.encoder import encode_basestring as quote
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from authorizer.metrics import DecisionMetrics

Write = Callable[[str], object]

__all__ = ["DecisionLog", "quote"]


class DecisionLog:
    """`write` defaults to the current `sys.stdout.write`, looked up per line so that a
    replaced stdout (tests, the local gateway) is honoured. With `metrics`, each
    decision line is also a CloudWatch embedded-metric document (authorizer/metrics.py)."""

    __slots__ = ("_metrics", "_write")

    def __init__(self, write: Write | None = None, metrics: DecisionMetrics | None = None) -> None:
        self._write = write
        self._metrics = metrics

    def with_metrics(self, metrics: DecisionMetrics | None) -> DecisionLog:
        return DecisionLog(self._write, metrics)

    def _out(self, line: str) -> None:
        (self._write or sys.stdout.write)(line)

    def decision(
        self, decision: str, reason: str, who: str, route: str, micros: int
    ) -> None:
        """`who` is the pre-escaped `"client_id":...,"jti":...` fragment (or empty)."""
        metrics = self._metrics
        self._out(
            f'{{"event":"decision","decision":"{decision}","reason":"{reason}",{who}'
            f'"route":{quote(route)},"us":{micros}'
            f'{"" if metrics is None else metrics.members(who)}}}\n'
        )

    def event(self, level: str, event: str, **fields: object) -> None:
        """Rare lines (cold start, key fetches): plain json.dumps is fine here."""
        record = {"level": level, "event": event, **fields}
        self._out(json.dumps(record, separators=(",", ":"), default=str) + "\n")


def who_fragment(client_id: str | None, jti: str | None) -> str:
    """The identity part of a decision line, escaped once per verified token."""
    if client_id is None and jti is None:
        return ""
    return f'"client_id":{quote(client_id or "")},"jti":{quote(jti or "")},'
