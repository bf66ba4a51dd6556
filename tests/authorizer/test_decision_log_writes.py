"""On Lambda every `sys.stdout.write` is flushed at once (the Python runtime wraps stdout:
`Unbuffered` in awslambdaric's bootstrap.py), so each call is a write(2) down the
runtime's log pipe, the costliest step of a first-seen decision after the signature
(docs/benchmarks.md). A decision or event line is one call: never `print` (the text and
the newline are two writes) nor a line assembled by several writes."""

from __future__ import annotations

import json
import sys

from authorizer.log import DecisionLog, who_fragment


class Flushed:
    """Lambda's stdout: each write is flushed; counts the writes that reach the pipe."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_a_decision_is_one_write_of_one_json_line(monkeypatch):
    out = Flushed()
    monkeypatch.setattr(sys, "stdout", out)
    DecisionLog().decision("allow", "granted", who_fragment("client-1", "j1"),
                           'GET /orders/{id}"', 41)
    assert len(out.writes) == 1
    line = out.writes[0]
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line) == {"event": "decision", "decision": "allow",
                                "reason": "granted", "client_id": "client-1", "jti": "j1",
                                "route": 'GET /orders/{id}"', "us": 41}


def test_an_event_is_one_write_of_one_json_line(monkeypatch):
    out = Flushed()
    monkeypatch.setattr(sys, "stdout", out)
    DecisionLog().event("warning", "iam_inexact", scopes="a b", detail="x\ny")
    assert len(out.writes) == 1
    assert json.loads(out.writes[0]) == {"level": "warning", "event": "iam_inexact",
                                         "scopes": "a b", "detail": "x\ny"}


def test_a_refusal_through_the_handler_is_one_write(monkeypatch):
    """The whole Lambda entry, not only the log class: an invocation writes once."""
    from authorizer.coldstart import build_authorizer
    from authorizer.settings import Settings

    settings = Settings.from_env({"AUTHORIZER_ISSUER": "https://issuer.test",
                                  "AUTHORIZER_AUDIENCE": "https://api.test",
                                  "AUTHORIZER_REVOCATION_FAIL": "open"}, cwd="/nonexistent")
    authorizer = build_authorizer(settings, fetcher=lambda uri: b'{"keys": []}')
    out = Flushed()  # after the cold start's own lines
    monkeypatch.setattr(sys, "stdout", out)
    event = {"type": "REQUEST", "methodArn": "arn:aws:execute-api:eu-west-1:1:a/p/GET/x",
             "httpMethod": "GET", "path": "/x", "resource": "/x",
             "headers": {"Authorization": "Bearer not-a-token"}}
    assert authorizer.authorize(event) is None
    assert len(out.writes) == 1
    assert json.loads(out.writes[0])["decision"] == "unauthorized"
