"""The issuer's log lines (issuer/logs.py): one JSON object each, with an RFC 3339 UTC
`timestamp`, `level`, `logger` and `event`, library lines included; the request id
(issuer/http/request_id.py) on every line of a request and in its `X-Request-Id`; database
errors as class + redacted message."""

from __future__ import annotations

import io
import json
import logging
import re
from contextlib import contextmanager

import pytest
from sqlalchemy.exc import OperationalError

from issuer.http.request_id import request_id_for
from issuer.logs import (
    REQUEST_ID,
    SERVER_LOGGERS,
    JsonFormatter,
    error_fields,
    error_message,
    event_line,
    log_event,
    redact,
)

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
GENERATED = re.compile(r"[0-9a-f]{24}\Z")
FORM = {"grant_type": "client_credentials"}


@contextmanager
def json_lines(level: int = logging.INFO):
    """Every record any logger writes meanwhile, formatted as the issuer process does
    (synchronously, in the writing thread: the request id is read then)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    # The library loggers as configure_logging leaves them (handlers of their own cleared,
    # propagating to the root): earlier tests in this process may have let uvicorn
    # configure them its own way (prose handlers, no propagation).
    saved = {}
    for name in (*SERVER_LOGGERS, "alembic", "alembic.runtime.migration"):
        logger = logging.getLogger(name)
        saved[name] = (logger.handlers[:], logger.propagate, logger.level, logger.disabled)
        logger.handlers.clear()
        logger.propagate, logger.level, logger.disabled = True, logging.NOTSET, False
    lines: list[dict] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, (handlers, propagate, lvl, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.propagate, logger.level, logger.disabled = propagate, lvl, disabled
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def _envelope_ok(line: dict) -> None:
    assert RFC3339_UTC.match(line["timestamp"]), line
    assert line["level"] in ("debug", "info", "warning", "error", "critical")
    assert isinstance(line["logger"], str) and line["logger"]
    assert isinstance(line["event"], str) and line["event"]


def test_issuer_event_line():
    with json_lines() as lines:
        log_event(logging.getLogger("issuer.test"), "thing_done", logging.WARNING, n=1, s="x")
    assert len(lines) == 1
    line = lines[0]
    _envelope_ok(line)
    assert {k: v for k, v in line.items() if k != "timestamp"} == {
        "level": "warning", "logger": "issuer.test", "event": "thing_done", "n": 1, "s": "x"
    }


def test_library_line_is_json_with_its_text_as_message():
    with json_lines() as lines:
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
        logging.getLogger("alembic.runtime.migration").info("Running upgrade  -> 0001")
    assert [(e["logger"], e["event"], e["message"]) for e in lines] == [
        ("uvicorn.error", "log", "Started server process [42]"),
        ("alembic.runtime.migration", "log", "Running upgrade  -> 0001"),
    ]
    for line in lines:
        _envelope_ok(line)


def test_library_exception_is_class_and_redacted_message_not_a_traceback():
    with json_lines() as lines:
        try:
            raise ValueError("bad url postgresql://u:hunter2@db/x")
        except ValueError:
            logging.getLogger("uvicorn.error").exception("Exception in 'lifespan' protocol\n")
    (line,) = lines
    _envelope_ok(line)
    assert line["error"] == "ValueError"
    assert line["error_message"] == "bad url postgresql://u:***@db/x"
    assert "hunter2" not in json.dumps(line) and "Traceback" not in json.dumps(line)


def test_event_line_outside_logging():
    line = json.loads(event_line("issuer.app", "startup_failed", logging.CRITICAL, error="X"))
    _envelope_ok(line)
    assert (line["level"], line["logger"], line["event"], line["error"]) == (
        "critical", "issuer.app", "startup_failed", "X"
    )


def test_timestamp_is_utc_with_milliseconds():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.created = 1_700_000_000.5
    line = json.loads(JsonFormatter().format(record))
    assert line["timestamp"] == "2023-11-14T22:13:20.500Z"


def test_request_id_is_on_lines_while_set():
    formatter = JsonFormatter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    token = REQUEST_ID.set("abc")
    try:
        assert json.loads(formatter.format(record))["request_id"] == "abc"
    finally:
        REQUEST_ID.reset(token)
    assert "request_id" not in json.loads(formatter.format(record))


# -- redaction --------------------------------------------------------------------------


def test_database_error_message_drops_sql_parameters_and_password():
    exc = OperationalError(
        "UPDATE clients SET secret_hash = ?",
        ("hash-of-s3cret",),
        Exception("could not connect: postgresql+psycopg://admin:pa55@db:5432/t\nretry"),
    )
    assert error_fields(exc) == {
        "error": "OperationalError",
        "error_message": "could not connect: postgresql+psycopg://admin:***@db:5432/t retry",
    }


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("host=db password=s3cret user=x", "host=db password=*** user=x"),
        ("password='a b' dbname=t", "password=*** dbname=t"),
        ("sqlite:///./x.db", "sqlite:///./x.db"),
        ("https://user@host/", "https://user@host/"),
    ],
)
def test_redact(text, redacted):
    assert redact(text) == redacted


def test_error_message_is_bounded_and_one_line():
    message = error_message(RuntimeError("x\n" * 1000))
    assert "\n" not in message and len(message) <= 300


# -- the request id ---------------------------------------------------------------------


def _scope(*headers: tuple[bytes, bytes], **extra) -> dict:
    return {"type": "http", "headers": list(headers), **extra}


@pytest.mark.parametrize(
    "value",
    [b"a b", b"x" * 129, b"", b"id\nnext", "caf\u00e9".encode(), b'"quoted"', b"a;b=c"],
    ids=["space", "129-chars", "empty", "newline", "non-ascii", "quotes", "semicolon"],
)
def test_malformed_request_id_is_replaced(value):
    assert GENERATED.match(request_id_for(_scope((b"x-request-id", value))))


def test_well_formed_request_id_is_kept():
    for value in ("abc", "A.b_c-9", "x" * 128):
        assert request_id_for(_scope((b"x-request-id", value.encode()))) == value


def test_repeated_request_id_is_replaced():
    scope = _scope((b"x-request-id", b"one"), (b"x-request-id", b"two"))
    assert GENERATED.match(request_id_for(scope))


def test_api_gateway_request_id_under_lambda():
    event = {"requestContext": {"requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"}}
    assert request_id_for(_scope(**{"aws.event": event})) == event["requestContext"]["requestId"]
    # The caller's well-formed header still wins.
    assert request_id_for(_scope((b"x-request-id", b"mine"), **{"aws.event": event})) == "mine"


def test_generated_ids_differ():
    assert len({request_id_for(_scope()) for _ in range(100)}) == 100


def test_request_id_echoed_and_on_every_line_of_the_request(http, reader):
    """Lines written on the event loop (http_request) and in the thread pool
    (client_authentication_failed, in `run_blocking`) carry the same id."""
    with json_lines() as lines:
        response = http.post(
            "/oauth2/introspect",
            data={"token": "x"},
            auth=(reader.client.client_id, "wrong"),
            headers={"X-Request-Id": "req-42"},
        )
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "req-42"
    mine = [line for line in lines if line["logger"].startswith("issuer")]
    assert {line["event"] for line in mine} >= {"client_authentication_failed", "http_request"}
    assert {line.get("request_id") for line in mine} == {"req-42"}
    for line in lines:
        _envelope_ok(line)


def test_token_success_line_has_the_generated_id(http, reader):
    with json_lines() as lines:
        response = http.post(
            "/oauth2/token", data=FORM, auth=(reader.client.client_id, reader.client_secret),
            headers={"X-Request-Id": "not valid!"},
        )
    assert response.status_code == 200
    generated = response.headers["x-request-id"]
    assert GENERATED.match(generated)
    issued = [line for line in lines if line["event"] == "token_issued"]
    assert [line["request_id"] for line in issued] == [generated]


def test_each_response_has_its_own_id(http):
    ids = {http.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
